import { lstat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CairnError, fromSystemErrorOrIo } from '../core/errors/index.js';
import { compileExcludes, readExcludeFile, type ExcludeFn } from '../fs/exclude-matcher.js';

/** What a files backup reads: its paths, normalised, and what it leaves out. */
export interface FilesSelection {
  paths: string[];
  /** The exclude patterns, from --exclude and the exclude files, in order. */
  patterns: string[];
  exclude?: ExcludeFn;
  oneFileSystem: boolean;
}

export interface SelectionOptions {
  paths: string[];
  excludes?: string[];
  excludeFiles?: string[];
  oneFileSystem?: boolean;
}

/** Resolves the options into a selection; throws SOURCE_NOT_FOUND, CONFIG_INVALID, ... as the backup would. */
export async function selectFiles(opts: SelectionOptions): Promise<FilesSelection> {
  const paths = await normalisePaths(opts.paths);
  const patterns = [...(opts.excludes ?? [])];
  for (const f of opts.excludeFiles ?? []) patterns.push(...(await readExcludeFile(f)));
  const sel: FilesSelection = { paths, patterns, oneFileSystem: opts.oneFileSystem === true };
  if (patterns.length > 0) sel.exclude = compileExcludes(patterns);
  return sel;
}

/**
 * The walk options a selection implies; the archiver walks with exactly these. Xattrs
 * are left out: the archiver reads them only for entries whose inode or ctime moved.
 */
export function walkOptionsFor(sel: Pick<FilesSelection, 'exclude' | 'oneFileSystem'>): { exclude?: ExcludeFn; oneFileSystem?: boolean; xattrs: false } {
  return {
    ...(sel.exclude ? { exclude: sel.exclude } : {}),
    ...(sel.oneFileSystem ? { oneFileSystem: true } : {}),
    xattrs: false,
  };
}

/** Resolves and checks the source paths: absolute, existing, deduplicated, no path inside another. */
export async function normalisePaths(paths: string[]): Promise<string[]> {
  const abs = [...new Set(paths.map((p) => resolve(p)))].sort();
  for (const p of abs) {
    try {
      await lstat(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw new CairnError('SOURCE_NOT_FOUND', `backup source ${p} does not exist`);
      }
      // Refused access keeps its code; anything else (a name too long, a loop of
      // symlinks, EIO) is the file system's, not a permission matter.
      throw fromSystemErrorOrIo(err, `backup source ${p}`, (e) => `cannot access backup source ${p}: ${e.message}`);
    }
  }
  if (abs.includes('/')) return ['/'];
  return abs.filter((p) => !abs.some((q) => q !== p && p.startsWith(q + '/')));
}
