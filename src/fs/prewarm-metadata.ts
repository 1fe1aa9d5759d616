import { lstat, readdir } from 'node:fs/promises';

/** Directories listed at once; lstat calls go to libuv's thread pool in parallel. */
const CONCURRENCY = 12;

/**
 * Reads the directories and inodes under `roots` into the kernel's caches, many at a
 * time, and stops when `signal` fires. Returns how many directories it listed; every
 * error is ignored:
 * this only warms the caches for the real walk, which is sequential (it needs sorted
 * order) and so pays one disk round trip per cold directory block or inode block.
 *
 * Run while the key slot is being unlocked (scrypt, ~0.5 s on the thread pool, the main
 * thread idle): on a cold cache the walk then finds most metadata in memory. Roughly in
 * the walk's order (depth first, names sorted), so what is warmed first is needed first.
 */
export function prewarmMetadata(roots: string[], signal: AbortSignal): Promise<number> {
  const stack: Buffer[] = roots.map((r) => Buffer.from(r)).reverse();
  let active = 0;
  let listed = 0;
  return new Promise<number>((resolve) => {
    const pump = (): void => {
      while (!signal.aborted && active < CONCURRENCY && stack.length > 0) {
        const dir = stack.pop()!;
        active++;
        void visit(dir).finally(() => {
          active--;
          pump();
        });
      }
      if (active === 0 && (signal.aborted || stack.length === 0)) resolve(listed);
    };
    // Raw names (Buffers): a name that is not UTF-8 must still be found.
    const visit = async (dir: Buffer): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true, encoding: 'buffer' });
      } catch {
        return;
      }
      listed++;
      entries.sort((a, b) => Buffer.compare(a.name, b.name));
      const slash = Buffer.from('/');
      const files: Buffer[] = [];
      const subdirs: Buffer[] = [];
      for (const e of entries) (e.isDirectory() ? subdirs : files).push(Buffer.concat([dir, slash, e.name]));
      // Subdirectories are offered to the other loops at once; this one goes on with the files.
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
      pump();
      for (const f of files) {
        if (signal.aborted) return;
        await lstat(f).catch(() => undefined);
      }
    };
    pump();
  });
}
