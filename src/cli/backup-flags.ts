import type { BackupMode, BackupOptions } from '../engine/types.js';
import { parseTags } from './parse-tags.js';
import { usageError } from './usage-error.js';

/** The flags of `cairn backup`; each source runner takes the ones that apply to it and refuses the rest. */
export interface BackupFlags {
  mode?: BackupMode;
  tag?: string[];
  host?: string;
  exclude?: string[];
  excludeFile?: string[];
  oneFileSystem?: boolean;
  excludeLargerThan?: string;
  excludeIfPresent?: string[];
  excludeCaches?: boolean;
  atime?: boolean;
  parent?: string;
  dryRun?: boolean;
  mirror?: string[];
  name?: string;
  logical?: boolean;
}

/** --mode, --tag and --host as options of the snapshot a files or s3 backup stores; an empty --host is refused. */
export function snapshotFlags(flags: BackupFlags): Pick<BackupOptions, 'mode' | 'tags' | 'host'> {
  const out: Pick<BackupOptions, 'mode' | 'tags' | 'host'> = {};
  if (flags.mode) out.mode = flags.mode;
  const tags = parseTags(flags.tag);
  if (tags.length) out.tags = tags;
  if (flags.host !== undefined) {
    if (flags.host.trim() === '') throw usageError('--host must not be empty');
    out.host = flags.host;
  }
  return out;
}

/** Refuses the first flag that is set but means nothing for `source` (e.g. "a postgres:// source"). */
export function rejectFlags(source: string, flags: readonly (readonly [flag: string, set: unknown])[]): void {
  for (const [flag, set] of flags) if (set) throw usageError(`${flag} does not apply to ${source}`);
}

/** The flags that choose what a walk of the file system yields: files and s3:// backups refuse them elsewhere. */
export function walkFlags(flags: BackupFlags): [flag: string, set: unknown][] {
  return [
    ['--exclude', flags.exclude?.length],
    ['--exclude-file', flags.excludeFile?.length],
    ['--one-file-system', flags.oneFileSystem],
    ['--exclude-larger-than', flags.excludeLargerThan !== undefined],
    ['--exclude-if-present', flags.excludeIfPresent?.length],
    ['--exclude-caches', flags.excludeCaches],
    ['--atime', flags.atime],
  ];
}

/** The flags that only a files backup reads, for rejectFlags by the other sources. */
export function filesOnlyFlags(flags: BackupFlags): [flag: string, set: unknown][] {
  return [...walkFlags(flags), ['--parent', flags.parent], ['--dry-run', flags.dryRun], ['--mirror', flags.mirror?.length]];
}
