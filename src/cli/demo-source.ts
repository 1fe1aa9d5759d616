import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface DemoSourceStats {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

const TEXT: Record<string, string> = {
  'README.txt': 'This directory was made by `cairn demo`.\nIt is backed up, changed, backed up again and restored.\n',
  'notes/todo.txt': '- [ ] try cairn demo\n- [ ] read docs/cli.md\n',
  'notes/ideas.md': '# Ideas\n\nBack up the photo library every night; keep 7 daily, 4 weekly, 12 monthly.\n',
  'projects/garden/plan/beds.txt': 'bed 1: tomatoes\nbed 2: beans\nbed 3: herbs\n',
};

/** 256 KiB of deterministic pseudo-random bytes (incompressible, stable across runs). */
export function demoBinary(size = 256 * 1024): Uint8Array {
  const out = new Uint8Array(size);
  let x = 0x2545f491;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * (Re)writes the sample tree to its initial content: text files, a nested directory,
 * a binary file and a relative symlink. Same bytes on every run, so a rerun shows
 * deduplication at work.
 */
export async function writeDemoSource(dir: string): Promise<DemoSourceStats> {
  await rm(dir, { recursive: true, force: true });
  const stats: DemoSourceStats = { files: 0, dirs: 1, symlinks: 0, bytes: 0 };
  const dirs = new Set<string>();
  for (const [rel, text] of Object.entries(TEXT)) {
    const parts = rel.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    await mkdir(join(dir, ...parts), { recursive: true });
    await writeFile(join(dir, rel), text);
    stats.files++;
    stats.bytes += Buffer.byteLength(text);
  }
  await mkdir(join(dir, 'data'), { recursive: true });
  dirs.add('data');
  const bin = demoBinary();
  await writeFile(join(dir, 'data', 'random.bin'), bin);
  stats.files++;
  stats.bytes += bin.length;
  stats.dirs += dirs.size;
  try {
    await symlink('README.txt', join(dir, 'link-to-readme'));
    stats.symlinks++;
  } catch {
    // Symlinks can be refused (some Windows setups); the demo works without one.
  }
  return stats;
}

/** The edit between the two backups: one line appended to notes/todo.txt. */
export async function modifyDemoSource(dir: string, now: Date): Promise<string> {
  const rel = 'notes/todo.txt';
  const path = join(dir, rel);
  const before = await readFile(path, 'utf8');
  await writeFile(path, `${before}- [x] ran the demo at ${now.toISOString()}\n`);
  return rel;
}
