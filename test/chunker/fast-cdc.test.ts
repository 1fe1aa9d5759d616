import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CHUNKER, FastCdc, validateChunkerParams } from '../../src/chunker/fast-cdc.js';
import { gearTable } from '../../src/chunker/gear-table.js';
import type { ChunkerParams } from '../../src/chunker/types.js';
import { isCairnError } from '../../src/core/errors/index.js';
import { prng, pseudoRandomBytes, randInt } from './pseudo-random.js';

const SEED = Uint8Array.from({ length: 32 }, (_, i) => i);
const GEAR = gearTable(SEED);
const SMALL: ChunkerParams = { min: 2048, avg: 8192, max: 32768 };
const TINY: ChunkerParams = { min: 64, avg: 256, max: 1024 };
// min not a power of two and avg one byte short of max: exercises the loop bounds.
const ODD: ChunkerParams = { min: 100, avg: 128, max: 129 };

/**
 * The spec read literally, written independently of FastCdc: whole buffer, one byte at
 * a time, hash as an unsigned double, "high bits zero" as h < 2^(32 - bits).
 */
function referenceCuts(data: Uint8Array, p: ChunkerParams, gear: Uint32Array): number[] {
  const k = Math.log2(p.avg);
  const limitS = 2 ** (32 - (k + 2));
  const limitL = 2 ** (32 - (k - 2));
  const cuts: number[] = [];
  let s = 0;
  while (s < data.length) {
    const remaining = data.length - s;
    let len = Math.min(remaining, p.max);
    let h = 0;
    for (let i = p.min; i < Math.min(remaining, p.max); i++) {
      h = (h * 2 + gear[data[s + i]!]!) % 2 ** 32;
      if (h < (i < p.avg ? limitS : limitL)) {
        len = i + 1;
        break;
      }
    }
    s += len;
    cuts.push(s);
  }
  return cuts;
}

function cutsWhole(data: Uint8Array, p: ChunkerParams, gear = GEAR): number[] {
  const f = new FastCdc(p, gear);
  return [...f.update(data), ...f.finish()];
}

function cutsSplit(data: Uint8Array, p: ChunkerParams, splits: number[]): number[] {
  const f = new FastCdc(p, GEAR);
  const out: number[] = [];
  let prev = 0;
  for (const at of [...splits, data.length]) {
    out.push(...f.update(data.subarray(prev, at)));
    prev = at;
  }
  return [...out, ...f.finish()];
}

function sizes(cuts: number[]): number[] {
  return cuts.map((c, i) => c - (i === 0 ? 0 : cuts[i - 1]!));
}

function expectSizesInRange(cuts: number[], p: ChunkerParams): void {
  const s = sizes(cuts);
  for (let i = 0; i < s.length - 1; i++) {
    expect(s[i]).toBeGreaterThanOrEqual(p.min);
    expect(s[i]).toBeLessThanOrEqual(p.max);
  }
  if (s.length > 0) {
    expect(s[s.length - 1]).toBeGreaterThan(0);
    expect(s[s.length - 1]).toBeLessThanOrEqual(p.max);
  }
}

/** Random sorted split points in [0, n], with deliberate 1-byte and zero-length pieces. */
function randomSplits(rand: () => number, n: number): number[] {
  const points: number[] = [];
  const count = randInt(rand, 0, 40);
  for (let i = 0; i < count; i++) {
    const at = randInt(rand, 0, n);
    points.push(at);
    if (rand() < 0.3) points.push(at); // zero-length piece
    if (rand() < 0.3 && at + 1 <= n) points.push(at + 1); // 1-byte piece
  }
  return points.sort((a, b) => a - b);
}

function makeInput(kind: number, n: number, rand: () => number, label: string): Uint8Array {
  switch (kind) {
    case 0:
      return pseudoRandomBytes(n, label);
    case 1:
      return new Uint8Array(n);
    case 2: {
      const period = randInt(rand, 1, 300);
      const pattern = pseudoRandomBytes(period, label);
      return Uint8Array.from({ length: n }, (_, i) => pattern[i % period]!);
    }
    default: {
      // low entropy: a two-letter alphabet
      const r = pseudoRandomBytes(n, label);
      return r.map((b) => 0x41 + (b & 1));
    }
  }
}

describe('validateChunkerParams', () => {
  it('accepts the default and small parameters', () => {
    for (const p of [DEFAULT_CHUNKER, SMALL, TINY, ODD]) expect(() => validateChunkerParams(p)).not.toThrow();
  });

  it.each([
    ['avg not a power of two', { min: 1024, avg: 3000, max: 8192 }],
    ['min == avg', { min: 4096, avg: 4096, max: 8192 }],
    ['min > avg', { min: 8192, avg: 4096, max: 16384 }],
    ['avg == max', { min: 1024, avg: 4096, max: 4096 }],
    ['min too small', { min: 16, avg: 4096, max: 8192 }],
    ['max too large', { min: 1024, avg: 4096, max: 2 ** 30 }],
    ['fractional', { min: 1024.5, avg: 4096, max: 8192 }],
    ['NaN', { min: NaN, avg: 4096, max: 8192 }],
    ['missing', { avg: 4096, max: 8192 }],
  ])('rejects %s with USAGE', (_name, p) => {
    let err: unknown;
    try {
      validateChunkerParams(p as ChunkerParams);
    } catch (e) {
      err = e;
    }
    expect(isCairnError(err, 'USAGE')).toBe(true);
  });

  it('the constructor validates too, and wants a 256-entry table', () => {
    expect(() => new FastCdc({ min: 1, avg: 2, max: 3 }, GEAR)).toThrow(/invalid chunker parameters/);
    expect(() => new FastCdc(SMALL, new Uint32Array(255))).toThrow(/256 entries/);
  });
});

describe('FastCdc', () => {
  it('is pinned: golden cut points (a native chunker must reproduce these)', () => {
    // data = pseudoRandomBytes(n, 'cairn golden'), gear = gearTable(00 01 .. 1f)
    const small = cutsWhole(pseudoRandomBytes(1 << 20, 'cairn golden'), SMALL);
    expect(small.length).toBe(115);
    expect(small.slice(0, 8)).toEqual([8194, 15598, 25078, 27225, 36396, 45029, 53571, 62830]);
    expect(createHash('sha256').update(small.join(',')).digest('hex')).toBe(
      '5f3678170cc3461c2de93b873d769ba57e2d6c40b11e9d9eddfd36f362473b13',
    );
    const dflt = cutsWhole(pseudoRandomBytes(16 << 20, 'cairn golden'), DEFAULT_CHUNKER);
    expect(dflt.length).toBe(15);
    expect(dflt.slice(0, 8)).toEqual([1812920, 2939775, 4318667, 5468275, 6767357, 8177468, 9378815, 10145821]);
    expect(createHash('sha256').update(dflt.join(',')).digest('hex')).toBe(
      '61486c0198d40a570c92fe23c5a30567d39840b158d5d09431eae6bb5102686d',
    );
  });

  it('agrees with a literal reading of the spec on many inputs', () => {
    const rand = prng(1);
    for (let t = 0; t < 60; t++) {
      const p = [TINY, ODD, SMALL][t % 3]!;
      const data = makeInput(t % 4, randInt(rand, 0, 6 * p.max), rand, `ref ${t}`);
      expect(cutsWhole(data, p)).toEqual(referenceCuts(data, p, GEAR));
    }
  });

  it('is deterministic', () => {
    const data = pseudoRandomBytes(1 << 20);
    expect(cutsWhole(data, SMALL)).toEqual(cutsWhole(Buffer.from(data), SMALL));
  });

  it('property: cut points do not depend on how the stream is split', () => {
    const rand = prng(42);
    for (let t = 0; t < 300; t++) {
      const p = [TINY, ODD, SMALL][t % 3]!;
      const n = randInt(rand, 0, [10, 3, 5][t % 3]! * p.max);
      const data = makeInput(randInt(rand, 0, 3), n, rand, `split ${t}`);
      const whole = cutsWhole(data, p);
      const splits = randomSplits(rand, n);
      expect(cutsSplit(data, p, splits), `case ${t}: n=${n} splits=${splits.join(',')}`).toEqual(whole);
      expectSizesInRange(whole, p);
      if (n > 0) expect(whole[whole.length - 1]).toBe(n);
    }
  });

  it('property: feeding one byte at a time gives the same cuts', () => {
    for (const [i, p] of [TINY, ODD, SMALL].entries()) {
      const data = pseudoRandomBytes(3 * p.max + 17, `bytewise ${i}`);
      const f = new FastCdc(p, GEAR);
      const out: number[] = [];
      for (let j = 0; j < data.length; j++) out.push(...f.update(data.subarray(j, j + 1)));
      out.push(...f.finish());
      expect(out).toEqual(cutsWhole(data, p));
    }
  });

  it('empty input and zero-length pieces give no chunks', () => {
    const f = new FastCdc(SMALL, GEAR);
    expect(f.update(new Uint8Array(0))).toEqual([]);
    expect(f.update(new Uint8Array(0))).toEqual([]);
    expect(f.finish()).toEqual([]);
  });

  it('input of exactly min, min+1, max and max+1 bytes', () => {
    for (const p of [TINY, SMALL, ODD]) {
      for (const n of [1, p.min - 1, p.min, p.min + 1, p.max - 1, p.max, p.max + 1]) {
        const data = pseudoRandomBytes(n, `edge ${n}`);
        const whole = cutsWhole(data, p);
        expect(whole).toEqual(referenceCuts(data, p, GEAR));
        expect(whole[whole.length - 1]).toBe(n);
        expectSizesInRange(whole, p);
        expect(cutsSplit(data, p, [1, Math.floor(n / 2), n - 1].filter((x) => x >= 0 && x <= n).sort((a, b) => a - b))).toEqual(whole);
        if (n <= p.min) expect(whole).toEqual([n]); // smaller than min: one chunk
      }
      // All zeros never satisfy the mask with this table, so exactly max is one
      // chunk, cut by update() itself, and max+1 leaves a 1-byte tail for finish().
      const f = new FastCdc(p, GEAR);
      expect(f.update(new Uint8Array(p.max))).toEqual([p.max]);
      expect(f.finish()).toEqual([]);
      expect(f.update(new Uint8Array(p.max + 1))).toEqual([p.max]);
      expect(f.finish()).toEqual([p.max + 1]);
    }
  });

  it('all-zero input: every chunk but the last has the same size', () => {
    const n = 10 * SMALL.max + 5;
    const s = sizes(cutsWhole(new Uint8Array(n), SMALL));
    expect(new Set(s.slice(0, -1)).size).toBe(1);
    expect(s.reduce((a, b) => a + b, 0)).toBe(n);
  });

  it('repeating patterns chunk into repeating chunks', () => {
    // Content-defined: a period-P pattern gives chunks whose content depends only on
    // where in the pattern they start, so after the first few they repeat.
    const pattern = pseudoRandomBytes(5000, 'period');
    const data = Uint8Array.from({ length: 40 * SMALL.max }, (_, i) => pattern[i % 5000]!);
    const cuts = cutsWhole(data, SMALL);
    const hashes = new Set<string>();
    let prev = 0;
    for (const c of cuts.slice(0, -1)) {
      hashes.add(createHash('sha256').update(data.subarray(prev, c)).digest('hex'));
      prev = c;
    }
    expect(hashes.size).toBeLessThan(cuts.length / 4);
    expectSizesInRange(cuts, SMALL);
  });

  it('after finish() the finder starts a new stream at offset 0', () => {
    const a = pseudoRandomBytes(200_000, 'first');
    const b = pseudoRandomBytes(150_000, 'second');
    const f = new FastCdc(SMALL, GEAR);
    f.update(a);
    f.finish();
    expect([...f.update(b), ...f.finish()]).toEqual(cutsWhole(b, SMALL));
  });

  it('mean chunk size on 64 MiB of random data is within ±25% of avg (2K/8K/32K)', () => {
    const cuts = cutsWhole(pseudoRandomBytes(64 << 20, 'mean small'), SMALL);
    expectSizesInRange(cuts, SMALL);
    const mean = (64 << 20) / cuts.length;
    expect(mean).toBeGreaterThan(SMALL.avg * 0.75);
    expect(mean).toBeLessThan(SMALL.avg * 1.25);
  });

  it('mean chunk size on 32 MiB of random data is within ±25% of avg (default params)', () => {
    // Deterministic data: with ~30 chunks a random input could stray on an unlucky run.
    const cuts = cutsWhole(pseudoRandomBytes(32 << 20, 'mean default'), DEFAULT_CHUNKER);
    expectSizesInRange(cuts, DEFAULT_CHUNKER);
    const mean = (32 << 20) / cuts.length;
    expect(mean).toBeGreaterThan(DEFAULT_CHUNKER.avg * 0.75);
    expect(mean).toBeLessThan(DEFAULT_CHUNKER.avg * 1.25);
  });

  it('different seeds give different cut points', () => {
    const data = pseudoRandomBytes(1 << 20, 'seeds');
    const other = SEED.slice();
    other[31] ^= 1;
    const a = cutsWhole(data, SMALL);
    const b = cutsWhole(data, SMALL, gearTable(other));
    const shared = b.filter((c) => a.includes(c) && c !== data.length);
    expect(shared.length).toBeLessThan(a.length / 10);
  });

  it('shift resistance: inserting bytes at the start changes only the first few chunks', () => {
    const data = pseudoRandomBytes(8 << 20, 'shift');
    const chunkHashes = (d: Uint8Array): string[] => {
      let prev = 0;
      return cutsWhole(d, SMALL).map((c) => {
        const h = createHash('sha256').update(d.subarray(prev, c)).digest('hex');
        prev = c;
        return h;
      });
    };
    const before = chunkHashes(data);
    for (const insert of [1, 7, 100, 5000]) {
      const after = chunkHashes(Buffer.concat([pseudoRandomBytes(insert, `insert ${insert}`), data]));
      // The chunk lists share a long common tail: only a few chunks at the front differ.
      let common = 0;
      while (common < Math.min(before.length, after.length) && before[before.length - 1 - common] === after[after.length - 1 - common]) common++;
      expect(before.length - common, `insert ${insert}`).toBeLessThanOrEqual(3);
      const kept = new Set(after);
      expect(before.filter((h) => kept.has(h)).length / before.length).toBeGreaterThan(0.99);
    }
  });
});
