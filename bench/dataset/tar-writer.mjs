// A minimal GNU tar writer (regular files only; names over 100 bytes get a GNU
// ././@LongLink entry). Used to build archive/share-docs.tar: an archive of files that
// are also in the tree, the kind of duplication a deduplicating tool should find
// although every member sits at a 512-byte offset of its own.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

const BLOCK = 512;
const RECORD = 20 * BLOCK; // GNU tar pads the archive to whole 10 KiB records

function octal(n, width) {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

function header(name, { size, mode, mtime, type }) {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 'latin1');
  h.write(octal(0, 8), 108, 'latin1'); // uid
  h.write(octal(0, 8), 116, 'latin1'); // gid
  h.write(octal(size, 12), 124, 'latin1');
  h.write(octal(mtime, 12), 136, 'latin1');
  h.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
  h.write(type, 156, 'latin1');
  h.write('ustar  \0', 257, 'latin1'); // GNU magic + version
  h.write('root', 265, 'latin1');
  h.write('root', 297, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

/**
 * Write `members` ([{ name, path, size, mode }], in the given order) into a tar at
 * `out`, all with owner root and mtime `mtimeSec`. Returns the archive size.
 */
export function writeTar(out, members, mtimeSec) {
  const fd = openSync(out, 'w');
  const buf = Buffer.alloc(1 << 20);
  let pos = 0;
  const put = (b) => {
    writeSync(fd, b);
    pos += b.length;
  };
  const pad = () => {
    if (pos % BLOCK) put(Buffer.alloc(BLOCK - (pos % BLOCK)));
  };
  for (const m of members) {
    const name = Buffer.from(m.name, 'utf8');
    if (name.length > 100) {
      put(header('././@LongLink', { size: name.length + 1, mode: 0o644, mtime: 0, type: 'L' }));
      put(Buffer.concat([name, Buffer.alloc(1)]));
      pad();
    }
    put(header(m.name, { size: m.size, mode: m.mode, mtime: mtimeSec, type: '0' }));
    const src = openSync(m.path, 'r');
    let left = m.size;
    while (left > 0) {
      const n = readSync(src, buf, 0, Math.min(buf.length, left), null);
      if (n === 0) throw new Error(`${m.path} shrank while being archived`);
      put(n === buf.length ? buf : buf.subarray(0, n));
      left -= n;
    }
    closeSync(src);
    pad();
  }
  put(Buffer.alloc(2 * BLOCK));
  if (pos % RECORD) put(Buffer.alloc(RECORD - (pos % RECORD)));
  closeSync(fd);
  return pos;
}
