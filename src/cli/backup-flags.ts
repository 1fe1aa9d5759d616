import type { BackupMode } from '../engine/types.js';
import { usageError } from './usage-error.js';

/** The flags of `cairn backup`; each source runner takes the ones that apply to it and refuses the rest. */
export interface BackupFlags {
  mode?: BackupMode;
  tag?: string[];
  host?: string;
  exclude?: string[];
  excludeFile?: string[];
  oneFileSystem?: boolean;
  parent?: string;
  dryRun?: boolean;
  mirror?: string[];
  name?: string;
  logical?: boolean;
}

/** Refuses the first flag that is set but means nothing for `source` (e.g. "a postgres:// source"). */
export function rejectFlags(source: string, flags: readonly (readonly [flag: string, set: unknown])[]): void {
  for (const [flag, set] of flags) if (set) throw usageError(`${flag} does not apply to ${source}`);
}
