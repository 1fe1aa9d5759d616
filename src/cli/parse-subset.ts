import { usageError } from './usage-error.js';

/** Which part of the pack data `check --read-data-subset` reads. */
export type ReadDataSubset =
  | { kind: 'percent'; percent: number }
  | { kind: 'slice'; n: number; m: number };

const HINT = 'use a percentage like "10%" (a random tenth) or "n/m" like "1/5" (the first of five fixed slices)';

/** "10%" → a random 10 %; "2/5" → slice 2 of 5. Anything else is USAGE. */
export function parseSubset(text: string): ReadDataSubset {
  const s = text.trim();
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(s);
  if (pct) {
    const percent = Number(pct[1]);
    if (percent <= 0 || percent > 100) {
      throw usageError(`invalid --read-data-subset "${text}": the percentage must be above 0 and at most 100`, HINT);
    }
    return { kind: 'percent', percent };
  }
  const slice = /^(\d+)\/(\d+)$/.exec(s);
  if (slice) {
    const n = Number(slice[1]);
    const m = Number(slice[2]);
    if (m < 1 || n < 1 || n > m) {
      throw usageError(`invalid --read-data-subset "${text}": n/m needs 1 ≤ n ≤ m`, HINT);
    }
    return { kind: 'slice', n, m };
  }
  throw usageError(`invalid --read-data-subset "${text}"`, HINT);
}

/** The string form the engine's CheckOptions.readDataSubset takes. */
export function formatSubset(subset: ReadDataSubset): string {
  return subset.kind === 'percent' ? `${subset.percent}%` : `${subset.n}/${subset.m}`;
}
