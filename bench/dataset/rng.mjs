// Deterministic randomness for the benchmark dataset.
//
// Everything the generator writes must be byte-identical on every machine and every
// Node version, so: one small integer-only PRNG (sfc32, public domain, 128-bit state),
// seeded from SHA-256 of a string; no Math.random, no floating-point transcendental
// functions (Math.log/exp may differ by an ulp between engines) in anything that
// reaches file content. Incompressible bulk bytes come from AES-256-CTR instead (see
// keystream), which OpenSSL computes identically everywhere and ~100x faster.
import { createCipheriv, createHash } from 'node:crypto';

const TWO32 = 4294967296;

/** 32 bytes derived from a label: the one way seeds and keys are made. */
export function derive(label) {
  return createHash('sha256').update(`cairn-bench/${label}`).digest();
}

export class Rng {
  /** @param {string} seed any label; equal labels give equal streams. */
  constructor(seed) {
    const d = derive(`rng/${seed}`);
    this.a = d.readUInt32LE(0);
    this.b = d.readUInt32LE(4);
    this.c = d.readUInt32LE(8);
    this.d = d.readUInt32LE(12) | 1;
    for (let i = 0; i < 16; i++) this.u32(); // mix the seed in
  }

  /** Uniform 32-bit unsigned integer (sfc32). */
  u32() {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Integer in [0, n). Exact (multiply-shift) for n ≤ 2^21, which is all we use. */
  below(n) {
    return Math.floor((this.u32() * n) / TWO32);
  }

  /** Integer in [lo, hi], both inclusive. */
  int(lo, hi) {
    return lo + this.below(hi - lo + 1);
  }

  pick(list) {
    return list[this.below(list.length)];
  }

  /** True with probability num/den. */
  chance(num, den) {
    return this.below(den) < num;
  }

  /** 16 lowercase hex digits. */
  hex64() {
    return this.u32().toString(16).padStart(8, '0') + this.u32().toString(16).padStart(8, '0');
  }

  /** A skewed (roughly log-uniform) integer in [0, max]: many small values, a long tail. */
  skewed(max) {
    const bits = Math.max(1, 32 - Math.clz32(max)); // integer log2, no floating point
    const k = this.int(1, bits);
    return Math.min(max, this.below(2 ** k));
  }
}

/**
 * `n` incompressible, deterministic bytes: the AES-256-CTR keystream of a key derived
 * from `label`, produced in pieces of at most `piece` bytes (calls `sink(buf)` for each).
 */
export function keystream(label, n, sink, piece = 1 << 20) {
  const cipher = createCipheriv('aes-256-ctr', derive(`key/${label}`), derive(`iv/${label}`).subarray(0, 16));
  const zeros = Buffer.alloc(Math.min(piece, Math.max(n, 1)));
  for (let left = n; left > 0; ) {
    const len = Math.min(left, zeros.length);
    sink(cipher.update(len === zeros.length ? zeros : zeros.subarray(0, len)));
    left -= len;
  }
}

/** `n` keystream bytes as one buffer (for small overwrites). */
export function keystreamBytes(label, n) {
  const parts = [];
  keystream(label, n, (b) => parts.push(b));
  return Buffer.concat(parts, n);
}

/**
 * A stable pseudo-random order key for a path: sorting by it gives a "seeded shuffle"
 * that, unlike shuffling a sorted list, does not reshuffle everything when one file is
 * added or removed elsewhere — each path keeps its place relative to the others.
 */
export function orderKey(seed, path) {
  return createHash('sha256').update(`cairn-bench/order/${seed}\0`).update(path).digest('hex');
}
