import { Decompressor } from 'zstd-napi';
import zstdBinding from 'zstd-napi/binding.js';
import { CairnError } from '../core/errors/index.js';

// Creating a zstd context per call costs more than compressing a small chunk, so keep
// one per level (and one decompression context). Safe: all calls are synchronous, and
// each worker thread loads its own copy of this module.
const cctxs = new Map<number, InstanceType<typeof zstdBinding.CCtx>>();
let decompressor: Decompressor | undefined;
let dctx: InstanceType<typeof zstdBinding.DCtx> | undefined;

/**
 * Compresses `data` into `dst` (one zstd frame) and returns its length, or -1 when the
 * frame does not fit in `dst`. Allocates nothing: the pack writer passes the free part
 * of its pack buffer, at most data.length - 1 long, so -1 also means "not smaller".
 */
export function compressInto(dst: Uint8Array, data: Uint8Array, level: number): number {
  let c = cctxs.get(level);
  if (!c) {
    if (!Number.isInteger(level)) throw new RangeError(`zstd level must be an integer, got ${level}`);
    c = new zstdBinding.CCtx();
    c.setParameter(zstdBinding.CParameter.compressionLevel, level);
    cctxs.set(level, c);
  }
  if (dst.length === 0) return -1;
  try {
    return c.compress2(dst, data);
  } catch (err) {
    // zstd's only output-side failure; anything else (a bad level) is a real error.
    if (/too small/i.test((err as Error).message)) return -1;
    throw err;
  }
}

/** One zstd frame, in a buffer of zstd's worst-case size (so it always fits). */
export function compress(data: Uint8Array, level: number): Buffer {
  const dst = Buffer.allocUnsafe(zstdBinding.compressBound(data.length));
  const n = compressInto(dst, data, level);
  if (n < 0) throw new CairnError('INTERNAL', `zstd output exceeded its bound for ${data.length} bytes`);
  return dst.subarray(0, n);
}

/**
 * Decompresses one or more zstd frames. With `rawLength` (known from a pack trailer or
 * index) the output buffer is exactly that size and any other size is an error, so a
 * damaged frame header cannot make us allocate more than the index promised.
 * Throws CairnError REPO_CORRUPT; callers that know better (packs) rewrap it.
 */
export function decompress(data: Uint8Array, rawLength?: number): Buffer {
  try {
    if (rawLength === undefined) {
      decompressor ??= new Decompressor();
      return decompressor.decompress(data);
    }
    return decompressInto(data, Buffer.allocUnsafe(rawLength));
  } catch (cause) {
    if (cause instanceof CairnError) throw cause;
    throw new CairnError('REPO_CORRUPT', `zstd data does not decompress: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Decompresses `data` into `dst`, which must be exactly the raw length (a pack entry's
 * rawLength), and returns it. For readers that reuse one buffer per thread. Throws
 * CairnError REPO_CORRUPT when the frame is damaged or of another size.
 */
export function decompressInto(data: Uint8Array, dst: Buffer): Buffer {
  try {
    dctx ??= new zstdBinding.DCtx();
    const n = dctx.decompress(dst, data);
    if (n !== dst.length) throw new Error(`decompressed to ${n} bytes, expected ${dst.length}`);
    return dst;
  } catch (cause) {
    throw new CairnError('REPO_CORRUPT', `zstd data does not decompress: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Compresses when that makes the bytes smaller, otherwise returns the input unchanged
 * (not copied). Random or already-compressed data is stored raw: cheaper to read back
 * and never larger than the original.
 */
export function maybeCompress(data: Uint8Array, level: number): { bytes: Buffer; compressed: boolean } {
  const packed = compress(data, level);
  if (packed.length < data.length) return { bytes: packed, compressed: true };
  const raw = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return { bytes: raw, compressed: false };
}
