/**
 * Text for raw file-name bytes. Names on Linux are bytes, not text; these helpers keep
 * every byte recoverable.
 */

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The name as a string when it is valid UTF-8, else undefined (the tree format then
 *  stores `nameRaw`). */
export function utf8OrUndefined(bytes: Uint8Array): string | undefined {
  try {
    return strict.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Lossless decoding, Python's "surrogateescape": valid UTF-8 sequences become their
 * characters, every other byte b becomes the lone surrogate U+DC00+b. Distinct byte
 * strings give distinct strings, so patterns can match such names without a crash or
 * a false equality, while ordinary names decode exactly as UTF-8 would.
 */
export function decodeName(bytes: Uint8Array): string {
  const text = utf8OrUndefined(bytes);
  if (text !== undefined) return text;
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const [cp, len] = decodeOne(bytes, i);
    out += cp === undefined ? String.fromCharCode(0xdc00 + bytes[i]!) : String.fromCodePoint(cp);
    i += cp === undefined ? 1 : len;
  }
  return out;
}

/** One UTF-8 sequence at i: its code point and length, or undefined if not valid. */
function decodeOne(bytes: Uint8Array, i: number): [number | undefined, number] {
  const b0 = bytes[i]!;
  if (b0 < 0x80) return [b0, 1];
  let len: number;
  let min: number;
  let cp: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) [len, min, cp] = [2, 0x80, b0 & 0x1f];
  else if (b0 >= 0xe0 && b0 <= 0xef) [len, min, cp] = [3, 0x800, b0 & 0x0f];
  else if (b0 >= 0xf0 && b0 <= 0xf4) [len, min, cp] = [4, 0x10000, b0 & 0x07];
  else return [undefined, 1];
  if (i + len > bytes.length) return [undefined, 1];
  for (let k = 1; k < len; k++) {
    const b = bytes[i + k]!;
    if ((b & 0xc0) !== 0x80) return [undefined, 1];
    cp = (cp << 6) | (b & 0x3f);
  }
  // Overlong forms, UTF-16 surrogates and values past U+10FFFF are not valid UTF-8.
  if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return [undefined, 1];
  return [cp, len];
}
