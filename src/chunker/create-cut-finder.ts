import { FastCdc } from './fast-cdc.js';
import { NativeCdc, nativeCdcUnavailableReason } from './native-cdc.js';
import type { ChunkerParams, CutFinder } from './types.js';

export interface CreateCutFinderOptions {
  /**
   * Called with the reason when the TypeScript fallback is used; at most once per module
   * instance (so once per process, or once per worker thread since each worker loads
   * its own modules), by the first call that passes a callback, so the caller prints
   * ONE warning, not one per file.
   */
  onFallback?: (reason: string) => void;
}

let fallbackReported = false;

/** True when createCutFinder returns the native (C) chunker. */
export function nativeChunkerAvailable(): boolean {
  return nativeCdcUnavailableReason() === undefined;
}

/**
 * A fresh cut finder for one stream: NativeCdc when the addon provides the chunker
 * (and CAIRN_NO_NATIVE is not set), else FastCdc. Both give identical cut points, so the
 * choice affects speed only, never the repository. Parameter and gear-table errors are
 * the same either way (CairnError USAGE / INTERNAL).
 */
export function createCutFinder(params: ChunkerParams, gear: Uint32Array, opts: CreateCutFinderOptions = {}): CutFinder {
  const reason = nativeCdcUnavailableReason();
  if (reason === undefined) return new NativeCdc(params, gear);
  const finder = new FastCdc(params, gear);
  if (!fallbackReported && opts.onFallback) {
    fallbackReported = true;
    opts.onFallback(reason);
  }
  return finder;
}
