import type { PackId } from '../core/ids.js';
import type { PackEntry } from '../format/pack-writer.js';
import type { RestoreBatch, RestoreBatchResult } from './restore-task.js';
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

/** Main → worker: decrypt, decompress and verify blobs of one pack (restore, repack). */
export interface OpenBlobsMessage {
  kind: 'open';
  seq: number;
  encKeyId: number;
  salt: Uint8Array;
  entries: PackEntry[];
  /** One contiguous range of the pack holding every entry, transferred; `base` is its pack offset. */
  bytes: Uint8Array;
  base: number;
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

export type ToWorker = InitMessage | FileMessage | FlushMessage | OpenBlobsMessage | VerifyPackMessage | RestoreFilesMessage;

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

export interface OpenedMessage {
  kind: 'opened';
  seq: number;
  /** Plaintexts in entry order, or an error for the entries that failed. */
  plain: (Uint8Array | { error: { code: string; message: string } })[];
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
  | OpenedMessage
  | VerifiedMessage
  | FileDoneMessage
  | RestoredFilesMessage
  | ErrorMessage;
