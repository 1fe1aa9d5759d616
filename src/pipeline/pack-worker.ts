import { parentPort } from 'node:worker_threads';
import type { BlobId } from '../core/ids.js';
import { BlobHasher } from '../crypto/blob-hasher.js';
import { PackWriter, type PackEntry } from '../format/pack-writer.js';
import { PackBuffers } from './pack-buffers.js';
import { openBlob, openBlobInto, packKey, verifyPack } from '../format/pack-reader.js';
import { BlobScratch } from '../format/blob-scratch.js';
import { systemRandom } from '../core/random.js';
import type { FromWorker, InitMessage, ToWorker } from './messages.js';
import { restoreFiles, writeBlobs, type SealedRange } from './restore-task.js';
import { CairnError } from '../core/errors/index.js';
import Database from 'better-sqlite3';
import { createCutFinder } from '../chunker/create-cut-finder.js';
import { ClaimTable } from './claim-table.js';
import { backupFile, nativeFileAddon, type FileResult } from './file-task.js';
import { LruCache } from '../util/lru-cache.js';

/**
 * Worker thread: the CPU-heavy half of the pipeline. On backup it compresses and
 * encrypts blobs into its own open pack and hands finished packs back; on restore and
 * check it decrypts, decompresses and verifies. I/O and every decision (dedup, which
 * pack goes where) stay on the main thread.
 */
let init: InitMessage | null = null;
let hasher: BlobHasher | null = null;
let writer: PackWriter | null = null;
let files: FileContext | null = null;

interface FileContext {
  has: (id: string) => boolean;
  claims: ClaimTable;
  buffer: Buffer;
  params: { min: number; avg: number; max: number };
  gear: Uint32Array;
}

/** Lookups between two renewals of a worker's read transaction on the index cache. */
const READ_TXN_LOOKUPS = 2048;

function fileContext(): FileContext {
  if (files) return files;
  const c = init!.chunker!;
  // The index cache, read-only: blobs stored by earlier backups are not stored again.
  const db = init!.indexPath ? new Database(init!.indexPath, { readonly: true, fileMustExist: true }) : null;
  // Packs condemned by a gc mark are set before the backup starts, as on the main
  // thread (BlobIndex.find): usually there are none, and the plain primary-key lookup
  // costs ~5 µs where the one that excludes them costs ~25 (a first backup of 32k files
  // spent ~1 s of worker CPU here).
  const condemned = db ? (db.prepare('SELECT COUNT(*) AS n FROM condemned').get() as { n: number }).n : 0;
  const stmt = db?.prepare(
    condemned === 0
      ? 'SELECT 1 FROM blobs WHERE id = ? AND type = 0 LIMIT 1'
      : 'SELECT 1 FROM blobs WHERE id = ? AND type = 0 AND pack NOT IN (SELECT pack FROM condemned) LIMIT 1',
  );
  // Lookups run inside one read transaction, renewed every READ_TXN_LOOKUPS lookups.
  // In autocommit each lookup began its own, and every commit of the main thread (a pack
  // recorded) made the next one drop this connection's page cache and read its pages
  // again: ~24 µs a lookup during a backup against ~3 µs. The older view is enough:
  // blobs stored during this run are in the claims table, not looked up here. Renewing
  // lets the main thread's checkpoints move past this reader (the WAL stays small).
  let lookups = 0;
  db?.exec('BEGIN');
  files = {
    has: (id) => {
      if (!stmt) return false;
      if (++lookups % READ_TXN_LOOKUPS === 0) {
        db!.exec('COMMIT');
        db!.exec('BEGIN');
      }
      return stmt.get(id) !== undefined;
    },
    claims: new ClaimTable(init!.claims!),
    // Room for one unfinished chunk (at most max) plus the next read of at least 1 MiB.
    buffer: Buffer.allocUnsafe(c.max + 2 ** 20),
    params: { min: c.min, avg: c.avg, max: c.max },
    gear: c.gear,
  };
  return files;
}

let buffers: PackBuffers | null = null;
/** The pack buffer the open writer fills. */
let bufferIndex = -1;

function sealBlob(type: 'data' | 'tree', id: BlobId, data: Uint8Array): void {
  if (writer && !writer.fits(data.length)) finishPack();
  if (!writer) {
    buffers ??= new PackBuffers(init!.packBuffers!);
    const b = buffers.acquire();
    bufferIndex = b.index;
    writer = new PackWriter({ encKeyId: init!.currentEncKey, encKey: keyFor(init!.currentEncKey), random: systemRandom, buffer: b.bytes });
  }
  writer.add(type, id, data, init!.compressionLevel);
  if (writer.full(init!.packSize)) finishPack();
}

/** Decrypt and decompress buffers reused for every blob this thread opens and consumes at once (check, big files). */
const scratch = new BlobScratch();

/** Pack keys by salt: HKDF once per pack, not once per restore request. */
const packKeys = new LruCache<string, Buffer>(256);

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(msg, transfer);
}

function keyFor(id: number): Buffer {
  const k = init!.encKeys.find((e) => e.id === id);
  if (!k) throw new CairnError('REPO_CORRUPT', `data names unknown encryption key ${id}`);
  return Buffer.from(k.key);
}

function packKeyForSalt(encKeyId: number, salt: Uint8Array): Buffer {
  const saltKey = Buffer.from(salt).toString('base64');
  let key = packKeys.get(saltKey);
  if (!key) {
    key = packKey(keyFor(encKeyId), Buffer.from(salt));
    packKeys.set(saltKey, key);
  }
  return key;
}

/**
 * Opens one blob of a range read from a pack, checked against its id. With `scratch`
 * the result is a view of it, valid until the next open into the same scratch.
 */
function openInRange(range: SealedRange, e: PackEntry, scratch?: BlobScratch): Buffer {
  const key = packKeyForSalt(range.encKeyId, range.salt);
  const bytes = Buffer.from(range.bytes.buffer, range.bytes.byteOffset + e.offset - range.base, e.length);
  const plain = scratch ? openBlobInto(key, e, bytes, scratch) : openBlob(key, e, bytes);
  if (hasher!.id(plain) !== e.id) throw new CairnError('PACK_CORRUPT', `blob ${e.id.slice(0, 8)} does not match its id`);
  return plain;
}

function finishPack(): void {
  if (!writer || writer.count === 0) return;
  const { bytes, id, entries } = writer.finish();
  writer = null;
  // Shared memory: posting the view shares it, nothing is copied or transferred.
  post({ kind: 'pack', id, bytes, entries, buffer: bufferIndex });
}

function handle(msg: ToWorker): void {
  switch (msg.kind) {
    case 'init':
      init = msg;
      hasher = new BlobHasher(msg.idKey);
      return;
    case 'files': {
      const f = fileContext();
      const deps = {
        finder: () => createCutFinder(f.params, f.gear),
        id: (chunk: Uint8Array) => hasher!.id(chunk),
        claimNew: (id: BlobId) => !f.has(id) && f.claims.claim(id),
        store: (id: BlobId, chunk: Uint8Array) => sealBlob('data', id, chunk),
        buffer: f.buffer,
        ...(nativeFileAddon ? { addon: nativeFileAddon } : {}),
      };
      const results: { seq: number; result: FileResult }[] = [];
      for (const item of msg.items) {
        try {
          const path = Buffer.from(item.path.buffer, item.path.byteOffset, item.path.byteLength);
          const seen = { size: item.size, mtimeNs: BigInt(item.mtimeNs), ctimeNs: BigInt(item.ctimeNs) };
          results.push({ seq: item.seq, result: backupFile(path, seen, deps) });
        } catch (err) {
          const e = err as CairnError;
          post({ kind: 'error', seq: item.seq, error: { code: e.code, message: e.message, stack: e.stack } });
        }
      }
      post({ kind: 'filesDone', results });
      return;
    }
    case 'flush':
      finishPack();
      post({ kind: 'flushed', seq: msg.seq });
      return;
    case 'writeBlobs': {
      post({ kind: 'wroteBlobs', seq: msg.seq, ...writeBlobs(msg, (range, e) => openInRange(range, e, scratch)) });
      return;
    }
    case 'restoreFiles': {
      post({ kind: 'restoredFiles', seq: msg.seq, ...restoreFiles(msg, { open: (range, e) => openInRange(range, e) }) });
      return;
    }
    case 'verify': {
      const bytes = Buffer.from(msg.bytes.buffer, msg.bytes.byteOffset, msg.bytes.byteLength);
      const problems = verifyPack(bytes, msg.id, keyFor, hasher!, scratch);
      post({ kind: 'verified', seq: msg.seq, problems });
      return;
    }
  }
}

parentPort!.on('message', (msg: ToWorker) => {
  try {
    handle(msg);
  } catch (err) {
    const e = err as CairnError;
    post({ kind: 'error', ...('seq' in msg ? { seq: msg.seq } : {}), error: { code: e.code, message: e.message, stack: e.stack } });
  }
});
