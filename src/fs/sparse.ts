/**
 * Zero detection for sparse files: the archiver notes all-zero chunks and the restorer
 * seeks over them so holes come back as holes.
 *
 * Measured on the project machine (Node 20, 64 MiB of zeros): Buffer#compare against a
 * shared zero buffer runs at ~30 GB/s (it is memcmp), a Uint32Array OR-loop at ~3 GB/s,
 * BigUint64Array/Float64Array loops at ~6 GB/s. Hence memcmp in 64 KiB slices; a
 * non-zero buffer usually fails on its first bytes.
 */
const ZERO = Buffer.alloc(64 * 1024);

export function isAllZero(buf: Uint8Array): boolean {
  for (let off = 0; off < buf.length; off += ZERO.length) {
    const len = Math.min(ZERO.length, buf.length - off);
    if (ZERO.compare(buf, off, off + len, 0, len) !== 0) return false;
  }
  return true;
}
