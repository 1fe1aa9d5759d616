import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import pLimit from 'p-limit';
import type { Backend } from '../backend/types.js';
import { isNotFound } from '../backend/types.js';
import { CairnError, fromSystemError, fromSystemErrorOrIo } from '../core/errors/index.js';
import type { Clock } from '../core/clock.js';
import type { RandomSource } from '../core/random.js';
import { asSnapshotId, isId, type BlobId, type BlobType, type PackId, type SnapshotId } from '../core/ids.js';
import { BlobHasher } from '../crypto/blob-hasher.js';
import { encKey, generateMasterKey, type MasterKey } from '../crypto/master-key.js';
import { createKeySlot, serializeKeySlot, DEFAULT_KDF, type KdfParams, type SlotRole } from '../crypto/key-slot.js';
import { withAppendOnly } from '../backend/with-append-only.js';
import { openSealedFile, sealFile, type SealedKind } from '../format/sealed-file.js';
import { openBlob, packKey } from '../format/pack-reader.js';
import { packCapacity } from '../format/pack-writer.js';
import { TreePacks } from './tree-packs.js';
import { gearTable } from '../chunker/gear-table.js';
import { DEFAULT_CHUNKER, validateChunkerParams } from '../chunker/fast-cdc.js';
import type { ChunkerParams } from '../chunker/types.js';
import { BlobIndex, type BlobLocation, type PackRecord } from '../index/blob-index.js';
import { decodeTree, type Tree } from '../snapshot/tree.js';
import { parseSnapshotBody, type SnapshotBody } from '../snapshot/snapshot.js';
import { parseWalRecordBody, type WalRecordBody } from '../snapshot/wal-record.js';
import { computeKeyCheck, FORMAT_VERSION, parseRepoConfig, type RepoConfig } from './repo-config.js';
import { unlockMasterKey } from './key-manager.js';
import { LruCache } from '../util/lru-cache.js';

export interface RepositoryDeps {
  clock: Clock;
  random: RandomSource;
  /** Root of the local cache; the index lives in <cacheDir>/<repo id>/. ':memory:' keeps it in RAM (tests). */
  cacheDir: string;
  /** Worker threads for CPU-heavy work; undefined = one per core, 0 = main thread only. */
  threads?: number;
}

export interface InitParams {
  kdf?: KdfParams;
  chunker?: ChunkerParams;
  packSize?: number;
  compressionLevel?: number;
  /** A mirror: wrap this (the primary's) master key instead of generating one. */
  masterKey?: MasterKey;
  /** A mirror: the primary's repository id, recorded in the config. */
  mirrorOf?: string;
}

export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;

const DIR_OF: Record<SealedKind, string> = { index: 'index', snapshot: 'snapshots', lock: 'locks', gc: 'gc', wal: 'wal' };

export function packName(id: string): string {
  return `data/${id.slice(0, 2)}/${id}`;
}

/**
 * An opened repository: its config, its master key, and the local index cache.
 * Everything above it (archiver, restorer, check, prune) goes through this class;
 * it is the only place that knows where files live in the backend.
 */
export class Repository {
  /**
   * Ids of the gc marks loaded by the last index sync: their packs count as absent for
   * deduplication in this process. A writer lock publishes them (RepoLock.recordMarksSeen)
   * so prune knows which marks this writer can no longer be relying on.
   */
  gcMarksKnown: readonly string[] = [];
  /**
   * For those marks, by id, the snapshots each was computed from (absent for an older
   * mark that does not say): a snapshot in a mark's set has no blob only in its packs.
   */
  gcMarkSnapshots: ReadonlyMap<string, ReadonlySet<string>> = new Map();
  readonly hasher: BlobHasher;
  readonly gear: Uint32Array;
  // Bounded by nodes, not only trees: 2048 directories of 500 files each held ~60 MB.
  private readonly treeCache = new LruCache<string, Tree>(2048, 20_000, (t) => t.nodes.length);
  private readonly packKeys = new LruCache<string, Buffer>(256);
  private readonly treePacks: TreePacks;
  private readonly packRecords = new LruCache<PackId, PackRecord>(256);

  private constructor(
    readonly backend: Backend,
    readonly config: RepoConfig,
    public masterKey: MasterKey,
    readonly keyId: string,
    readonly index: BlobIndex,
    readonly deps: RepositoryDeps,
    /** Role of the key slot that opened the repository (an append-only one gets a guarded backend). */
    readonly keyRole: SlotRole = 'full',
  ) {
    this.hasher = new BlobHasher(masterKey.idKey);
    this.gear = gearTable(masterKey.chunkerSeed);
    // 32 MiB of tree packs, or room for two of a bigger pack size.
    const treePackBytes = Math.max(32 * 2 ** 20, 2 * packCapacity(config.packSize, config.chunker.max));
    this.treePacks = new TreePacks((pack) => this.backend.load(packName(pack)), this.keyFor, treePackBytes);
  }

  get id(): string {
    return this.config.id;
  }

  static async init(backend: Backend, password: string, deps: RepositoryDeps, params: InitParams = {}): Promise<Repository> {
    if (await exists(backend, 'config')) {
      throw new CairnError('REPO_EXISTS', `a repository already exists at ${backend.location}`);
    }
    const chunker = params.chunker ?? DEFAULT_CHUNKER;
    validateChunkerParams(chunker);
    const now = deps.clock.now();
    const id = deps.random(32).toString('hex');
    const mk = params.masterKey ?? generateMasterKey(deps.random, now);
    const config: RepoConfig = {
      format: 'cairn-repository',
      version: FORMAT_VERSION,
      id,
      created: now.toISOString(),
      chunker: { algorithm: 'fastcdc', min: chunker.min, avg: chunker.avg, max: chunker.max },
      compression: { algorithm: 'zstd', level: params.compressionLevel ?? 3 },
      packSize: params.packSize ?? DEFAULT_PACK_SIZE,
      keyCheck: computeKeyCheck(mk.idKey, id),
      ...(params.mirrorOf ? { mirrorOf: params.mirrorOf } : {}),
    };
    const slot = await createKeySlot(mk, password, config.id, {
      kdf: params.kdf ?? DEFAULT_KDF,
      host: hostname(),
      user: safeUser(),
      label: params.mirrorOf ? 'initial key (mirror)' : 'initial key',
      random: deps.random,
      now,
    });
    // Key slot first, config last: a repository without config is "not found", never half-made.
    await backend.save(`keys/${slot.id}`, serializeKeySlot(slot), { overwrite: true });
    await backend.save('config', Buffer.from(JSON.stringify(config, null, 2) + '\n'), { overwrite: true });
    const index = openIndexCache(deps.cacheDir, config.id);
    return new Repository(backend, config, mk, slot.id, index, deps);
  }

  static async open(backend: Backend, password: string, deps: RepositoryDeps): Promise<Repository> {
    const config = await loadConfig(backend, 'check --repo / CAIRN_REPO, or create one with `cairn init`');
    const { masterKey, keyId, role } = await unlockMasterKey(backend, config.id, password);
    const index = openIndexCache(deps.cacheDir, config.id);
    const guarded = role === 'append-only' ? withAppendOnly(backend) : backend;
    return new Repository(guarded, config, masterKey, keyId, index, deps, role);
  }

  /**
   * Opens a repository that shares `masterKey` (a mirror) without a password and without
   * scrypt: its config's keyCheck must match the key, and its chunking the expected one
   * (MIRROR_MISMATCH otherwise). The session has no key slot of its own (keyId '').
   */
  static async openWithMasterKey(
    backend: Backend,
    masterKey: MasterKey,
    deps: RepositoryDeps,
    expect: { notId: string; chunker: ChunkerParams; role?: SlotRole },
  ): Promise<Repository> {
    const config = await loadConfig(backend, 'create the mirror with `cairn init --repo MIRROR --mirror-of PRIMARY`');
    if (config.id === expect.notId) {
      throw new CairnError('USAGE', `${backend.location} is the same repository as the primary (same id ${config.id.slice(0, 8)})`, {
        hint: 'a mirror must be a separate repository made with `cairn init --mirror-of`; a byte-for-byte copy of the directory shares the id and cannot be one',
      });
    }
    const c = config.chunker;
    if (config.keyCheck !== computeKeyCheck(masterKey.idKey, config.id)) {
      throw new CairnError('MIRROR_MISMATCH', `${backend.location} does not share the primary's keys${config.keyCheck ? '' : ' (its config has no keyCheck)'}`, {
        hint: 'create the mirror with `cairn init --repo MIRROR --mirror-of PRIMARY`, or use `cairn copy` between independent repositories',
        details: { mirror: backend.location },
      });
    }
    if (c.min !== expect.chunker.min || c.avg !== expect.chunker.avg || c.max !== expect.chunker.max) {
      throw new CairnError('MIRROR_MISMATCH', `${backend.location} uses other chunking parameters than the primary`, {
        hint: 'create the mirror with `cairn init --repo MIRROR --mirror-of PRIMARY`',
        details: { mirror: backend.location },
      });
    }
    const index = openIndexCache(deps.cacheDir, config.id);
    // A primary opened with an append-only key writes to its mirrors under the same limits.
    const role = expect.role ?? 'full';
    return new Repository(role === 'append-only' ? withAppendOnly(backend) : backend, config, masterKey, '', index, deps, role);
  }

  keyFor = (id: number): Buffer => encKey(this.masterKey, id);

  async close(): Promise<void> {
    this.index.close();
    await this.backend.close();
  }

  // ---- sealed files -------------------------------------------------------

  /**
   * Index, snapshot and gc files are read back and compared before they count as written,
   * as packs are (BlobSaver): a store that truncates or corrupts a write must never get a
   * backup reported as done. They are small, so this costs one read. A damaged copy is
   * removed at once: a file that does not open would fail every later listing.
   */
  async saveSealed(kind: SealedKind, body: unknown): Promise<string> {
    const { bytes, id } = sealFile(kind, body, this.masterKey.currentEncKey, this.keyFor(this.masterKey.currentEncKey), this.deps.random);
    const name = `${DIR_OF[kind]}/${id}`;
    await this.backend.save(name, bytes);
    let back: Buffer;
    try {
      back = await this.backend.load(name);
    } catch (err) {
      // Gone already: someone who had read it removed it (a prune that folded this index
      // file into a new one, a forget of this very snapshot). Saves are atomic, so it
      // was written whole, and its content lives on where that reader put it.
      if (isNotFound(err)) return id;
      throw err;
    }
    if (!back.equals(bytes)) {
      await this.backend.remove(name).catch(() => undefined);
      throw new CairnError('REPO_CORRUPT', `${kind} file ${id.slice(0, 8)} read back from ${this.backend.location} differs from what was written`, {
        hint: 'the storage is damaging writes; the operation was not completed',
        details: { file: name },
      });
    }
    return id;
  }

  async loadSealed(kind: SealedKind, id: string): Promise<unknown> {
    const bytes = await this.backend.load(`${DIR_OF[kind]}/${id}`);
    return openSealedFile(bytes, kind, this.keyFor);
  }

  async listIds(kind: SealedKind): Promise<string[]> {
    const out: string[] = [];
    const prefix = `${DIR_OF[kind]}/`;
    for await (const f of this.backend.list(prefix)) {
      const id = f.name.slice(prefix.length);
      if (isId(id)) out.push(id);
    }
    return out;
  }

  // ---- snapshots ----------------------------------------------------------

  async saveSnapshot(body: SnapshotBody): Promise<SnapshotId> {
    return asSnapshotId(await this.saveSealed('snapshot', body));
  }

  async loadSnapshot(id: SnapshotId): Promise<SnapshotBody> {
    try {
      return parseSnapshotBody(await this.loadSealed('snapshot', id), id);
    } catch (err) {
      if (isNotFound(err)) throw new CairnError('SNAPSHOT_NOT_FOUND', `snapshot ${id.slice(0, 8)} does not exist`);
      throw err;
    }
  }

  /** All snapshots, oldest first. Snapshot files are immutable, so their bodies are cached locally. */
  async listSnapshots(): Promise<{ id: SnapshotId; body: SnapshotBody }[]> {
    const ids = await this.listIds('snapshot');
    const limit = pLimit(8);
    const out = await Promise.all(
      ids.map((id) =>
        limit(async () => {
          const cached = this.index.getMeta(`snapshot:${id}`);
          if (cached) return { id: asSnapshotId(id), body: JSON.parse(cached) as SnapshotBody };
          try {
            const body = await this.loadSnapshot(asSnapshotId(id));
            this.index.setMeta(`snapshot:${id}`, JSON.stringify(body));
            return { id: asSnapshotId(id), body };
          } catch (err) {
            // Removed by a concurrent forget between list and load: not an error.
            if (err instanceof CairnError && err.code === 'SNAPSHOT_NOT_FOUND') return null;
            throw err;
          }
        }),
      ),
    );
    return out
      .filter((s): s is { id: SnapshotId; body: SnapshotBody } => s !== null)
      .sort((a, b) => a.body.time.localeCompare(b.body.time) || a.id.localeCompare(b.id));
  }

  async removeSnapshot(id: SnapshotId): Promise<void> {
    await this.backend.remove(`snapshots/${id}`);
  }

  // ---- WAL catalog records -------------------------------------------------

  async saveWalRecord(body: WalRecordBody): Promise<string> {
    return this.saveSealed('wal', body);
  }

  /**
   * Every WAL catalog record, oldest first. Like snapshots they are immutable, so their
   * bodies are cached locally; a record removed between list and load is skipped.
   */
  async listWalRecords(): Promise<{ id: string; body: WalRecordBody }[]> {
    const ids = await this.listIds('wal');
    const limit = pLimit(8);
    const out = await Promise.all(
      ids.map((id) =>
        limit(async () => {
          const cached = this.index.getMeta(`wal:${id}`);
          if (cached) return { id, body: JSON.parse(cached) as WalRecordBody };
          try {
            const body = parseWalRecordBody(await this.loadSealed('wal', id), id);
            this.index.setMeta(`wal:${id}`, JSON.stringify(body));
            return { id, body };
          } catch (err) {
            if (isNotFound(err)) return null;
            throw err;
          }
        }),
      ),
    );
    return out
      .filter((r): r is { id: string; body: WalRecordBody } => r !== null)
      .sort((a, b) => a.body.created.localeCompare(b.body.created) || a.id.localeCompare(b.id));
  }

  async removeWalRecord(id: string): Promise<void> {
    await this.backend.remove(`wal/${id}`);
  }

  // ---- blobs --------------------------------------------------------------

  /** Reads, decrypts and verifies one blob: its keyed hash must equal its id. */
  async loadBlob(type: BlobType, id: BlobId): Promise<Buffer> {
    // A tree in a tree pack kept from an earlier load: no index query; verified like any blob.
    const inKept = type === 'tree' ? this.treePacks.find(id) : undefined;
    if (inKept) {
      const { kept, entry: e } = inKept;
      return this.openBlobAt({ ...e, pack: kept.record.id }, kept.record, kept.bytes.subarray(e.offset, e.offset + e.length));
    }
    const loc = this.index.findForRead(type, id);
    if (!loc) {
      throw new CairnError('BLOB_MISSING', `${type} blob ${id.slice(0, 8)} is in no pack of the index`, {
        hint: 'run `cairn repair index`; if it stays missing, run `cairn check`',
        details: { blob: id, type },
      });
    }
    const pack = this.packRecord(loc.pack);
    if (!pack) throw new CairnError('REPO_CORRUPT', `index names blob ${id.slice(0, 8)} in unknown pack ${loc.pack.slice(0, 8)}`);
    let sealed: Buffer;
    try {
      sealed =
        type === 'tree'
          ? (await this.treePacks.get(loc.pack)).bytes.subarray(loc.offset, loc.offset + loc.length)
          : await this.backend.load(packName(loc.pack), { offset: loc.offset, length: loc.length });
    } catch (err) {
      if (isNotFound(err)) {
        throw new CairnError('BLOB_MISSING', `pack ${loc.pack.slice(0, 8)} holding ${type} blob ${id.slice(0, 8)} is missing`, {
          hint: 'run `cairn check` to see which snapshots are affected',
          details: { pack: loc.pack, blob: id },
        });
      }
      throw err;
    }
    return this.openBlobAt(loc, pack, sealed);
  }

  /** Decrypts and decompresses a blob read from its pack, and checks it hashes to its id. */
  openBlobAt(loc: BlobLocation, pack: PackRecord, sealed: Buffer): Buffer {
    const plain = openBlob(this.packKeyFor(loc.pack, pack.encKeyId, pack.salt), { ...loc }, sealed);
    if (this.hasher.id(plain) !== loc.id) {
      throw new CairnError('PACK_CORRUPT', `blob ${loc.id.slice(0, 8)} in pack ${loc.pack.slice(0, 8)} does not match its id`, {
        details: { pack: loc.pack, blob: loc.id },
      });
    }
    return plain;
  }

  /**
   * A pack's record (size, key, salt) never changes for its id, and walking trees reads
   * thousands of blobs from a few packs: one index query per pack, not per blob.
   */
  private packRecord(id: PackId): PackRecord | undefined {
    let r = this.packRecords.get(id);
    if (!r) {
      r = this.index.getPack(id);
      if (r) this.packRecords.set(id, r);
    }
    return r;
  }

  /** Pack keys are derived once per pack, not once per blob read. */
  private packKeyFor(pack: string, encKeyId: number, salt: Buffer): Buffer {
    let k = this.packKeys.get(pack);
    if (!k) {
      k = packKey(this.keyFor(encKeyId), salt);
      this.packKeys.set(pack, k);
    }
    return k;
  }

  async loadTree(id: BlobId): Promise<Tree> {
    const hit = this.treeCache.get(id);
    if (hit) return hit;
    const tree = decodeTree(await this.loadBlob('tree', id), id);
    this.treeCache.set(id, tree);
    return tree;
  }
}

/** The parsed config, or REPO_NOT_FOUND (with `hint`) when there is none. */
async function loadConfig(backend: Backend, hint: string): Promise<RepoConfig> {
  let bytes: Buffer;
  try {
    bytes = await backend.load('config');
  } catch (err) {
    if (isNotFound(err)) throw new CairnError('REPO_NOT_FOUND', `no repository at ${backend.location}`, { hint });
    throw err;
  }
  return parseRepoConfig(bytes, backend.location);
}

async function exists(backend: Backend, name: string): Promise<boolean> {
  try {
    await backend.stat(name);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/**
 * The cache is disposable: one that cannot be opened (corrupt, written by an
 * incompatible version, truncated by a full disk) is deleted and rebuilt from the
 * repository rather than failing the command.
 */
function openIndexCache(cacheDir: string, repoId: string): BlobIndex {
  if (cacheDir === ':memory:') return new BlobIndex(':memory:');
  const path = join(cacheDir, repoId, 'index.sqlite');
  try {
    return new BlobIndex(path);
  } catch (err) {
    if ((err as { code?: string }).code === 'EACCES' || (err as { code?: string }).code === 'ENOSPC') throw fromSystemError(err, path);
    for (const f of [path, `${path}-wal`, `${path}-shm`]) {
      try {
        rmSync(f, { force: true });
      } catch {
        // Not a file (a directory in its place): the second open reports it.
      }
    }
    try {
      return new BlobIndex(path);
    } catch (again) {
      throw indexCacheError(again, path);
    }
  }
}

/**
 * What a failure to open the index cache a second time means, as one clear line: errno
 * codes as everywhere, and SQLite's own codes (better-sqlite3 reports the extended one,
 * e.g. SQLITE_IOERR_SHMOPEN) for what the file system did to it.
 */
export function indexCacheError(err: unknown, path: string): unknown {
  const code = (err as { code?: unknown }).code;
  const hint = `the index cache is disposable: check the disk, or move the cache (--cache-dir / CAIRN_CACHE_DIR); it is rebuilt from the repository`;
  // Not SQLite's: the cache directory cannot be made (a file in the way, a name too
  // long, a loop). The setting is wrong, and the message must say which setting.
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return fromSystemErrorOrIo(err, path, (e) => `cannot create the index cache ${path}: ${e.message}`, hint);
  if (code === 'SQLITE_FULL') return fromSystemError(Object.assign(new Error(code), { code: 'ENOSPC' }), path);
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_PERM')) {
    return new CairnError('PERMISSION_DENIED', `cannot write the index cache ${path} (${code})`, { cause: err, hint });
  }
  return new CairnError('IO_ERROR', `the index cache ${path} cannot be opened (${code}: ${(err as Error).message})`, { cause: err, hint });
}

export function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}

export function defaultHost(): string {
  return hostname();
}
