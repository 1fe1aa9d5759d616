import { native } from './native-addon.js';

/**
 * Alignment for O_DIRECT reads: the kernel then copies a file straight into the caller's
 * memory, bypassing the page cache, but only at file offsets, lengths and memory
 * addresses that are multiples of the device's logical block size. 4096 covers every
 * block size Linux devices use (512 or 4096).
 */
export const DIRECT_ALIGN = 4096;

/** `n` rounded up to a multiple of DIRECT_ALIGN. */
export function alignUp(n: number): number {
  return Math.ceil(n / DIRECT_ALIGN) * DIRECT_ALIGN;
}

/** Whether `view` starts at an aligned address and has room for `size` bytes read whole with O_DIRECT. */
export function canReadDirect(view: Uint8Array, size: number): boolean {
  return native?.addressMod !== undefined && view.length >= alignUp(size) && native.addressMod(view, DIRECT_ALIGN) === 0;
}

/**
 * Shared memory for at least `size` bytes whose first byte is aligned, so O_DIRECT reads
 * can fill it (see canReadDirect); without the native addon, plain shared memory.
 */
export function alignedSharedBuffer(size: number): Buffer {
  const length = alignUp(Math.max(size, 1));
  if (!native?.addressMod) return Buffer.from(new SharedArrayBuffer(length));
  const sab = new SharedArrayBuffer(length + DIRECT_ALIGN);
  const whole = Buffer.from(sab);
  const mod = native.addressMod(whole, DIRECT_ALIGN);
  const start = mod === 0 ? 0 : DIRECT_ALIGN - mod;
  return whole.subarray(start, start + length);
}
