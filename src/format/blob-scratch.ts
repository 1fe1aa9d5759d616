/**
 * Two reusable buffers for opening blobs on one thread: one for the decrypted bytes,
 * one for the decompressed plaintext. Check and restore open ~1.5 GB in 1-8 MiB blobs;
 * a fresh Buffer per blob costs a page fault per 4 KiB (large buffers are mmapped) and
 * leaves garbage V8 frees late, which is most of those commands' memory peak.
 *
 * A view handed out is valid until the next call for the same slot: callers consume a
 * blob (hash it, write it) before opening the next. Requests above `keepMax` get a
 * one-off buffer, so one huge tree blob does not pin its size for the whole run.
 */
export class BlobScratch {
  private readonly bufs: [Buffer, Buffer] = [Buffer.alloc(0), Buffer.alloc(0)];

  constructor(private readonly keepMax = 16 * 2 ** 20) {}

  /** A view of `length` bytes of slot 0 (decrypted) or 1 (decompressed); contents undefined. */
  take(slot: 0 | 1, length: number): Buffer {
    if (length > this.keepMax) return Buffer.allocUnsafeSlow(length);
    let b = this.bufs[slot];
    if (b.length < length) {
      // Round up to 1 MiB so a run of slightly growing blobs does not reallocate each time.
      b = Buffer.allocUnsafeSlow(Math.min(this.keepMax, Math.ceil(length / 2 ** 20) * 2 ** 20));
      this.bufs[slot] = b;
    }
    return b.subarray(0, length);
  }
}
