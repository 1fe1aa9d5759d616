import { randomBytes } from 'node:crypto';

/** Injected randomness; tests may pass a deterministic source. */
export type RandomSource = (n: number) => Buffer;

export const systemRandom: RandomSource = (n) => randomBytes(n);
