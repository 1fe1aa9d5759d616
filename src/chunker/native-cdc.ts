import { CairnError } from '../core/errors/index.js';
import { native, nativeLoadError, type NativeChunker } from '../util/native-addon.js';
import { validateChunkerParams } from './fast-cdc.js';
import type { ChunkerParams, CutFinder } from './types.js';

/**
 * Why the native chunker cannot be used (the addon is missing or disabled, or was built
 * before it had a chunker), or undefined when it can. Decided once, at import.
 */
export function nativeCdcUnavailableReason(): string | undefined {
  if (native === null) return nativeLoadError() ?? 'the native addon is not loaded';
  if (typeof native.Chunker !== 'function') {
    return 'the native addon has no chunker (built by an older version; run `npm run build:native`)';
  }
  return undefined;
}

/**
 * FastCDC in C (native/src/chunker.c): the same cut points as FastCdc, the reference,
 * for any split of the stream (test/chunker/native-cdc.test.ts proves it), 4-5x faster
 * (bench/chunker-speed.mjs).
 * Same contract and same errors as FastCdc: parameters are checked by
 * validateChunkerParams (CairnError USAGE), the gear table must be a 256-entry
 * Uint32Array (INTERNAL) and is copied. update() runs synchronously on the calling
 * thread; offsets are exact up to 2^53 - 1 bytes.
 *
 * Use createCutFinder() rather than this class: it falls back to FastCdc when the addon
 * is not available. Constructing a NativeCdc without the addon throws INTERNAL.
 */
export class NativeCdc implements CutFinder {
  private readonly chunker: NativeChunker;

  constructor(params: ChunkerParams, gear: Uint32Array) {
    const reason = nativeCdcUnavailableReason();
    if (reason !== undefined || !native?.Chunker) {
      throw new CairnError('INTERNAL', `native chunker unavailable: ${reason}`);
    }
    validateChunkerParams(params);
    if (!(gear instanceof Uint32Array) || gear.length !== 256) {
      throw new CairnError('INTERNAL', 'gear table must be a Uint32Array of 256 entries');
    }
    this.chunker = new native.Chunker(params.min, params.avg, params.max, gear);
  }

  update(data: Uint8Array): number[] {
    return this.chunker.update(data);
  }

  finish(): number[] {
    return this.chunker.finish();
  }
}
