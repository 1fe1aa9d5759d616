import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * The optional C addon (native/, built by `npm install` via node-gyp). Everything here has
 * a fallback, so Cairn runs without it, with these losses:
 *  - xattrs are neither read nor restored (callers print ONE warning, using
 *    nativeLoadError(), not one per file);
 *  - timestamps are set with fs.utimes/lutimes, which take float seconds: a double holds
 *    ~1.7e9 s with a resolution of about 2^-22 s, so restored times are off by up to
 *    a quarter of a microsecond (sub-microsecond digits are lost);
 *  - fifos are made with the `mkfifo` command and devices with `mknod`, which cannot
 *    take a path that is not valid UTF-8 (such entries are skipped with a warning);
 *  - check reads packs through the page cache (no aligned buffers, so no O_DIRECT).
 *
 * Set CAIRN_NO_NATIVE=1 to run as if the addon were missing (tests use it; also a way
 * out if a broken build crashes).
 *
 * Errors thrown by the addon look like node:fs errors: `code` is the errno name
 * (ENOTSUP, ENODATA, EACCES, ...), `errno` is the negated errno as in Node, plus
 * `syscall` and `path`. Paths are Buffers (raw bytes) so non-UTF-8 names work; strings
 * are accepted too. All calls are synchronous system calls on the calling thread, but
 * scanDirs, which runs on the thread pool.
 */
export interface NativeFs {
  /** The value, or null when the entry has no attribute of that name (ENODATA). */
  lgetxattr(path: Buffer | string, name: string): Buffer | null;
  llistxattr(path: Buffer | string): string[];
  lsetxattr(path: Buffer | string, name: string, value: Uint8Array): void;
  /** Nanosecond-exact times; nofollow sets them on a symlink itself. Nsec in [0, 1e9). */
  utimensat(
    path: Buffer | string,
    atimeSec: number | bigint,
    atimeNsec: number,
    mtimeSec: number | bigint,
    mtimeNsec: number,
    nofollow: boolean,
  ): void;
  /** mode includes the type bits (S_IFIFO/S_IFCHR/S_IFBLK); dev as lstat's rdev. */
  mknod(path: Buffer | string, mode: number, dev: number | bigint): void;
  /**
   * The FastCDC cut finder (native/src/chunker.c), wrapped by src/chunker/native-cdc.ts.
   * Optional: an addon built before the chunker existed lacks it (createCutFinder then
   * falls back to the TypeScript chunker).
   */
  Chunker?: NativeChunkerConstructor;
  /**
   * AES-256-GCM (native/src/aead.c): encrypts buf[start, start+length) in place and writes
   * the 16-byte tag right after it; byte-identical to aeadSeal in src/crypto/aead.ts.
   * Optional: an older build lacks it (aeadSealInPlace then uses node:crypto and a copy).
   */
  aeadSealInPlace?(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, buf: Uint8Array, start: number, length: number): void;
  /**
   * AES-256-GCM open (native/src/aead.c): decrypts sealed (ciphertext || tag) into
   * dst at dstStart; false when authentication fails (dst's bytes are then garbage).
   * Optional: an older build lacks it (aeadOpenInto then uses node:crypto and a copy).
   */
  aeadOpenInto?(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, dst: Uint8Array, dstStart: number): boolean;
  /**
   * The address of view's first byte modulo align (a power of two; native/src/address.c),
   * for buffers that O_DIRECT reads can fill. Optional: an older build lacks it (reads
   * then go through the page cache).
   */
  addressMod?(view: Uint8Array, align: number): number;
  /**
   * Ends the process with `code` through _exit(2), without exit(3)'s destructors (libuv's
   * joins the thread pool, which a read stuck forever blocks; native/src/exit-now.c).
   * Optional: an older build lacks it (a second Ctrl-C then ends by the signal).
   */
  exitNow?(code: number): never;
  /**
   * Directories' entries, each directory's sorted by raw name bytes, with each entry's
   * lstat and symlink target, read on the libuv thread pool (native/src/scandir.c; see
   * src/fs/dir-lister.ts). Never follows a symlink, the directories' own names included.
   * Optional: an older build lacks it (the walk then lists with node:fs).
   */
  scanDirs?(paths: Array<Buffer | string>): Promise<NativeDirScan>;
  /**
   * Opens a file for backup (read-only, O_NOFOLLOW, O_NOATIME where allowed), reads it
   * into buf[offset..] and, when it ended there, fstats and closes it: one call instead
   * of node:fs's five (native/src/readfile.c). Returns the bytes read; out receives
   * [fd, size, mtime ns, ctime ns, xattrs]: fd -1 when the file was read whole and
   * closed, else the buffer filled first and fd is left open for the caller (to close
   * with closeFd: node:fs warns when it closes a descriptor it did not open); xattrs is
   * 1 when the open file has some, 0 when none, -1 when flistxattr failed. Optional: an
   * older build lacks it (the worker then uses node:fs).
   */
  readFileStart?(path: Buffer | string, buf: Uint8Array, offset: number, out: BigInt64Array): number;
  /** Closes a descriptor readFileStart left open. Optional, as readFileStart. */
  closeFd?(fd: number): void;
}

/**
 * scanDirs' result, flat over the batch. Directory d's entries are [dirEnds[d-1],
 * dirEnds[d]) (from 0 for d = 0); errors[d] is the errno (positive) when it could not
 * be listed, by the call syscalls[d] names (1 open, 2 fdopendir, 3 readdir), and it has
 * no entries then. Entry e's name is names[nameEnds[e-1] .. nameEnds[e]) and, for a
 * symlink, its target likewise in links and linkEnds. nums[6e ..] = errno of its lstat
 * or readlink (0 when read), mode (with the type bits), uid, gid, nlink, size;
 * ids[3e ..] = dev, ino, rdev; times[6e ..] = atime, mtime, ctime as seconds and
 * nanoseconds each.
 */
export interface NativeDirScan {
  errors: Int32Array;
  syscalls: Uint8Array;
  dirEnds: Uint32Array;
  names: Buffer;
  nameEnds: Uint32Array;
  links: Buffer;
  linkEnds: Uint32Array;
  nums: Float64Array;
  ids: BigUint64Array;
  times: BigInt64Array;
}

/**
 * new Chunker(min, avg, max, gear): the native twin of FastCdc (same rule, same state
 * across calls). Arguments are validated (TypeError); gear is copied. Offsets are exact
 * up to 2^53 - 1 (update() throws a RangeError beyond).
 */
export interface NativeChunkerConstructor {
  new (min: number, avg: number, max: number, gear: Uint32Array): NativeChunker;
}

export interface NativeChunker {
  /** Absolute stream offsets of the cuts that end within data (as CutFinder.update). */
  update(data: Uint8Array): number[];
  /** [stream length] if bytes are pending, else []; then a new stream starts at 0. */
  finish(): number[];
}

/** Relative to this file: src/util/native-addon.ts, dist/util/native-addon.js and the bundle dist/bundle/main.js all sit two levels down. */
const ADDON_URL = new URL('../../native/build/Release/cairn_native.node', import.meta.url);

let loadError: string | undefined;

function load(): NativeFs | null {
  const flag = process.env['CAIRN_NO_NATIVE'];
  if (flag !== undefined && flag !== '' && flag !== '0') {
    loadError = 'disabled by CAIRN_NO_NATIVE';
    return null;
  }
  const addonPath = fileURLToPath(ADDON_URL);
  try {
    const require = createRequire(import.meta.url);
    return require(addonPath) as NativeFs;
  } catch (err) {
    // Missing (not built) or built for another Node ABI: both mean "use the fallbacks".
    // First line only: require() appends a multi-line "Require stack".
    loadError = `cannot load ${addonPath}: ${String((err as Error).message).split('\n')[0]}`;
    return null;
  }
}

/** The addon, or null when it is missing or disabled; decided once, at import. */
export const native: NativeFs | null = load();

/** Why `native` is null (for the one warning a caller prints), undefined when loaded. */
export function nativeLoadError(): string | undefined {
  return loadError;
}
