/**
 * A Uint8Array that owns its whole ArrayBuffer, so transferring it to another thread
 * moves exactly these bytes without a copy. A Buffer that is a view into a shared pool
 * or into a larger allocation is copied first (transferring would steal the rest).
 */
export function transferable(b: Uint8Array): Uint8Array {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !(b.buffer instanceof SharedArrayBuffer)) {
    return new Uint8Array(b.buffer, 0, b.byteLength);
  }
  const copy = new Uint8Array(b.byteLength);
  copy.set(b);
  return copy;
}
