// sha256 manifest of a tree, in the format of `sha256sum` ("<hex>  ./<path>"), sorted by
// path bytes. Used to check that the dataset is what it should be and that each tool's
// restore gave back exactly the files that were backed up.
import { createHash } from 'node:crypto';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';

async function listFiles(root) {
  const out = [];
  const walk = async (dir, rel) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(join(dir, e.name), r);
      else if (e.isFile()) out.push(r);
      else out.push(`${r}\0${e.isSymbolicLink() ? 'symlink' : 'special'}`); // shows up as a mismatch
    }
  };
  await walk(root, '');
  return out
    .map((r) => [Buffer.from(r), r])
    .sort((a, b) => Buffer.compare(a[0], b[0]))
    .map((x) => x[1]);
}

async function hashFile(path, buf) {
  const fh = await open(path, 'r');
  try {
    const h = createHash('sha256');
    let size = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
    return { hex: h.digest('hex'), size };
  } finally {
    await fh.close();
  }
}

/** Hash every file below `root`. Returns { text, files, bytes, digest }. */
export async function computeManifest(root, { concurrency = 4 } = {}) {
  const files = await listFiles(root);
  const lines = new Array(files.length);
  let bytes = 0;
  let next = 0;
  const worker = async () => {
    const buf = Buffer.allocUnsafe(1 << 20);
    while (next < files.length) {
      const i = next++;
      const rel = files[i];
      if (rel.includes('\0')) {
        lines[i] = `${rel.split('\0')[1].padEnd(64, '-')}  ./${rel.split('\0')[0]}`;
        continue;
      }
      const { hex, size } = await hashFile(join(root, rel), buf);
      bytes += size;
      lines[i] = `${hex}  ./${rel}`;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const text = lines.length ? `${lines.join('\n')}\n` : '';
  return { text, files: files.length, bytes, digest: createHash('sha256').update(text).digest('hex') };
}

/** Lines that differ between two manifests, as "- line" (expected) / "+ line" (actual). */
export function diffManifests(expected, actual, limit = 10) {
  const a = new Set(expected.split('\n').filter(Boolean));
  const b = new Set(actual.split('\n').filter(Boolean));
  const out = [];
  let count = 0;
  for (const l of a) if (!b.has(l)) { count++; if (out.length < limit) out.push(`- ${l}`); }
  for (const l of b) if (!a.has(l)) { count++; if (out.length < limit) out.push(`+ ${l}`); }
  return { count, lines: out };
}
