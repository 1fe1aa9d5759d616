import type { BackupOptions } from '../engine/types.js';

export type SnapshotOptions = Pick<BackupOptions, 'mode' | 'tags' | 'host' | 'onProgress' | 'onWarning' | 'signal'>;

/**
 * What a source's backup options say about the snapshot it stores through
 * SourceHost.backupDirectory: the set ones of mode, tags, host, progress, warnings and
 * cancellation (a source whose options lack one passes nothing for it).
 */
export function snapshotOptions(opts: SnapshotOptions): SnapshotOptions {
  return {
    ...(opts.mode ? { mode: opts.mode } : {}),
    ...(opts.tags ? { tags: opts.tags } : {}),
    ...(opts.host ? { host: opts.host } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
}
