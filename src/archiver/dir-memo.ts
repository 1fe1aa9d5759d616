import type { BlobId } from '../core/ids.js';
import type { BlobHasher } from '../crypto/blob-hasher.js';

/** What a directory of a snapshot was built from, besides its listing: its tree and its subdirectories' trees. */
export interface DirMemoEntry {
  tree: BlobId;
  /** The subdirectories' tree ids, in the tree's order. */
  subtrees: BlobId[];
}

const MAGIC = Buffer.from('CAIRN-DIRMEMO-1\n', 'latin1');
const ID = 32;
/** An entry: listing key, tree id, subdirectory count (u32 LE), subdirectories' tree ids. */
const entryLength = (subtrees: number): number => 2 * ID + 4 + ID * subtrees;
/** Separates listing keys from every other use of the id key (blob ids among them). */
const LISTING_DOMAIN = Buffer.from('cairn dir listing v1\0', 'latin1');

/**
 * Beyond this many directories a backup records no memo: the next one builds every
 * tree as before. A memo costs ~100 bytes per directory (more with many subdirectories)
 * and 8 bytes of its lookup table, both while recorded and while loaded: the cap keeps
 * the pair under ~45 MB (the "under 300 MiB for any tree" bound).
 */
export const MAX_MEMO_DIRS = 200_000;

/**
 * Each directory of one snapshot of a files source, keyed by its path and its listing
 * as the walk read it (every entry's name, lstat numbers with mtime and ctime, and
 * atime when the backup records it, symlink target: DirListing.raw), with the tree
 * that listing became and its subdirectories' trees.
 *
 * The next backup with that snapshot as parent looks each directory's listing up: a
 * directory listed byte for byte as before has the same entries with the same metadata,
 * so the same nodes (files' content is trusted to metadata, as for unchanged files
 * anyway). If its subdirectories also come out as before, its tree is the old one, taken
 * without loading the parent's tree or building a node; else the old tree's nodes are
 * kept with the new subtrees. An unchanged backup then costs the walk and a keyed hash
 * per directory.
 *
 * Valid only for backups with the same selection (`config`: exclude patterns, one file
 * system, atime, the uid/gid names; all decide what a listing becomes), and only as the
 * parent's (its trees are the parent's, so they are stored). Kept in the local cache,
 * authenticated with the repository's id key: a damaged or foreign memo is ignored,
 * never trusted.
 */
export class DirMemo {
  private constructor(
    private readonly bytes: Buffer,
    /**
     * Open addressing over the entries' offsets (-1: empty), by the key's first four
     * bytes (keys are keyed hashes, so uniform): a Map of string keys cost ~100 bytes a
     * directory more, ~10 MB for 100k directories.
     */
    private readonly slots: Int32Array,
    readonly size: number,
  ) {}

  /**
   * A memo written by DirMemoRecorder.encode with the same hasher and config, or null
   * when it is not one: damaged, truncated, another repository's or another selection's.
   */
  static decode(bytes: Buffer, hasher: BlobHasher, config: string): DirMemo | null {
    const head = MAGIC.length + ID + 4;
    if (bytes.length < head + ID || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return null;
    if (!bytes.subarray(MAGIC.length, MAGIC.length + ID).equals(configDigest(hasher, config))) return null;
    const body = bytes.subarray(0, bytes.length - ID);
    if (!hasher.digestOf([body]).equals(bytes.subarray(bytes.length - ID))) return null;
    const n = body.readUInt32LE(MAGIC.length + ID);
    let capacity = 16;
    while (capacity < 2 * n) capacity *= 2;
    const memo = new DirMemo(body, new Int32Array(capacity).fill(-1), n);
    let o = head;
    for (let i = 0; i < n; i++) {
      if (o + entryLength(0) > body.length) return null;
      const next = o + entryLength(body.readUInt32LE(o + 2 * ID));
      if (next > body.length) return null;
      const slot = memo.find(body.subarray(o, o + ID));
      if (memo.slots[slot] === -1) memo.slots[slot] = o; // a key recorded twice keeps its first entry
      o = next;
    }
    if (o !== body.length) return null;
    return memo;
  }

  /**
   * The key of a directory's listing (the walk's rawListing) at its path, 32 bytes. The
   * path counts: two directories can list alike (hard links to the same files under the
   * same names), and an exclude pattern can leave out an entry of one and not of the
   * other. The listing's last part, the access times, counts only for a backup that
   * records them: otherwise a directory whose files were only read is the same.
   */
  static listingKey(hasher: BlobHasher, path: Buffer, raw: readonly Buffer[], atime: boolean): Buffer {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(path.length);
    return hasher.digestOf([LISTING_DOMAIN, length, path, ...(atime ? raw : raw.slice(0, -1))]);
  }

  get(key: Buffer): DirMemoEntry | undefined {
    const o = this.slots[this.find(key)]!;
    if (o === -1) return undefined;
    const b = this.bytes;
    const n = b.readUInt32LE(o + 2 * ID);
    const subtrees: BlobId[] = new Array(n);
    for (let i = 0; i < n; i++) subtrees[i] = b.toString('hex', o + 2 * ID + 4 + i * ID, o + 3 * ID + 4 + i * ID) as BlobId;
    return { tree: b.toString('hex', o + ID, o + 2 * ID) as BlobId, subtrees };
  }

  /** The slot holding `key`, or the empty one where it would go. */
  private find(key: Buffer): number {
    const mask = this.slots.length - 1;
    for (let i = key.readUInt32LE(0) & mask; ; i = (i + 1) & mask) {
      const o = this.slots[i]!;
      if (o === -1 || this.bytes.compare(key, 0, ID, o, o + ID) === 0) return i;
    }
  }
}

/** Records a backup's directories as they are finished, for the next backup's DirMemo. */
export class DirMemoRecorder {
  private readonly chunks: Buffer[] = [];
  private current = Buffer.allocUnsafe(1 << 16);
  private used = 0;
  private count = 0;
  private full = false;
  private readonly config: Buffer;

  constructor(
    private readonly hasher: BlobHasher,
    config: string,
    private readonly maxDirs = MAX_MEMO_DIRS,
  ) {
    this.config = configDigest(hasher, config);
  }

  get size(): number {
    return this.count;
  }

  /** False once more than its cap (MAX_MEMO_DIRS) were offered: such a memo is not kept. */
  get complete(): boolean {
    return !this.full;
  }

  /** Records a directory (a key recorded twice, equal listings, keeps its first entry: they give equal trees). */
  set(key: Buffer, entry: DirMemoEntry): void {
    if (this.full) return;
    if (this.count >= this.maxDirs) {
      this.full = true;
      this.chunks.length = 0;
      this.current = Buffer.alloc(0);
      return;
    }
    const need = entryLength(entry.subtrees.length);
    if (this.used + need > this.current.length) {
      this.chunks.push(this.current.subarray(0, this.used));
      this.current = Buffer.allocUnsafe(Math.max(1 << 16, need));
      this.used = 0;
    }
    const c = this.current;
    const at = this.used;
    key.copy(c, at, 0, ID);
    c.write(entry.tree, at + ID, ID, 'hex');
    c.writeUInt32LE(entry.subtrees.length, at + 2 * ID);
    for (let i = 0; i < entry.subtrees.length; i++) c.write(entry.subtrees[i]!, at + 2 * ID + 4 + i * ID, ID, 'hex');
    this.used += need;
    this.count++;
  }

  /**
   * The memo as stored: magic, config digest, count, entries, then the keyed hash of all
   * that. Written into one buffer, and the recorded entries let go: at 100k directories
   * a concatenated copy more was 10 MB at the backup's end, its peak there.
   */
  encode(): Buffer {
    const head = Buffer.alloc(MAGIC.length + ID + 4);
    MAGIC.copy(head);
    this.config.copy(head, MAGIC.length);
    head.writeUInt32LE(this.count, MAGIC.length + ID);
    const parts = [head, ...this.chunks, this.current.subarray(0, this.used)];
    this.chunks.length = 0;
    this.current = Buffer.alloc(0);
    this.used = 0;
    const length = parts.reduce((n, p) => n + p.length, 0);
    const out = Buffer.allocUnsafe(length + ID);
    let at = 0;
    for (const p of parts) at += p.copy(out, at);
    this.hasher.digestOf([out.subarray(0, length)]).copy(out, length);
    return out;
  }
}

function configDigest(hasher: BlobHasher, config: string): Buffer {
  return hasher.digestOf([Buffer.from(`cairn dir memo config v1\0${config}`, 'utf8')]);
}
