/**
 * Branded ids so that a pack id can never be passed where a blob id is expected.
 * All ids are 32 bytes, written as 64 lowercase hex characters.
 */
declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Keyed hash (HMAC-SHA-256 under the repository's id key) of a blob's plaintext. */
export type BlobId = Brand<string, 'BlobId'>;
/** SHA-256 of the whole pack file as stored. */
export type PackId = Brand<string, 'PackId'>;
/** SHA-256 of the stored (encrypted) snapshot file. */
export type SnapshotId = Brand<string, 'SnapshotId'>;
/** SHA-256 of the stored (encrypted) index file. */
export type IndexId = Brand<string, 'IndexId'>;
/** Random id of a key slot. */
export type KeyId = Brand<string, 'KeyId'>;

export type BlobType = 'data' | 'tree';

const HEX64 = /^[0-9a-f]{64}$/;

export function isId(s: string): boolean {
  return HEX64.test(s);
}

export function asBlobId(s: string): BlobId {
  return s as BlobId;
}
export function asPackId(s: string): PackId {
  return s as PackId;
}
export function asSnapshotId(s: string): SnapshotId {
  return s as SnapshotId;
}
export function asIndexId(s: string): IndexId {
  return s as IndexId;
}
export function asKeyId(s: string): KeyId {
  return s as KeyId;
}

/** The short form shown to people: the first 8 hex characters, as restic does. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}
