import { CairnError } from '../core/errors/index.js';
import type { ByteRange } from './types.js';

/**
 * Validates a load() range against the stored size. A range past the end means the file
 * is shorter than whoever computed the range believed (a truncated pack, usually), so it
 * is reported as IO_ERROR rather than silently returning fewer bytes.
 */
export function checkRange(name: string, range: ByteRange, size: number): void {
  const { offset, length } = range;
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new CairnError('INTERNAL', `invalid byte range ${offset}+${length} for ${name}`);
  }
  if (offset + length > size) {
    throw truncatedError(name, range, size);
  }
}

export function truncatedError(name: string, range: ByteRange, available: number): CairnError {
  return new CairnError(
    'IO_ERROR',
    `${name} is truncated: wanted bytes ${range.offset}..${range.offset + range.length}, file has ${available}`,
    {
      hint: 'the stored file is shorter than expected; run `cairn check` to see what is affected',
      details: { name, offset: range.offset, length: range.length, available },
    },
  );
}
