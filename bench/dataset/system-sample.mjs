// Real system files (binaries, shared libraries, scripts, docs, locale data...) sampled
// from /usr/lib and /usr/share: the part of the dataset that looks like a real disk.
//
// THIS PART DEPENDS ON THE MACHINE: which files exist under /usr differs between
// distributions and installed packages. The choice itself is deterministic: every
// readable regular file (≤ 40 MiB, no __pycache__/*.pyc, which change whenever Python
// runs) is ordered by a seeded hash of its path (orderKey) and taken in that order
// until the byte budget is filled. On the same /usr the sample is identical; a package
// added or removed changes only a few entries, not the whole sample. Compare tools
// within one run on one machine, never figures across machines.
import { accessSync, constants, copyFileSync, chmodSync, mkdirSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { orderKey } from './rng.mjs';

export const SYSTEM_ROOTS = ['/usr/lib', '/usr/share'];
const MAX_FILE = 40 * 1024 * 1024;
const OVERSHOOT = 1024 * 1024;

function* walk(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return; // unreadable directory: not part of the sample
  }
  for (const e of entries) {
    if (e.name.includes('\uFFFD')) continue; // not valid UTF-8: cannot be named portably
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== '__pycache__') yield* walk(p);
    } else if (e.isFile() && !/\.py[co]$/.test(e.name)) {
      yield p;
    }
  }
}

/**
 * Choose files worth `budget` bytes. Returns [{ path, rel, size, mode, atime, mtime }]
 * in the seeded order; `rel` has no leading slash ("usr/lib/...").
 */
export function selectSystemFiles(budget, { seed = 'system', roots = SYSTEM_ROOTS } = {}) {
  const candidates = [];
  for (const root of roots) {
    for (const path of walk(root)) {
      candidates.push({ key: orderKey(seed, path), path });
    }
  }
  candidates.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const chosen = [];
  let total = 0;
  for (const { path } of candidates) {
    if (total >= budget) break;
    let st;
    try {
      st = statSync(path);
      if (!st.isFile() || st.size > MAX_FILE) continue;
      if (total + st.size > budget + OVERSHOOT) continue; // keep filling with smaller ones
      accessSync(path, constants.R_OK);
    } catch {
      continue;
    }
    total += st.size;
    chosen.push({ path, rel: path.slice(1), size: st.size, mode: st.mode & 0o777, atime: st.atime, mtime: st.mtime });
  }
  return { files: chosen, bytes: total, candidates: candidates.length };
}

/** Copy the chosen files below `dest`, keeping permission bits and times. */
export function copySystemFiles(files, dest) {
  const made = new Set();
  let bytes = 0;
  for (const f of files) {
    const to = join(dest, f.rel);
    const dir = dirname(to);
    if (!made.has(dir)) {
      mkdirSync(dir, { recursive: true });
      made.add(dir);
    }
    copyFileSync(f.path, to);
    chmodSync(to, f.mode);
    utimesSync(to, f.atime, f.mtime);
    bytes += f.size;
  }
  return bytes;
}
