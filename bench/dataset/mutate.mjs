// Change about 5% of a generated dataset, in place and deterministically (the same
// input tree always gives the same output tree):
//
//   db/dump.sql        rows inserted in the middle (5% of its size: shifts everything
//                      after it, which is what content-defined chunking must absorb),
//                      plus two 64 KiB in-place edits at 25% and 75%
//   media/random.bin   three 4 MiB in-place overwrites at 10%, 50%, 90% (a VM-image-like edit)
//   logs/app.log       50% more lines appended
//   sys/ files ≥256 KiB  100 of them get 4 KiB overwritten in the middle (a patched binary)
//   sys/ files <64 KiB   200 get a line appended, 100 others are deleted
//   new-files/         200 new small files (text and binary, 0.5-32 KiB)
//
// Files are picked in a seeded hash order of their paths, contents come from fixed
// seeds, so two copies of one dataset mutate identically. Afterwards the manifest
// (`${dir}.manifest`) is rewritten to describe the mutated tree.
import {
  chmodSync, closeSync, existsSync, openSync, readSync, readdirSync, renameSync, statSync, unlinkSync, writeSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { LOG_EPOCH_MS, writeAppLog } from './app-log.mjs';
import { writeManifest } from './generate.mjs';
import { keystreamBytes, orderKey } from './rng.mjs';
import { writeSmallFiles } from './small-files.mjs';
import { sqlInsertBlock } from './sql-dump.mjs';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Run `fn(fd)` on `path` opened with `flags`, making it writable for the moment if needed. */
function withWritable(path, flags, fn) {
  const mode = statSync(path).mode & 0o7777;
  if (!(mode & 0o200)) chmodSync(path, mode | 0o200);
  const fd = openSync(path, flags);
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
    if (!(mode & 0o200)) chmodSync(path, mode);
  }
}

function overwrite(path, offset, data) {
  withWritable(path, 'r+', (fd) => writeSync(fd, data, 0, data.length, offset));
  return data.length;
}

function copyRange(from, to, start, end, buf) {
  for (let pos = start; pos < end; ) {
    const n = readSync(from, buf, 0, Math.min(buf.length, end - pos), pos);
    if (n === 0) throw new Error('file shrank during mutation');
    writeSync(to, buf, 0, n);
    pos += n;
  }
}

function listFiles(root, rel = '') {
  const out = [];
  for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(root, r));
    else if (e.isFile()) out.push({ rel: r, size: statSync(join(root, r)).size });
  }
  return out;
}

function byKey(salt) {
  return (a, b) => {
    const ka = orderKey(salt, a.rel);
    const kb = orderKey(salt, b.rel);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  };
}

/** Mutate `dir` in place. Returns { stats, manifest } (manifest as from writeManifest). */
export async function mutate(dir, { log = () => {}, manifestPath } = {}) {
  dir = resolve(dir);
  if (!existsSync(join(dir, 'db/dump.sql'))) throw new Error(`${dir} is not a generated dataset (no db/dump.sql)`);
  if (existsSync(join(dir, 'new-files'))) throw new Error(`${dir} was already mutated (new-files/ exists)`);
  const stats = {
    filesModified: 0, inPlaceBytes: 0, insertedBytes: 0, appendedBytes: 0,
    newFiles: 0, newBytes: 0, deletedFiles: 0, deletedBytes: 0,
  };

  // 1. SQL dump: two same-length edits, then an insertion at the first line break after
  //    the middle (written to a new file and renamed over the old one).
  const sql = join(dir, 'db/dump.sql');
  const size = statSync(sql).size;
  const editLen = Math.min(64 * KiB, Math.floor(size / 64));
  const edit = Buffer.from(sqlInsertBlock(editLen, 'mutate/sql-edit', 60_000_000).slice(0, editLen), 'latin1');
  for (const f of [0.25, 0.75]) stats.inPlaceBytes += overwrite(sql, Math.floor(size * f), edit);
  const block = Buffer.from(sqlInsertBlock(Math.floor(size / 20), 'mutate/sql-insert', 50_000_000), 'latin1');
  const src = openSync(sql, 'r');
  const buf = Buffer.allocUnsafe(4 * MiB);
  let mid = Math.floor(size / 2);
  for (let found = false; !found && mid < size; ) {
    const n = readSync(src, buf, 0, Math.min(buf.length, size - mid), mid);
    const i = buf.subarray(0, n).indexOf(0x0a);
    if (i >= 0) { mid += i + 1; found = true; } else mid += n;
  }
  const dst = openSync(`${sql}.new`, 'w');
  copyRange(src, dst, 0, mid, buf);
  writeSync(dst, block);
  copyRange(src, dst, mid, size, buf);
  closeSync(dst);
  closeSync(src);
  renameSync(`${sql}.new`, sql);
  stats.insertedBytes += block.length;
  stats.filesModified++;
  log(`      db/dump.sql: ${block.length} bytes of rows inserted at byte ${mid}, 2 x ${editLen} bytes edited`);

  // 2. random.bin: three overwrites (4 MiB, less on a small dataset), 4 KiB aligned.
  const rnd = join(dir, 'media/random.bin');
  const rsize = statSync(rnd).size;
  const len = Math.max(4 * KiB, Math.min(4 * MiB, Math.floor(rsize / 25 / (4 * KiB)) * 4 * KiB));
  [0.1, 0.5, 0.9].forEach((f, i) => {
    const off = Math.min(Math.floor((rsize * f) / (4 * KiB)) * 4 * KiB, Math.max(0, rsize - len));
    stats.inPlaceBytes += overwrite(rnd, off, keystreamBytes(`mutate/random/${i}`, len));
  });
  stats.filesModified++;

  // 3. app.log: append half as much again, continuing 40 days later.
  const logPath = join(dir, 'logs/app.log');
  stats.appendedBytes += writeAppLog(logPath, Math.floor(statSync(logPath).size / 2), {
    seed: 'mutate/log-append', startMs: LOG_EPOCH_MS + 40 * 86400_000, append: true,
  });
  stats.filesModified++;

  // 4-5. Real files under sys/.
  const files = listFiles(dir, 'sys');
  const big = files.filter((f) => f.size >= 256 * KiB).sort(byKey('mutate/big'));
  const small = files.filter((f) => f.size > 0 && f.size < 64 * KiB).sort(byKey('mutate/small'));
  big.slice(0, 100).forEach((f, n) => {
    stats.inPlaceBytes += overwrite(join(dir, f.rel), Math.floor(f.size / 2), keystreamBytes(`mutate/big/${n}`, 4 * KiB));
    stats.filesModified++;
  });
  small.slice(0, 200).forEach((f, n) => {
    const line = Buffer.from(`# local edit ${n} (cairn bench mutate)\n`);
    withWritable(join(dir, f.rel), 'a', (fd) => writeSync(fd, line));
    stats.appendedBytes += line.length;
    stats.filesModified++;
  });
  for (const f of small.slice(200, 300)) {
    unlinkSync(join(dir, f.rel));
    stats.deletedFiles++;
    stats.deletedBytes += f.size;
  }
  if (big.length < 100 || small.length < 300) {
    log(`      note: the tree has only ${big.length} files >= 256 KiB and ${small.length} < 64 KiB; mutated what exists`);
  }

  // 6. New files.
  const added = writeSmallFiles(join(dir, 'new-files'), 200, 'mutate/new-files');
  stats.newFiles += added.files;
  stats.newBytes += added.bytes;

  stats.changedOrNewBytes = stats.inPlaceBytes + stats.insertedBytes + stats.appendedBytes + stats.newBytes;
  const manifest = await writeManifest(dir, manifestPath);
  return { stats, manifest };
}
