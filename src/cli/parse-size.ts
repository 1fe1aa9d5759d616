import { usageError } from './usage-error.js';

/**
 * "512", "100K", "16MiB", "2G", "1TiB" → bytes. The units are binary, as restic's and
 * the rest of Cairn's: K = KiB = 1024. Anything else, or a size past 2^53, is a USAGE
 * error naming the flag.
 */
export function parseSize(text: string, flag: string): number {
  const m = /^(\d+)\s*(B|KiB|MiB|GiB|TiB|K|M|G|T)?$/i.exec(text.trim());
  if (!m) throw usageError(`invalid size for ${flag}: "${text}"`, 'write a number of bytes with an optional unit, e.g. 512MiB, 2G (units: K, M, G, T; binary)');
  const unit = (m[2] ?? 'B').toUpperCase()[0]! as 'B' | 'K' | 'M' | 'G' | 'T';
  const bytes = Number(m[1]) * 1024 ** { B: 0, K: 1, M: 2, G: 3, T: 4 }[unit];
  if (!Number.isSafeInteger(bytes)) throw usageError(`invalid size for ${flag}: "${text}" is too large`);
  return bytes;
}
