/**
 * Strict standard base64 (with padding), as the spec's `b64` requires. Node's decoder
 * silently skips junk, so a damaged key slot could otherwise decode to a wrong-length
 * key; we re-encode and compare to refuse anything non-canonical.
 * Returns null when `s` is not canonical base64 or not `length` bytes long.
 */
export function decodeB64(s: unknown, length?: number): Buffer | null {
  if (typeof s !== 'string') return null;
  const buf = Buffer.from(s, 'base64');
  if (buf.toString('base64') !== s) return null;
  if (length !== undefined && buf.length !== length) return null;
  return buf;
}

export function encodeB64(buf: Uint8Array): string {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('base64');
}
