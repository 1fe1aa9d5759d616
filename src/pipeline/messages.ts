import type { PackId } from '../core/ids.js';
import type { PackEntry } from '../format/pack-writer.js';
import type { BlobWrites, BlobWritesResult, RestoreBatch, RestoreBatchResult } from './restore-task.js';
import type { PackBufferSet } from './pack-buffers.js';

/** Keys and parameters a worker needs; sent once. Never logged. */
export interface InitMessage {
  kind: 'init';
  encKeys: { id: number; key: Uint8Array }[];
  currentEncKey: number;
  idKey: Uint8Array;
  compressionLevel: number;
  packSize: number;
  /** For file tasks: chunker parameters and gear table, the index cache, the shared claims. */
  chunker?: { min: number; avg: number; max: number; gear: Uint32Array };
  indexPath?: string | null;
  claims?: SharedArrayBuffer;
  /** For file tasks: the pack buffers all workers share (see pack-buffers.ts). */
  packBuffers?: PackBufferSet;
}

export interface FileItem {
  seq: number;
  path: Uint8Array;
  size: number;
  mtimeNs: string;
  ctimeNs: string;
}

/**
 * Main → worker: read, chunk, hash and store these files, in order. Files go in
 * batches because a message costs tens of microseconds, as much as a small file.
 */
export interface FileMessage {
  kind: 'files';
  items: FileItem[];
}

/** Main → worker: finish the open pack now (end of backup). */
export interface FlushMessage {
  kind: 'flush';
  seq: number;
}

/**
 * Main → worker: open blobs of one pack range and write them into an existing file at
 * their offsets (big files on restore; see restore-task.ts). The range's bytes are
 * transferred; plaintext never comes back.
 */
export interface WriteBlobsMessage extends BlobWrites {
  kind: 'writeBlobs';
  seq: number;
}

/** Main → worker: full verification of a pack (check --read-data). */
export interface VerifyPackMessage {
  kind: 'verify';
  seq: number;
  id: string;
  bytes: Uint8Array;
}

/**
 * Main → worker: create, write and finish these files from the pack ranges read for
 * them (see restore-task.ts), with blocking calls on the worker. Many files per message:
 * a message costs tens of microseconds, as much as writing a small file. The ranges'
 * bytes are transferred.
 */
export interface RestoreFilesMessage extends RestoreBatch {
  kind: 'restoreFiles';
  seq: number;
}

export type ToWorker = InitMessage | FileMessage | FlushMessage | WriteBlobsMessage | VerifyPackMessage | RestoreFilesMessage;

/**
 * Worker → main: a finished pack. `bytes` is a view into the worker's pack buffer
 * buffer number `buffer` (shared memory); the main thread releases it once the pack is stored.
 */
export interface PackMessage {
  kind: 'pack';
  id: PackId;
  bytes: Uint8Array;
  entries: PackEntry[];
  buffer: number;
}

export interface FlushedMessage {
  kind: 'flushed';
  seq: number;
}

export interface WroteBlobsMessage extends BlobWritesResult {
  kind: 'wroteBlobs';
  seq: number;
}

export interface VerifiedMessage {
  kind: 'verified';
  seq: number;
  problems: { kind: string; message: string; blobId?: string; offset?: number }[];
}

export interface FileDoneMessage {
  kind: 'filesDone';
  results: { seq: number; result: import('./file-task.js').FileResult }[];
}

export interface RestoredFilesMessage extends RestoreBatchResult {
  kind: 'restoredFiles';
  seq: number;
}

export interface ErrorMessage {
  kind: 'error';
  seq?: number;
  error: { code?: string; message: string; stack?: string };
}

export type FromWorker =
  | PackMessage
  | FlushedMessage
  | WroteBlobsMessage
  | VerifiedMessage
  | FileDoneMessage
  | RestoredFilesMessage
  | ErrorMessage;
