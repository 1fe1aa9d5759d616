import { CairnError } from '../core/errors/index.js';
import type { ChunkerParams, CutFinder } from './types.js';

/** The repository default (docs/repository-format.md, config.chunker). */
export const DEFAULT_CHUNKER: ChunkerParams = Object.freeze({ min: 256 * 1024, avg: 1024 * 1024, max: 4 * 1024 * 1024 });

// Below 64 bytes the 32-byte hash window is most of the chunk and dedup is pointless;
// above 64 MiB one chunk no longer fits comfortably in a 16 MiB-class pack or in memory
// several times over (one chunk per worker is buffered whole).
const MIN_LIMIT = 64;
const MAX_LIMIT = 64 * 1024 * 1024;

/** Throws CairnError USAGE unless min < avg < max, avg is a power of two and all lie in [64 B, 64 MiB]. */
export function validateChunkerParams(p: ChunkerParams): void {
  const bad = (why: string): never => {
    throw new CairnError('USAGE', `invalid chunker parameters (min ${p?.min}, avg ${p?.avg}, max ${p?.max}): ${why}`, {
      hint: `use e.g. min ${DEFAULT_CHUNKER.min}, avg ${DEFAULT_CHUNKER.avg}, max ${DEFAULT_CHUNKER.max}`,
    });
  };
  if (!p || typeof p !== 'object') bad('not an object');
  for (const k of ['min', 'avg', 'max'] as const) {
    if (!Number.isSafeInteger(p[k])) bad(`${k} must be an integer`);
    if (p[k] < MIN_LIMIT || p[k] > MAX_LIMIT) bad(`${k} must lie between ${MIN_LIMIT} and ${MAX_LIMIT} bytes`);
  }
  if ((p.avg & (p.avg - 1)) !== 0) bad('avg must be a power of two');
  if (!(p.min < p.avg && p.avg < p.max)) bad('need min < avg < max');
}

/** A mask of the `bits` highest bits of a 32-bit word, as an int32 (see the hot loop). */
function highMask(bits: number): number {
  return (0xffffffff << (32 - bits)) | 0;
}

/**
 * FastCDC with normalised chunking (Xia et al., 2016/2020) over the 32-bit gear hash,
 * exactly as docs/repository-format.md (Chunking) specifies. Precisely, for a chunk
 * starting at stream offset s, with bytes b[0..] relative to s:
 *
 *   h = 0
 *   for i = min .. max-1:                      // bytes before min are not hashed
 *     h = (h << 1) + gear[b[i]]  mod 2^32
 *     if h & (i < avg ? maskS : maskL) == 0: the chunk is b[0..i] (length i + 1); stop
 *   otherwise the chunk is b[0..max-1] (length max)
 *
 * maskS / maskL are the k+2 / k-2 *high* bits (avg = 2^k). The stream's last chunk is
 * whatever remains, so chunk lengths lie in [min + 1, max] except for the last.
 * A native implementation must reproduce this byte for byte; test/chunker has golden
 * vectors.
 *
 * State (position within the current chunk and h) persists across update() calls, so
 * cut points never depend on how the stream was split into pieces. After finish()
 * the finder starts a new stream at offset 0.
 */
export class FastCdc implements CutFinder {
  private readonly gear: Uint32Array;
  private readonly min: number;
  private readonly avg: number;
  private readonly max: number;
  private readonly maskS: number;
  private readonly maskL: number;
  /** Absolute stream offset of the next byte update() will see. */
  private offset = 0;
  /** Bytes of the current (unfinished) chunk seen so far. */
  private pos = 0;
  /** Gear hash of the current chunk's bytes from index min on (0 before that). */
  private h = 0;

  constructor(params: ChunkerParams, gear: Uint32Array) {
    validateChunkerParams(params);
    if (!(gear instanceof Uint32Array) || gear.length !== 256) {
      throw new CairnError('INTERNAL', 'gear table must be a Uint32Array of 256 entries');
    }
    // A private copy: a caller mutating its table later must not change our cut points.
    this.gear = Uint32Array.from(gear);
    this.min = params.min;
    this.avg = params.avg;
    this.max = params.max;
    const k = Math.log2(params.avg);
    this.maskS = highMask(k + 2);
    this.maskL = highMask(k - 2);
  }

  update(data: Uint8Array): number[] {
    const cuts: number[] = [];
    const n = data.length;
    const base = this.offset;
    const gear = this.gear;
    const { min, avg, max, maskS, maskL } = this;
    let pos = this.pos;
    let h = this.h;
    let i = 0;

    // The two inner loops are the hot path: one load, shift, add, and, compare per
    // byte, with h kept as an int32 (`| 0` keeps the same low 32 bits as `>>> 0` but
    // lets V8 stay in int32 registers). The bounds are precomputed so each loop tests
    // only its end and its mask.
    while (i < n) {
      if (pos < min) {
        const skip = min - pos;
        if (skip >= n - i) {
          pos += n - i;
          i = n;
          break;
        }
        i += skip;
        pos = min;
      }
      let cut = false;
      if (pos < avg) {
        const start = i;
        const end = Math.min(n, i + (avg - pos));
        while (i < end) {
          h = ((h << 1) + gear[data[i]]) | 0;
          i++;
          if ((h & maskS) === 0) {
            cut = true;
            break;
          }
        }
        pos += i - start;
      }
      if (!cut && pos >= avg) {
        const start = i;
        const end = Math.min(n, i + (max - pos));
        while (i < end) {
          h = ((h << 1) + gear[data[i]]) | 0;
          i++;
          if ((h & maskL) === 0) {
            cut = true;
            break;
          }
        }
        pos += i - start;
        if (pos === max) cut = true;
      }
      if (cut) {
        cuts.push(base + i);
        pos = 0;
        h = 0;
      }
    }

    this.pos = pos;
    this.h = h;
    this.offset = base + n;
    return cuts;
  }

  finish(): number[] {
    const cuts = this.pos > 0 ? [this.offset] : [];
    this.offset = 0;
    this.pos = 0;
    this.h = 0;
    return cuts;
  }
}
