import { CairnError } from '../../core/errors/index.js';
import type * as T from '../../engine/types.js';
import { parseS3Location } from '../../backend/s3-location.js';
import type { S3BackendOptions } from '../../backend/s3-backend.js';
import type { RetryOptions } from '../../backend/with-retry.js';
import { filterSnapshots, resolveSnapshotRef, snapshotAtTime } from '../../snapshot/select.js';
import type { Source, SourceHost } from '../types.js';
import { S3Bucket } from './s3-bucket.js';
import { restoreToBucket } from './s3-restore.js';
import { S3TreeBuilder } from './s3-tree-builder.js';

export const S3 = 's3';

export interface S3SourceOptions {
  retry?: RetryOptions;
  /** Client options (tests: static credentials); default the SDK's chain. */
  client?: S3BackendOptions;
}

/**
 * An S3 bucket (or a prefix of one) as a Cairn source: objects with their metadata,
 * streamed into the repository (nothing staged on disk), incremental by ETag, size and
 * LastModified; restored to a directory by the normal restorer or to a bucket here.
 * See docs/sources/s3.md.
 */
export class S3Source implements Source<T.S3BackupOptions, T.S3BackupResult, T.S3RestoreOptions, T.S3RestoreResult> {
  readonly type = S3;

  constructor(private readonly options: S3SourceOptions = {}) {}

  async backup(host: SourceHost, opts: T.S3BackupOptions): Promise<T.S3BackupResult> {
    const loc = parseS3Location(opts.url, this.options.client?.env ?? process.env);
    const name = opts.name ?? (loc.prefix ? `${loc.bucket}/${loc.prefix}` : loc.bucket);
    const bucket = new S3Bucket(loc, 'source', this.options.retry, this.options.client);
    let builder: S3TreeBuilder | undefined;
    try {
      const res = await host.backupTrees(
        { source: { type: S3, name }, paths: [loc.display], meta: { bucket: loc.bucket, prefix: loc.prefix, ...(loc.endpoint ? { endpoint: loc.endpoint } : {}) } },
        {
          ...(opts.mode ? { mode: opts.mode } : {}),
          ...(opts.parent ? { parent: opts.parent } : {}),
          ...(opts.tags ? { tags: opts.tags } : {}),
          ...(opts.host ? { host: opts.host } : {}),
          ...(opts.dryRun ? { dryRun: true } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
        },
        (ctx) => {
          builder = new S3TreeBuilder(host.repo, ctx.saver, bucket, {
            parentTree: ctx.parent?.tree ?? null,
            reuseUnchanged: ctx.reuseUnchanged,
            parentStored: ctx.parentStored,
            ...(this.options.retry ? { retry: this.options.retry } : {}),
            ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
            ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
            ...(opts.signal ? { signal: opts.signal } : {}),
          });
          return builder.run();
        },
      );
      return { ...res, name, objects: builder?.objects ?? 0, objectsRead: builder?.objectsRead ?? 0 };
    } finally {
      await bucket.close();
    }
  }

  async restore(host: SourceHost, opts: T.S3RestoreOptions): Promise<T.S3RestoreResult> {
    const loc = parseS3Location(opts.to, this.options.client?.env ?? process.env);
    const snapshot = pickSnapshot(await host.snapshots(), opts);
    const bucket = new S3Bucket(loc, 'target', this.options.retry, this.options.client);
    try {
      // Before anything is written: a missing bucket is one clear error, not one per object.
      await bucket.checkBucket();
      const r = await restoreToBucket(host.repo, snapshot.tree, bucket, {
        ...(opts.include ? { include: opts.include } : {}),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      return { snapshot, to: loc.display, ...r };
    } finally {
      await bucket.close();
    }
  }
}

/**
 * An explicit id may name any snapshot. "latest" and --at choose among S3 snapshots
 * (narrowed by --source and the filters), and refuse to guess between two buckets.
 */
export function pickSnapshot(all: T.SnapshotInfo[], opts: Pick<T.S3RestoreOptions, 'snapshot' | 'at' | 'source' | 'filter'>): T.SnapshotInfo {
  const snaps = filterSnapshots(all, { ...opts.filter, ...(opts.source !== undefined ? { source: opts.source } : {}) });
  if (opts.at === undefined && opts.snapshot !== 'latest') return resolveSnapshotRef(snaps, opts.snapshot);
  const s3 = snaps.filter((s) => s.source.type === S3);
  const names = [...new Set(s3.map((s) => s.source.name))];
  if (names.length > 1) {
    throw new CairnError('USAGE', `snapshots of ${names.length} S3 sources match (${names.join(', ')}); say which with --source NAME`, {
      hint: `for example --source ${names[0]}`,
    });
  }
  if (s3.length === 0) throw new CairnError('SNAPSHOT_NOT_FOUND', `no S3 snapshot${opts.source !== undefined ? ` of source "${opts.source}"` : ''} (matching the filters)`, { hint: 'list them with `cairn snapshots`' });
  return opts.at !== undefined ? snapshotAtTime(s3, opts.at) : s3[s3.length - 1]!;
}
