/**
 * A Backend is a dumb store of named, immutable byte strings. It knows nothing about
 * packs, encryption or snapshots. Names are relative slash-separated paths such as
 * `config`, `keys/<id>`, `data/ab/<packid>`, `snapshots/<id>`.
 *
 * Contract (every implementation passes backend/testing/suite.ts):
 * - save(name, bytes) is atomic: a reader sees either nothing or the complete bytes,
 *   never a prefix, even if the process is killed mid-write. On local disks: write to a
 *   temp file, fsync, rename, fsync the directory.
 * - save does not keep `bytes` once its promise settles: the caller may reuse the
 *   memory (backup workers build packs in a fixed set of reused buffers).
 * - save is idempotent for content-addressed names: saving the same bytes again under
 *   the same name succeeds. With `overwrite: false` (default) saving different bytes
 *   under an existing name is allowed to either succeed or fail, callers never do it;
 *   with `overwrite: true` (config, key slots, locks) the new bytes replace the old.
 * - load(name) returns the whole file, load(name, {offset, length}) a byte range
 *   (a range past the end is an error); a missing name rejects with
 *   BackendNotFoundError (`isNotFound(err)`), so callers can tell absent from broken.
 *   With `into`, a backend may read the bytes into that buffer (when they fit) and
 *   return a view of it, so a reader that reuses its buffers allocates nothing; it may
 *   also ignore it and return a new Buffer. Callers use the returned Buffer either way.
 * - list(prefix) yields every stored name starting with prefix (with its size), in no
 *   particular order, paginating internally; temp files of in-flight saves are never
 *   listed.
 * - stat(name) returns the size, or rejects as not found.
 * - remove(name) deletes; removing a missing name is not an error.
 * - Errors other than not-found are thrown as CairnError (DISK_FULL, PERMISSION_DENIED,
 *   IO_ERROR, BACKEND_UNAVAILABLE) so the CLI can print one clear line.
 *
 * Retry, rate limits, read-only mode and fault injection are wrappers around a
 * Backend (see with-*.ts), never flags inside one.
 */
export interface Backend {
  /** Human-readable location, for messages (never contains credentials). */
  readonly location: string;
  /**
   * True when save() has the store verify a checksum of the bytes before it acknowledges
   * (S3 with x-amz-checksum-sha256). The repository then skips reading packs back after
   * upload, which on object storage would double the traffic (and cost egress or
   * retrieval fees). Absent or false: packs are read back and compared.
   */
  readonly verifiesWrites?: boolean;
  save(name: string, data: Uint8Array, options?: SaveOptions): Promise<void>;
  load(name: string, range?: ByteRange, into?: Uint8Array): Promise<Buffer>;
  list(prefix: string): AsyncIterable<FileInfo>;
  stat(name: string): Promise<FileInfo>;
  remove(name: string): Promise<void>;
  /** Releases connections and handles. Idempotent. */
  close(): Promise<void>;
  /**
   * Optional: removes debris of interrupted saves (temp files, unfinished multipart
   * uploads) older than `olderThanMs`, never anything a save in progress still needs.
   * Returns how many items were removed.
   */
  cleanup?(olderThanMs: number): Promise<number>;
}

export interface SaveOptions {
  overwrite?: boolean;
}

export interface ByteRange {
  offset: number;
  length: number;
}

export interface FileInfo {
  name: string;
  size: number;
}

/** Thrown by load/stat when the name does not exist. */
export class BackendNotFoundError extends Error {
  readonly notFound = true;
  constructor(readonly fileName: string) {
    super(`not found: ${fileName}`);
    this.name = 'BackendNotFoundError';
  }
}

export function isNotFound(err: unknown): err is BackendNotFoundError {
  return err instanceof BackendNotFoundError;
}
