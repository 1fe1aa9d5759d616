import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createCutFinder, nativeChunkerAvailable } from '../../src/chunker/create-cut-finder.js';
import { DEFAULT_CHUNKER, FastCdc } from '../../src/chunker/fast-cdc.js';
import { gearTable } from '../../src/chunker/gear-table.js';
import { NativeCdc, nativeCdcUnavailableReason } from '../../src/chunker/native-cdc.js';
import type { ChunkerParams, CutFinder } from '../../src/chunker/types.js';
import { isCairnError } from '../../src/core/errors/index.js';
import { native } from '../../src/util/native-addon.js';
import { prng, pseudoRandomBytes, randInt } from './pseudo-random.js';

// The native chunker (native/src/chunker.c) must give exactly FastCdc's cut points, the
// reference, for every input and every split of it into update() calls. The addon is
// built by `npm install` (npm run build:native); without it (or under CAIRN_NO_NATIVE=1)
// the native-specific suites are skipped, naming the reason, and only the fallback is
// tested.
const unavailable = nativeCdcUnavailableReason();
const describeNative = describe.skipIf(unavailable !== undefined);
const skipNote = unavailable === undefined ? '' : ` [SKIPPED: ${unavailable}]`;

const GOLDEN_GEAR = gearTable(Uint8Array.from({ length: 32 }, (_, i) => i));
const TINY: ChunkerParams = { min: 64, avg: 256, max: 1024 };
const ODD: ChunkerParams = { min: 100, avg: 128, max: 129 };
const SMALL: ChunkerParams = { min: 2048, avg: 8192, max: 32768 };
const TWO32 = 2 ** 32;

/** The cuts of each update() call and of finish(), in order. */
function feedCalls(finder: CutFinder, data: Uint8Array, splits: number[] = []): number[][] {
  const calls: number[][] = [];
  let prev = 0;
  for (const at of [...splits, data.length]) {
    calls.push(finder.update(data.subarray(prev, at)));
    prev = at;
  }
  calls.push(finder.finish());
  return calls;
}

const feed = (finder: CutFinder, data: Uint8Array, splits: number[] = []): number[] => feedCalls(finder, data, splits).flat();

const tsCuts = (data: Uint8Array, p: ChunkerParams, gear: Uint32Array, splits: number[] = []) => feed(new FastCdc(p, gear), data, splits);
const nativeCuts = (data: Uint8Array, p: ChunkerParams, gear: Uint32Array, splits: number[] = []) =>
  feed(new NativeCdc(p, gear), data, splits);

function sizes(cuts: number[]): number[] {
  return cuts.map((c, i) => c - (i === 0 ? 0 : cuts[i - 1]));
}

/** Random sorted split points in [0, n], with deliberate 1-byte and zero-length pieces. */
function randomSplits(rand: () => number, n: number): number[] {
  const points: number[] = [];
  for (let i = randInt(rand, 0, 40); i > 0; i--) {
    const at = randInt(rand, 0, n);
    points.push(at);
    if (rand() < 0.3) points.push(at); // zero-length piece
    if (rand() < 0.3 && at + 1 <= n) points.push(at + 1); // 1-byte piece
  }
  return points.sort((a, b) => a - b);
}

/**
 * Split points where the state is most delicate: at and next to each cut, and one byte
 * around the min (skip ends) and avg (mask changes) positions of each chunk.
 */
function boundarySplits(cuts: number[], p: ChunkerParams, n: number, rand: () => number): number[] {
  const points: number[] = [];
  let start = 0;
  for (const c of cuts) {
    if (rand() < 0.5) {
      for (const d of [-1, 0, 1]) points.push(c + d, start + p.min + d, start + p.avg + d);
      points.push(start + p.max - 1);
    }
    start = c;
  }
  return points.filter((x) => x >= 0 && x <= n).sort((a, b) => a - b);
}

function highLimit(bits: number): number {
  return 2 ** (32 - bits); // h has none of the `bits` high bits set iff h < this
}

/**
 * Bytes crafted against a known gear table so that chunks end exactly where the test
 * wants them: at min + 1 (the first hashed byte hits), around avg (the last byte tested
 * with maskS, the first with maskL) and at max (nothing hits). It follows the rule of
 * docs/repository-format.md itself: to end a chunk at length L it picks the last two
 * bytes so that the hash misses at L - 2 and hits at L - 1 (a one-byte search for
 * L = min + 1), and elsewhere picks bytes that miss. When no byte or pair does, the
 * chunk just ends where the rule says; the comparison with FastCdc holds regardless.
 */
function craft(p: ChunkerParams, gear: Uint32Array, n: number, rand: () => number): Uint8Array {
  const k = Math.log2(p.avg);
  const lim = (i: number) => (i < p.avg ? highLimit(k + 2) : highLimit(k - 2));
  const step = (h: number, b: number) => ((h << 1) + gear[b]) >>> 0;
  const hits = (i: number, h: number) => h < lim(i);
  const targets = [p.min + 1, p.min + 2, p.avg - 1, p.avg, p.avg + 1, p.avg + 2, p.max - 1, p.max];
  const pickTarget = () => {
    const t = rand() < 0.8 ? targets[randInt(rand, 0, targets.length - 1)] : randInt(rand, p.min + 1, p.max);
    return Math.min(p.max, Math.max(p.min + 1, t));
  };
  const missByte = (i: number, h: number) => {
    for (let tries = 0; tries < 16; tries++) {
      const b = randInt(rand, 0, 255);
      if (!hits(i, step(h, b))) return b;
    }
    const s = randInt(rand, 0, 255);
    for (let j = 0; j < 256; j++) if (!hits(i, step(h, (s + j) & 255))) return (s + j) & 255;
    return s; // every byte hits here: the chunk ends early
  };

  const out = new Uint8Array(n);
  let o = 0;
  let i = 0; // position within the current chunk
  let h = 0;
  let target = pickTarget();
  const push = (b: number) => {
    out[o++] = b;
    if (i >= p.min) h = step(h, b);
    if ((i >= p.min && hits(i, h)) || i + 1 === p.max) {
      i = 0;
      h = 0;
      target = pickTarget();
    } else {
      i++;
    }
  };
  while (o < n) {
    if (i < p.min) {
      push(randInt(rand, 0, 255));
    } else if (i === target - 1) {
      // Only reached for target = min + 1, or when the pair search below failed.
      const s = randInt(rand, 0, 255);
      let pick = -1;
      for (let j = 0; j < 256 && pick < 0; j++) if (hits(i, step(h, (s + j) & 255))) pick = (s + j) & 255;
      push(pick >= 0 ? pick : missByte(i, h));
    } else if (i === target - 2 && o + 2 <= n) {
      const s1 = randInt(rand, 0, 255);
      const s2 = randInt(rand, 0, 255);
      let pair: [number, number] | undefined;
      for (let a = 0; a < 256 && !pair; a++) {
        const b1 = (s1 + a) & 255;
        const h1 = step(h, b1);
        if (hits(i, h1)) continue;
        for (let c = 0; c < 256; c++) {
          const b2 = (s2 + c) & 255;
          if (hits(i + 1, step(h1, b2))) {
            pair = [b1, b2];
            break;
          }
        }
      }
      if (pair) {
        push(pair[0]);
        push(pair[1]);
      } else {
        push(missByte(i, h));
        target = -1; // give up on this one: run to a natural cut or max
      }
    } else {
      push(missByte(i, h));
    }
  }
  return out;
}

/** Gear tables that make the hash degenerate (the keyed tables of real repositories never do). */
function adversarialGear(kind: number, rand: () => number): Uint32Array {
  const g = new Uint32Array(256);
  switch (kind) {
    case 0: // h stays 0: every chunk ends at min + 1
      return g;
    case 1: // h stays 0x80000000: nothing ever hits, every chunk ends at max
      return g.fill(0x80000000);
    case 2: // h = 1 - 2^j: hits once 32 bytes have been hashed
      return g.fill(0xffffffff);
    case 3: // a few zero entries among random ones: runs of those bytes keep h at 0
      for (let i = 0; i < 256; i++) g[i] = rand() < 0.1 ? 0 : (rand() * TWO32) >>> 0;
      return g;
    case 4: // only low bits: h's high bits fill in slowly, after ~20 bytes
      for (let i = 0; i < 256; i++) g[i] = (rand() * 4096) >>> 0;
      return g;
    default: // few distinct values, with the high bits set or not
      for (let i = 0; i < 256; i++) g[i] = [0, 1, 0x80000000, 0xffffffff, 0x40000000][randInt(rand, 0, 4)];
      return g;
  }
}

function randomParams(rand: () => number): ChunkerParams {
  const k = randInt(rand, 7, 13);
  const avg = 2 ** k;
  return { min: randInt(rand, 64, avg - 1), avg, max: randInt(rand, avg + 1, 4 * avg) };
}

function makeData(kind: number, n: number, rand: () => number, label: string, p: ChunkerParams, gear: Uint32Array): Uint8Array {
  switch (kind) {
    case 0:
      return pseudoRandomBytes(n, label);
    case 1:
      return new Uint8Array(n);
    case 2:
      return new Uint8Array(n).fill(0xff);
    case 3: {
      const period = randInt(rand, 1, rand() < 0.5 ? 8 : 400);
      const pattern = pseudoRandomBytes(period, label);
      return Uint8Array.from({ length: n }, (_, i) => pattern[i % period]);
    }
    case 4:
      return pseudoRandomBytes(n, label).map((b) => 0x41 + (b & 1)); // two-letter alphabet
    default:
      return craft(p, gear, n, rand);
  }
}

describeNative(`NativeCdc agrees with FastCdc${skipNote}`, () => {
  it('reproduces the golden cut points of the TypeScript tests', () => {
    // data = pseudoRandomBytes(n, 'cairn golden'), gear = gearTable(00 01 .. 1f), as in fast-cdc.test.ts
    const small = nativeCuts(pseudoRandomBytes(1 << 20, 'cairn golden'), SMALL, GOLDEN_GEAR);
    expect(small.length).toBe(115);
    expect(small.slice(0, 8)).toEqual([8194, 15598, 25078, 27225, 36396, 45029, 53571, 62830]);
    expect(createHash('sha256').update(small.join(',')).digest('hex')).toBe(
      '5f3678170cc3461c2de93b873d769ba57e2d6c40b11e9d9eddfd36f362473b13',
    );
    const data = pseudoRandomBytes(16 << 20, 'cairn golden');
    const dflt = nativeCuts(data, DEFAULT_CHUNKER, GOLDEN_GEAR);
    expect(dflt.length).toBe(15);
    expect(dflt.slice(0, 8)).toEqual([1812920, 2939775, 4318667, 5468275, 6767357, 8177468, 9378815, 10145821]);
    expect(createHash('sha256').update(dflt.join(',')).digest('hex')).toBe(
      '61486c0198d40a570c92fe23c5a30567d39840b158d5d09431eae6bb5102686d',
    );
    // The same in 64 KiB reads, the archiver's likely shape.
    const reads = Array.from({ length: 255 }, (_, i) => (i + 1) * 65536);
    expect(nativeCuts(data, DEFAULT_CHUNKER, GOLDEN_GEAR, reads)).toEqual(dflt);
  });

  it('property: identical cuts on random and adversarial inputs, params, gear tables and splits', () => {
    const rand = prng(2024);
    const boundaryLengths = { minPlus1: 0, avg: 0, avgPlus1: 0, max: 0 };
    for (let t = 0; t < 400; t++) {
      const p = t % 4 === 3 ? randomParams(rand) : [TINY, ODD, SMALL][t % 4];
      const gearKind = randInt(rand, 0, 9);
      const gear =
        gearKind < 4
          ? gearTable(Uint8Array.from({ length: 32 }, () => randInt(rand, 0, 255)))
          : gearKind < 6
            ? Uint32Array.from({ length: 256 }, () => (rand() * TWO32) >>> 0)
            : adversarialGear(randInt(rand, 0, 5), rand);
      const dataKind = randInt(rand, 0, 7); // 5..7 crafted: the interesting one, weighted up
      const n = rand() < 0.1 ? randInt(rand, 0, p.max + 2) : randInt(rand, 0, 6 * p.max);
      const data = makeData(dataKind, n, rand, `native ${t}`, p, gear);

      const whole = tsCuts(data, p, gear);
      const why = `case ${t}: params ${JSON.stringify(p)}, gear kind ${gearKind}, data kind ${dataKind}, n ${n}`;
      expect(nativeCuts(data, p, gear), why).toEqual(whole);
      // Split: the same cuts, each reported by the same update() call as FastCdc's.
      for (const splits of [randomSplits(rand, n), boundarySplits(whole, p, n, rand)]) {
        const calls = feedCalls(new NativeCdc(p, gear), data, splits);
        expect(calls, `${why}, splits ${splits.join(',')}`).toEqual(feedCalls(new FastCdc(p, gear), data, splits));
        expect(calls.flat()).toEqual(whole);
      }
      // A finder reused after finish() mid-chunk (h and pos must be reset).
      const reused = new NativeCdc(p, gear);
      reused.update(makeData(randInt(rand, 0, 5), randInt(rand, 0, 2 * p.max), rand, `prefix ${t}`, p, gear));
      reused.finish();
      expect(feed(reused, data), `${why}, reused finder`).toEqual(whole);

      for (const s of sizes(whole).slice(0, -1)) {
        if (s === p.min + 1) boundaryLengths.minPlus1++;
        if (s === p.avg) boundaryLengths.avg++;
        if (s === p.avg + 1) boundaryLengths.avgPlus1++;
        if (s === p.max) boundaryLengths.max++;
      }
    }
    // The adversarial inputs really did make chunks of every edge length.
    for (const [edge, count] of Object.entries(boundaryLengths)) expect(count, edge).toBeGreaterThan(10);
  });

  it('crafted data hits its targets (min + 1, avg, avg + 1, max) with the keyed table', () => {
    // Checks the generator above against the reference, so the property test is known
    // to exercise the edges with a real (HMAC) gear table, not only degenerate ones.
    const rand = prng(5);
    for (const p of [TINY, ODD, SMALL]) {
      const data = craft(p, GOLDEN_GEAR, 40 * p.max, rand);
      const whole = tsCuts(data, p, GOLDEN_GEAR);
      const s = new Set(sizes(whole).slice(0, -1));
      for (const edge of [p.min + 2, p.avg, p.avg + 1, p.max]) expect(s.has(edge), `${JSON.stringify(p)} length ${edge}`).toBe(true);
      expect(nativeCuts(data, p, GOLDEN_GEAR, randomSplits(rand, data.length))).toEqual(whole);
    }
  });

  it('degenerate tables: cuts at exactly min + 1, or never before max', () => {
    const data = pseudoRandomBytes(10 * SMALL.max + 3, 'degenerate');
    const atMin = nativeCuts(data, SMALL, adversarialGear(0, prng(1)));
    expect(new Set(sizes(atMin).slice(0, -1))).toEqual(new Set([SMALL.min + 1]));
    expect(atMin).toEqual(tsCuts(data, SMALL, adversarialGear(0, prng(1))));
    const atMax = nativeCuts(data, SMALL, adversarialGear(1, prng(1)), [1, 2, SMALL.max, SMALL.max + 1]);
    expect(new Set(sizes(atMax).slice(0, -1))).toEqual(new Set([SMALL.max]));
    expect(atMax).toEqual(tsCuts(data, SMALL, adversarialGear(1, prng(1))));
  });

  it('lengths around min, avg and max, whole, split and byte by byte', () => {
    for (const [j, p] of [TINY, ODD, SMALL, { min: 64, avg: 128, max: 129 }].entries()) {
      const edges = [0, 1, p.min - 1, p.min, p.min + 1, p.min + 2, p.avg - 1, p.avg, p.avg + 1, p.max - 1, p.max, p.max + 1];
      for (const n of [...edges, ...edges.map((e) => e + p.max), 2 * p.max, 2 * p.max + 1, 3 * p.max + 17]) {
        for (const kind of [0, 1, 2]) {
          const data = makeData(kind, n, prng(n), `edge ${j} ${n}`, p, GOLDEN_GEAR);
          const whole = tsCuts(data, p, GOLDEN_GEAR);
          expect(nativeCuts(data, p, GOLDEN_GEAR), `${JSON.stringify(p)} n ${n} kind ${kind}`).toEqual(whole);
          if (n > 0) expect(whole[whole.length - 1]).toBe(n);
          const half = Math.floor(n / 2);
          const splits = [0, 1, half, half, n - 1].filter((x) => x >= 0 && x <= n).sort((a, b) => a - b);
          expect(nativeCuts(data, p, GOLDEN_GEAR, splits)).toEqual(whole);
          if (p !== SMALL) {
            const bytewise = Array.from({ length: n + 1 }, (_, i) => i);
            expect(nativeCuts(data, p, GOLDEN_GEAR, bytewise)).toEqual(whole);
          }
        }
      }
    }
    const f = new NativeCdc(SMALL, GOLDEN_GEAR);
    expect(f.update(new Uint8Array(0))).toEqual([]);
    expect(f.finish()).toEqual([]);
    const bytewise = pseudoRandomBytes(3 * SMALL.max + 17, 'bytewise');
    const out: number[] = [];
    for (let j = 0; j < bytewise.length; j++) out.push(...f.update(bytewise.subarray(j, j + 1)));
    out.push(...f.finish());
    expect(out).toEqual(tsCuts(bytewise, SMALL, GOLDEN_GEAR));
  });

  it('offsets past 2^32 stay exact', () => {
    // min close to max: nearly every byte is skipped, so 4.5 GiB take well under a second.
    const p: ChunkerParams = { min: 2 ** 25 - 100, avg: 2 ** 25, max: 2 ** 25 + 3 };
    const piece = pseudoRandomBytes(8 << 20, 'big stream');
    const nat = new NativeCdc(p, GOLDEN_GEAR);
    const ts = new FastCdc(p, GOLDEN_GEAR);
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < 576; i++) {
      // Alternate two views so chunks do not repeat with the piece.
      const view = i % 3 === 0 ? piece.subarray(0, (8 << 20) - 12345) : piece;
      a.push(...nat.update(view));
      b.push(...ts.update(view));
    }
    a.push(...nat.finish());
    b.push(...ts.finish());
    expect(a).toEqual(b);
    expect(a[a.length - 1]).toBeGreaterThan(TWO32 + 2 ** 28);
    expect(a.filter((c) => c > TWO32).length).toBeGreaterThan(5);
  });

  it('after finish() a new stream starts at offset 0, also when finished mid-chunk', () => {
    const a = pseudoRandomBytes(200_000, 'first');
    const b = pseudoRandomBytes(150_000, 'second');
    const f = new NativeCdc(SMALL, GOLDEN_GEAR);
    f.update(a.subarray(0, 5000)); // mid-chunk, past min
    expect(f.finish()).toEqual([5000]);
    expect(feed(f, b)).toEqual(tsCuts(b, SMALL, GOLDEN_GEAR));
    expect(feed(f, a, [3])).toEqual(tsCuts(a, SMALL, GOLDEN_GEAR));
    // h too: with gear[1] = 2^30 a run of 1s holds h at 0xc0000000; a stale h would
    // delay the zeros' cut at min + 1 (gear[0] = 0 keeps a fresh h at 0).
    const gear = new Uint32Array(256);
    gear[1] = 0x40000000;
    const g = new NativeCdc(SMALL, gear);
    g.update(new Uint8Array(SMALL.min + 100).fill(1));
    expect(g.finish()).toEqual([SMALL.min + 100]);
    expect(g.update(new Uint8Array(SMALL.min + 1))).toEqual([SMALL.min + 1]);
  });

  it('copies the gear table and accepts any Uint8Array view (Buffer, offset views)', () => {
    const gear = GOLDEN_GEAR.slice();
    const f = new NativeCdc(SMALL, gear);
    gear.fill(0);
    const backing = pseudoRandomBytes(300_017, 'views');
    const data = backing.subarray(17); // a Buffer at a non-zero byteOffset
    expect(feed(f, data)).toEqual(tsCuts(data, SMALL, GOLDEN_GEAR));
    const plain = new Uint8Array(data.buffer, data.byteOffset, data.length);
    expect(feed(f, plain, [1000])).toEqual(tsCuts(data, SMALL, GOLDEN_GEAR));
  });

  it('rejects bad parameters and tables exactly as FastCdc does', () => {
    const bad: Array<[ChunkerParams, Uint32Array]> = [
      [{ min: 1024, avg: 3000, max: 8192 }, GOLDEN_GEAR],
      [{ min: 4096, avg: 4096, max: 8192 }, GOLDEN_GEAR],
      [{ min: 16, avg: 4096, max: 8192 }, GOLDEN_GEAR],
      [{ min: 1024, avg: 4096, max: 2 ** 30 }, GOLDEN_GEAR],
      [{ min: 1024.5, avg: 4096, max: 8192 }, GOLDEN_GEAR],
      [SMALL, new Uint32Array(255)],
    ];
    for (const [p, g] of bad) {
      const errors = [() => new FastCdc(p, g), () => new NativeCdc(p, g)].map((make) => {
        try {
          make();
        } catch (e) {
          return e;
        }
        return undefined;
      });
      expect(isCairnError(errors[1])).toBe(true);
      expect((errors[1] as { code: string }).code).toBe((errors[0] as { code: string }).code);
      expect((errors[1] as Error).message).toBe((errors[0] as Error).message);
    }
  });

  it('the addon validates its own arguments with TypeErrors', () => {
    const Chunker = native!.Chunker!;
    const ok = (): unknown => new Chunker(2048, 8192, 32768, GOLDEN_GEAR);
    expect(ok()).toBeInstanceOf(Chunker);
    const make = (...args: unknown[]) => () => new (Chunker as unknown as new (...a: unknown[]) => unknown)(...args);
    expect(make(2048, 8192, 32768)).toThrow(TypeError);
    expect(make('2048', 8192, 32768, GOLDEN_GEAR)).toThrow(/min must be a number/);
    expect(make(2048, 8000, 32768, GOLDEN_GEAR)).toThrow(/avg must be a power of two/);
    expect(make(8192, 8192, 32768, GOLDEN_GEAR)).toThrow(/min < avg < max/);
    expect(make(2048, 8192, 2 ** 27, GOLDEN_GEAR)).toThrow(/max must be an integer between 64 and 67108864/);
    expect(make(2048, 8192, NaN, GOLDEN_GEAR)).toThrow(TypeError);
    expect(make(2048, 8192, 32768, new Int32Array(256))).toThrow(/gear must be a Uint32Array/);
    expect(make(2048, 8192, 32768, new Uint32Array(257))).toThrow(/256 entries/);
    expect(() => (Chunker as unknown as (...a: unknown[]) => unknown)(2048, 8192, 32768, GOLDEN_GEAR)).toThrow(/without 'new'/);
    const c = new Chunker(2048, 8192, 32768, GOLDEN_GEAR);
    for (const bad of ['bytes', 42, null, new Uint16Array(4), new DataView(new ArrayBuffer(4))]) {
      expect(() => c.update(bad as unknown as Uint8Array)).toThrow(TypeError);
    }
    expect(() => (c as unknown as { update(): unknown }).update()).toThrow(/expects 1 argument/);
    expect(() => c.update.call({}, new Uint8Array(1))).toThrow(TypeError);
    // A failed call leaves the state alone.
    expect(c.update(new Uint8Array(10))).toEqual([]);
    expect(c.finish()).toEqual([10]);
  });

  it('createCutFinder picks the native chunker and does not warn', () => {
    expect(nativeChunkerAvailable()).toBe(true);
    const onFallback = vi.fn();
    const f = createCutFinder(SMALL, GOLDEN_GEAR, { onFallback });
    expect(f).toBeInstanceOf(NativeCdc);
    expect(onFallback).not.toHaveBeenCalled();
    const data = pseudoRandomBytes(100_000, 'factory');
    expect(feed(f, data)).toEqual(tsCuts(data, SMALL, GOLDEN_GEAR));
  });
});

describe('createCutFinder without the native addon (CAIRN_NO_NATIVE=1)', () => {
  // The flag is read once, when src/util/native-addon.ts is imported, so the modules are
  // imported afresh under it (as in test/fs/no-native.test.ts).
  let m: {
    factory: typeof import('../../src/chunker/create-cut-finder.js');
    fast: typeof import('../../src/chunker/fast-cdc.js');
    native: typeof import('../../src/chunker/native-cdc.js');
  };
  beforeAll(async () => {
    vi.resetModules();
    vi.stubEnv('CAIRN_NO_NATIVE', '1');
    m = {
      factory: await import('../../src/chunker/create-cut-finder.js'),
      fast: await import('../../src/chunker/fast-cdc.js'),
      native: await import('../../src/chunker/native-cdc.js'),
    };
  });
  afterAll(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it('falls back to FastCdc, calling onFallback exactly once per process with the reason', () => {
    expect(m.factory.nativeChunkerAvailable()).toBe(false);
    const first = vi.fn();
    const later = vi.fn();
    const a = m.factory.createCutFinder(SMALL, GOLDEN_GEAR); // no callback: does not use up the warning
    const b = m.factory.createCutFinder(SMALL, GOLDEN_GEAR, { onFallback: first });
    const c = m.factory.createCutFinder(TINY, GOLDEN_GEAR, { onFallback: first });
    const d = m.factory.createCutFinder(SMALL, GOLDEN_GEAR, { onFallback: later });
    for (const f of [a, b, c, d]) expect(f).toBeInstanceOf(m.fast.FastCdc);
    expect(first).toHaveBeenCalledTimes(1);
    expect(first.mock.calls[0]![0]).toMatch(/CAIRN_NO_NATIVE/);
    expect(later).not.toHaveBeenCalled();
    const data = pseudoRandomBytes(100_000, 'fallback');
    expect(feed(b, data)).toEqual(tsCuts(data, SMALL, GOLDEN_GEAR));
  });

  it('reports bad parameters before warning, and NativeCdc itself refuses to construct', () => {
    expect(() => m.factory.createCutFinder({ min: 1, avg: 2, max: 3 }, GOLDEN_GEAR)).toThrow(/invalid chunker parameters/);
    let err: unknown;
    try {
      new m.native.NativeCdc(SMALL, GOLDEN_GEAR);
    } catch (e) {
      err = e;
    }
    // A CairnError of the freshly imported module graph, so compare the code, not the class.
    expect((err as { code?: string }).code).toBe('INTERNAL');
    expect(String((err as Error).message)).toMatch(/native chunker unavailable: disabled by CAIRN_NO_NATIVE/);
  });
});

describe('createCutFinder with an addon built before the chunker existed', () => {
  afterEach(() => {
    vi.doUnmock('../../src/util/native-addon.js');
    vi.resetModules();
  });

  it('falls back, naming the stale build', async () => {
    vi.resetModules();
    vi.doMock('../../src/util/native-addon.js', () => ({ native: {}, nativeLoadError: () => undefined }));
    const factory = await import('../../src/chunker/create-cut-finder.js');
    const onFallback = vi.fn();
    expect(factory.nativeChunkerAvailable()).toBe(false);
    factory.createCutFinder(SMALL, GOLDEN_GEAR, { onFallback });
    expect(onFallback).toHaveBeenCalledTimes(1);
    expect(onFallback.mock.calls[0]![0]).toMatch(/no chunker.*npm run build:native/);
  });
});
