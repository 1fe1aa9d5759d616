// The benchmark dataset: a deterministic mixed tree of `sizeMB` MiB (default 1500,
// about 1.57 GB and, on a Debian-like /usr, roughly 25-32k files):
//
//   sys/usr/{lib,share}/...   ~68.3%  real system files sampled from /usr (machine-dependent, see system-sample.mjs)
//   db/dump.sql               ~13.3%  mysqldump-like SQL text
//   media/random.bin          ~6.7%   incompressible bytes (AES-256-CTR keystream of a fixed seed)
//   logs/app.log              ~6.7%   application log
//   archive/share-docs.tar    ~5%     tar of files that are also under sys/usr/share (duplicate data)
//
// Generated files are byte-identical on every machine and get mtime 2024-01-01;
// copied system files keep their permission bits and times. A sha256 manifest of the
// tree goes to `${dir}.manifest` (outside the tree, so it is not backed up).
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeAppLog } from './app-log.mjs';
import { computeManifest } from './manifest.mjs';
import { keystream } from './rng.mjs';
import { writeSqlDump } from './sql-dump.mjs';
import { copySystemFiles, selectSystemFiles } from './system-sample.mjs';
import { writeTar } from './tar-writer.mjs';

const MiB = 1024 * 1024;
export const GENERATED_MTIME = new Date('2024-01-01T00:00:00Z');

/** How `sizeMB` MiB are split between the parts (bytes). */
export function plan(sizeMB) {
  const total = Math.round(sizeMB * MiB);
  const sql = Math.floor((total * 2) / 15);
  const random = Math.floor(total / 15);
  const log = Math.floor(total / 15);
  const tar = Math.floor(total / 20);
  return { total, sql, random, log, tar, system: total - sql - random - log - tar };
}

function listShareFiles(sysDir) {
  const out = [];
  const walk = (dir, rel) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(join(dir, e.name), r);
      else if (e.isFile()) out.push(r);
    }
  };
  const share = join(sysDir, 'usr/share');
  if (existsSync(share)) walk(share, 'usr/share');
  return out
    .map((r) => [Buffer.from(r), r])
    .sort((a, b) => Buffer.compare(a[0], b[0]))
    .map((x) => x[1]);
}

/**
 * Build the dataset in `dir` (must be missing or empty). `log(msg)` receives progress
 * lines. Returns { dir, files, bytes, manifestPath, digest, plan, systemCandidates }.
 */
export async function generate(dir, sizeMB = 1500, { log = () => {}, manifestPath } = {}) {
  dir = resolve(dir);
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`refusing to generate into ${dir}: not empty`);
  const p = plan(sizeMB);
  for (const sub of ['sys', 'db', 'media', 'logs', 'archive']) mkdirSync(join(dir, sub), { recursive: true });

  log(`[1/5] sampling ~${(p.system / MiB).toFixed(0)} MiB of real files from /usr/lib and /usr/share`);
  const sel = selectSystemFiles(p.system);
  copySystemFiles(sel.files, join(dir, 'sys'));
  log(`      ${sel.files.length} files, ${sel.bytes} bytes (of ${sel.candidates} candidates)`);

  log(`[2/5] db/dump.sql (~${(p.sql / MiB).toFixed(0)} MiB)`);
  writeSqlDump(join(dir, 'db/dump.sql'), p.sql);

  log(`[3/5] media/random.bin (${(p.random / MiB).toFixed(0)} MiB of AES-CTR keystream)`);
  const fd = openSync(join(dir, 'media/random.bin'), 'w');
  keystream('random.bin', p.random, (b) => writeSync(fd, b));
  closeSync(fd);

  log(`[4/5] logs/app.log (~${(p.log / MiB).toFixed(0)} MiB)`);
  writeAppLog(join(dir, 'logs/app.log'), p.log);

  log(`[5/5] archive/share-docs.tar (~${(p.tar / MiB).toFixed(0)} MiB of files also under sys/usr/share)`);
  const members = [];
  let inTar = 0;
  for (const rel of listShareFiles(join(dir, 'sys'))) {
    const st = statSync(join(dir, 'sys', rel));
    if (inTar + st.size > p.tar) break;
    inTar += st.size;
    members.push({ name: rel, path: join(dir, 'sys', rel), size: st.size, mode: st.mode & 0o777 });
  }
  writeTar(join(dir, 'archive/share-docs.tar'), members, Math.floor(GENERATED_MTIME.getTime() / 1000));

  for (const f of ['db/dump.sql', 'media/random.bin', 'logs/app.log', 'archive/share-docs.tar']) {
    utimesSync(join(dir, f), GENERATED_MTIME, GENERATED_MTIME);
  }
  const m = await writeManifest(dir, manifestPath);
  return { dir, ...m, plan: p, systemFiles: sel.files.length, systemCandidates: sel.candidates };
}

/** Hash the tree and write `${dir}.manifest` (or `path`). Returns { manifestPath, files, bytes, digest, text }. */
export async function writeManifest(dir, path = `${resolve(dir)}.manifest`) {
  const m = await computeManifest(dir);
  writeFileSync(path, m.text);
  return { manifestPath: path, ...m };
}
