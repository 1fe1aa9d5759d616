import { CairnError } from '../core/errors/index.js';
import type { RandomSource } from '../core/random.js';

/**
 * --read-data-subset: "N%" picks a random N percent of packs (at least one), "n/m"
 * picks the n-th of m deterministic groups by pack id (so m runs cover everything).
 */
export function selectSubset<T extends { id: string }>(packs: T[], subset: string | undefined, random: RandomSource): T[] {
  if (!subset) return packs;
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(subset);
  if (pct) {
    const p = Number(pct[1]);
    if (!(p > 0 && p <= 100)) throw new CairnError('USAGE', `--read-data-subset ${subset}: percentage must be in (0, 100]`);
    const n = Math.max(1, Math.ceil((packs.length * p) / 100));
    const shuffled = packs.map((x) => ({ x, k: random(4).readUInt32LE(0) })).sort((a, b) => a.k - b.k);
    return shuffled.slice(0, Math.min(n, packs.length)).map((s) => s.x);
  }
  const frac = /^(\d+)\/(\d+)$/.exec(subset);
  if (frac) {
    const n = Number(frac[1]);
    const m = Number(frac[2]);
    if (!(m >= 1 && n >= 1 && n <= m)) throw new CairnError('USAGE', `--read-data-subset ${subset}: need 1 <= n <= m`);
    return packs.filter((p) => (parseInt(p.id.slice(0, 8), 16) % m) + 1 === n);
  }
  throw new CairnError('USAGE', `--read-data-subset ${subset}: expected N% or n/m`);
}
