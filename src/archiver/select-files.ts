import { lstat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CairnError, fromSystemErrorOrIo } from '../core/errors/index.js';
import { compileExcludes, readExcludeFile, type ExcludeFn } from '../fs/exclude-matcher.js';
import type { IfPresent, WalkOptions } from '../fs/walker.js';

/** What a files backup reads: its paths, normalised, and what it leaves out. */
export interface FilesSelection {
  paths: string[];
  /** The exclude patterns, from --exclude and the exclude files, in order. */
  patterns: string[];
  exclude?: ExcludeFn;
  oneFileSystem: boolean;
  /** Files larger than this many bytes are left out. */
  largerThan?: number;
  /** Markers ("NAME" or "NAME:HEADER"): a directory holding one keeps only it. */
  ifPresent: string[];
}

export interface SelectionOptions {
  paths: string[];
  excludes?: string[];
  excludeFiles?: string[];
  oneFileSystem?: boolean;
  excludeLargerThan?: number;
  excludeIfPresent?: string[];
  /** The same as excludeIfPresent CACHEDIR.TAG with its signature (bford.info/cachedir). */
  excludeCaches?: boolean;
}

/** The Cache Directory Tagging Specification's marker and the header its file starts with. */
export const CACHEDIR_TAG = 'CACHEDIR.TAG:Signature: 8a477f597d28d172789f06886806bc55';

/** Resolves the options into a selection; throws SOURCE_NOT_FOUND, CONFIG_INVALID, ... as the backup would. */
export async function selectFiles(opts: SelectionOptions): Promise<FilesSelection> {
  const paths = await normalisePaths(opts.paths);
  const patterns = [...(opts.excludes ?? [])];
  for (const f of opts.excludeFiles ?? []) patterns.push(...(await readExcludeFile(f)));
  const ifPresent = [...new Set([...(opts.excludeIfPresent ?? []), ...(opts.excludeCaches ? [CACHEDIR_TAG] : [])])];
  for (const m of ifPresent) parseMarker(m);
  const sel: FilesSelection = { paths, patterns, oneFileSystem: opts.oneFileSystem === true, ifPresent };
  if (patterns.length > 0) sel.exclude = compileExcludes(patterns);
  if (opts.excludeLargerThan !== undefined) {
    if (!Number.isSafeInteger(opts.excludeLargerThan) || opts.excludeLargerThan < 0) {
      throw new CairnError('USAGE', `excludeLargerThan must be a whole number of bytes, got ${opts.excludeLargerThan}`);
    }
    sel.largerThan = opts.excludeLargerThan;
  }
  return sel;
}

/** "NAME" or "NAME:HEADER" (split at the first colon, as restic does); a name with a slash is USAGE. */
function parseMarker(spec: string): IfPresent {
  const colon = spec.indexOf(':');
  const name = colon < 0 ? spec : spec.slice(0, colon);
  if (name === '' || name.includes('/') || name === '.' || name === '..') {
    throw new CairnError('USAGE', `not a file name to look for: ${JSON.stringify(spec)}`, { hint: 'give a name such as .nobackup, or NAME:HEADER to also match the start of that file' });
  }
  return colon < 0 ? { name: Buffer.from(name) } : { name: Buffer.from(name), header: Buffer.from(spec.slice(colon + 1)) };
}

/**
 * The walk options a selection implies; the archiver walks with exactly these. Xattrs
 * are left out: the archiver reads them only for entries whose inode or ctime moved.
 */
export function walkOptionsFor(sel: WalkFilters): WalkOptions {
  return {
    ...(sel.exclude ? { exclude: sel.exclude } : {}),
    ...(sel.oneFileSystem ? { oneFileSystem: true } : {}),
    ...(sel.largerThan !== undefined ? { excludeLargerThan: sel.largerThan } : {}),
    ...(sel.ifPresent?.length ? { excludeIfPresent: sel.ifPresent.map(parseMarker) } : {}),
    xattrs: false,
  };
}

/** What of a selection decides which entries a walk yields. */
export type WalkFilters = Pick<FilesSelection, 'exclude' | 'oneFileSystem' | 'largerThan'> & { ifPresent?: string[] };

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
