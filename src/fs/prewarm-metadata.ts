import { lstat, readdir } from 'node:fs/promises';

/** Directories listed at once; lstat calls go to libuv's thread pool in parallel. */
const CONCURRENCY = 12;
const SLASH = Buffer.from('/');

export interface PrewarmOptions {
  /** Entries the real walk has passed so far; with `maxLead`, keeps the warming near it. */
  walked?: () => number;
  /** How many entries the warming may be ahead of `walked()` (default 20,000). */
  maxLead?: number;
}

/**
 * Reads the directories and inodes under `roots` into the kernel's caches, many at a
 * time, until done or `signal` fires. Returns how many directories it listed; every
 * error is ignored: this only warms the caches for the real walk, which is sequential
 * (it needs sorted order) and so pays one disk round trip per cold directory or inode
 * block, keeping the file workers waiting for work on a cold cache.
 *
 * Started before the key slot is unlocked (scrypt, ~0.5 s on the thread pool with the
 * main thread idle) and kept running during the backup, at most `maxLead` entries ahead
 * of the walk so that a huge tree does not push out of the caches what the walk needs
 * next. Depth first, names sorted: the walk's order.
 */
export function prewarmMetadata(roots: string[], signal: AbortSignal, opts: PrewarmOptions = {}): Promise<number> {
  const stack: Buffer[] = roots.map((r) => Buffer.from(r)).reverse();
  const maxLead = opts.maxLead ?? 20_000;
  let active = 0;
  let listed = 0;
  let seen = 0;
  const ahead = (): boolean => opts.walked !== undefined && seen - opts.walked() > maxLead;
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
      while (ahead() && !signal.aborted) await new Promise((r) => setTimeout(r, 25));
      if (signal.aborted) return;
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true, encoding: 'buffer' });
      } catch {
        return;
      }
      listed++;
      seen += entries.length;
      entries.sort((a, b) => Buffer.compare(a.name, b.name));
      const files: Buffer[] = [];
      const subdirs: Buffer[] = [];
      for (const e of entries) (e.isDirectory() ? subdirs : files).push(Buffer.concat([dir, SLASH, e.name]));
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
