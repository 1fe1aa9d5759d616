import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CairnError, ERROR_CODES, type ErrorCode } from '../core/errors/index.js';
import type { PackId } from '../core/ids.js';
import { packCapacity, type PackEntry } from '../format/pack-writer.js';
import type { MasterKey } from '../crypto/master-key.js';
import type { FileItem, FromWorker, ToWorker } from './messages.js';
import type { BlobWrites, BlobWritesResult, RestoreBatch, RestoreBatchResult } from './restore-task.js';
import type { ClaimTable } from './claim-table.js';
import type { FileResult } from './file-task.js';
import { transferable } from './transferable.js';
import { createPackBuffers, releasePackBuffer, type PackBufferSet } from './pack-buffers.js';

export interface PoolConfig {
  masterKey: MasterKey;
  compressionLevel: number;
  packSize: number;
  threads?: number;
  /** For backupFile(): how to chunk, where the index cache is, and the shared claims. */
  files?: { chunker: { min: number; avg: number; max: number }; gear: Uint32Array; indexPath: string | null; claims: ClaimTable };
  /**
   * Pack buffers shared by the workers (file tasks): bounds the packs open or being
   * uploaded, hence their memory (× packCapacity). Default: threads + 1.
   */
  packBuffers?: number;
}

/**
 * Receives each pack a worker finished. `bytes` lives in the worker's pack buffer: the
 * handler must call `release` once it no longer needs them (after the upload, failed
 * or not), and must not touch them afterwards; the worker waits for a free buffer.
 */
export type PackHandler = (id: PackId, bytes: Buffer, entries: PackEntry[], release: () => void) => void;

/** Pack buffers shared by the backup workers: one each to fill, plus this many being uploaded. */
export const DEFAULT_PACK_BUFFERS_UPLOADING = 1;

interface Slot {
  worker: Worker;
  /** Requests sent and not yet answered, to pick the least busy worker. */
  tasks: number;
  dead: unknown;
}

/**
 * Where the compiled worker lives: next to this module in dist/, or — when running from
 * TypeScript sources under a test runner — in dist/ of the same checkout (npm test
 * builds first). Null when it cannot be found: callers then work on the main thread.
 */
function workerScript(): string | null {
  const here = import.meta.url;
  const url = here.endsWith('.ts') ? new URL('../../dist/pipeline/pack-worker.js', here) : new URL('./pack-worker.js', here);
  const path = fileURLToPath(url);
  return existsSync(path) ? path : null;
}

export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/**
 * A pool of worker threads for the CPU-heavy work: reading, chunking, hashing and
 * storing files on backup (each worker fills its own packs; dedup across workers goes
 * through the shared ClaimTable), opening blobs on restore, verifying packs on check.
 * The main thread keeps the walk, the trees, uploads and the index; data crosses by
 * transfer, never by copy.
 */
export class WorkerPool {
  private readonly slots: Slot[];
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (m: FromWorker) => void; reject: (e: unknown) => void }>();
  private failure: unknown = null;
  private onPack: PackHandler | null = null;
  private next = 0;
  /** Backup pools only: the buffers workers build packs in. */
  readonly packBuffers: PackBufferSet | null = null;

  private constructor(script: string, config: PoolConfig) {
    const n = Math.max(1, config.threads ?? defaultThreads());
    this.slots = [];
    if (config.files) {
      this.packBuffers = createPackBuffers(
        Math.max(1, config.packBuffers ?? n + DEFAULT_PACK_BUFFERS_UPLOADING),
        packCapacity(config.packSize, config.files.chunker.max),
      );
    }
    for (let i = 0; i < n; i++) {
      // A small young generation: workers allocate big buffers (outside the heap) and
      // little else, and a default-sized nursery only adds resident memory.
      const worker = new Worker(script, { resourceLimits: { maxYoungGenerationSizeMb: 8 } });
      const slot: Slot = { worker, tasks: 0, dead: null };
      worker.on('message', (m: FromWorker) => this.onMessage(slot, m));
      worker.on('error', (err) => this.fail(slot, err));
      worker.on('exit', (code) => {
        if (code !== 0 && !slot.dead && !this.closing) this.fail(slot, new CairnError('INTERNAL', `a worker thread exited with code ${code}`));
      });
      const mk = config.masterKey;
      const init: ToWorker = {
        kind: 'init',
        encKeys: mk.encKeys.map((k) => ({ id: k.id, key: new Uint8Array(k.key) })),
        currentEncKey: mk.currentEncKey,
        idKey: new Uint8Array(mk.idKey),
        compressionLevel: config.compressionLevel,
        packSize: config.packSize,
        ...(config.files
          ? {
              chunker: { ...config.files.chunker, gear: config.files.gear },
              indexPath: config.files.indexPath,
              claims: config.files.claims.buffer,
              packBuffers: this.packBuffers!,
            }
          : {}),
      };
      worker.postMessage(init);
      this.slots.push(slot);
    }
  }

  /** Starts a pool, or returns null when worker threads are unavailable (then work stays inline). */
  static start(config: PoolConfig): WorkerPool | null {
    if (!WorkerPool.available(config.threads)) return null;
    return new WorkerPool(workerScript()!, config);
  }

  static available(threads: number | undefined): boolean {
    return (threads ?? defaultThreads()) > 0 && workerScript() !== null;
  }

  get size(): number {
    return this.slots.length;
  }

  setPackHandler(h: PackHandler | null): void {
    this.onPack = h;
  }

  private fail(slot: Slot, err: unknown): void {
    slot.dead = err;
    this.failure ??= err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    for (const w of this.fileWaiting.values()) w.reject(err);
    this.fileWaiting.clear();
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    switch (m.kind) {
      case 'pack': {
        const release = () => releasePackBuffer(this.packBuffers!, m.buffer);
        if (!this.onPack) return release();
        this.onPack(m.id, Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength), m.entries, release);
        return;
      }
      case 'filesDone':
        for (const { seq, result } of m.results) {
          const w = this.fileWaiting.get(seq);
          if (!w) continue;
          this.fileWaiting.delete(seq);
          w.slot.tasks--;
          w.resolve(result);
        }
        return;
      case 'error': {
        const err = new CairnError(asErrorCode(m.error.code), m.error.message);
        const fw = m.seq !== undefined ? this.fileWaiting.get(m.seq) : undefined;
        if (fw) {
          this.fileWaiting.delete(m.seq!);
          fw.slot.tasks--;
          fw.reject(err);
        } else if (m.seq !== undefined && this.waiting.has(m.seq)) {
          this.waiting.get(m.seq)!.reject(err);
          this.waiting.delete(m.seq);
          slot.tasks--;
        } else {
          this.failure ??= err;
        }
        return;
      }
      default: {
        const w = this.waiting.get(m.seq);
        if (w) {
          this.waiting.delete(m.seq);
          slot.tasks--;
          w.resolve(m);
        }
      }
    }
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  private request<T extends FromWorker>(slot: Slot, msg: ToWorker & { seq: number }, transfer: ArrayBuffer[] = []): Promise<T> {
    this.throwIfFailed();
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(msg.seq, { resolve: resolve as (m: FromWorker) => void, reject });
      slot.tasks++;
      slot.worker.postMessage(msg, transfer);
    });
  }

  /** Every worker finishes its open pack; resolves after their packs were handed to the pack handler. */
  async flush(): Promise<void> {
    await Promise.all(this.slots.map((s) => this.request(s, { kind: 'flush', seq: ++this.seq })));
    this.throwIfFailed();
  }

  /** The worker with the fewest unanswered requests (round robin among equals). */
  private pick(): Slot {
    let best: Slot | null = null;
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[(this.next + i) % this.slots.length]!;
      if (!best || s.tasks < best.tasks) best = s;
    }
    this.next++;
    return best!;
  }

  private fileQueue: FileItem[] = [];
  private fileFlushScheduled = false;
  private readonly fileWaiting = new Map<number, { resolve: (r: FileResult) => void; reject: (e: unknown) => void; slot: Slot }>();

  /**
   * Reads, chunks, hashes and stores a file on a worker (needs `files` in the config).
   * Requests made in the same turn of the event loop go out as one batch per worker.
   */
  backupFile(path: Buffer, seen: { size: number; mtimeNs: bigint; ctimeNs: bigint }): Promise<FileResult> {
    this.throwIfFailed();
    const seq = ++this.seq;
    this.fileQueue.push({ seq, path: new Uint8Array(path), size: seen.size, mtimeNs: seen.mtimeNs.toString(), ctimeNs: seen.ctimeNs.toString() });
    if (!this.fileFlushScheduled) {
      this.fileFlushScheduled = true;
      setImmediate(() => this.flushFiles());
    }
    return new Promise<FileResult>((resolve, reject) => this.fileWaiting.set(seq, { resolve, reject, slot: this.slots[0]! }));
  }

  private flushFiles(): void {
    this.fileFlushScheduled = false;
    const batches = new Map<Slot, FileItem[]>();
    for (const item of this.fileQueue) {
      const waiting = this.fileWaiting.get(item.seq);
      if (!waiting || this.closing) continue; // rejected by close() or a failure meanwhile
      const slot = this.pick();
      slot.tasks++;
      waiting.slot = slot;
      let b = batches.get(slot);
      if (!b) batches.set(slot, (b = []));
      b.push(item);
    }
    this.fileQueue = [];
    for (const [slot, items] of batches) slot.worker.postMessage({ kind: 'files', items } satisfies ToWorker);
  }

  /**
   * Opens the blobs of one pack range on a worker and writes them into an existing file
   * at their offsets (see restore-task.ts). Transfers the range's bytes.
   */
  async writeBlobs(w: BlobWrites): Promise<BlobWritesResult> {
    const range = { ...w.range, bytes: transferable(w.range.bytes) };
    const m = await this.request<Extract<FromWorker, { kind: 'wroteBlobs' }>>(
      this.pick(),
      { ...w, range, kind: 'writeBlobs', seq: ++this.seq },
      [range.bytes.buffer as ArrayBuffer],
    );
    return m.error ? { error: m.error } : {};
  }

  /**
   * Creates, writes and finishes a batch of files on a worker (see restore-task.ts).
   * Transfers the ranges' bytes.
   */
  async restoreFiles(batch: RestoreBatch): Promise<RestoreBatchResult> {
    const ranges = batch.ranges.map((r) => ({ ...r, bytes: transferable(r.bytes) }));
    const m = await this.request<Extract<FromWorker, { kind: 'restoredFiles' }>>(
      this.pick(),
      { ...batch, ranges, kind: 'restoreFiles', seq: ++this.seq },
      ranges.map((r) => r.bytes.buffer as ArrayBuffer),
    );
    return { files: m.files, opened: m.opened };
  }

  /**
   * Full verification of a pack (hash, structure, every blob) on a worker. Transfers
   * `bytes`, unless they are shared memory: then the caller must not reuse them until
   * this resolves.
   */
  async verify(id: string, bytes: Buffer): Promise<{ kind: string; message: string }[]> {
    // Shared memory is posted as is (the worker reads it in place); anything else moves.
    const shared = bytes.buffer instanceof SharedArrayBuffer;
    const owned = shared ? bytes : transferable(bytes);
    const m = await this.request<Extract<FromWorker, { kind: 'verified' }>>(
      this.pick(),
      { kind: 'verify', seq: ++this.seq, id, bytes: owned },
      shared ? [] : [owned.buffer as ArrayBuffer],
    );
    return m.problems;
  }

  private closing = false;

  async close(): Promise<void> {
    this.closing = true;
    const closed = new CairnError('CANCELLED', 'worker pool closed');
    for (const w of this.waiting.values()) w.reject(closed);
    this.waiting.clear();
    for (const w of this.fileWaiting.values()) w.reject(closed);
    this.fileWaiting.clear();
    await Promise.all(this.slots.map((s) => s.worker.terminate().catch(() => undefined)));
  }
}

function asErrorCode(code: string | undefined): ErrorCode {
  return code !== undefined && code in ERROR_CODES ? (code as ErrorCode) : 'INTERNAL';
}
