import { usageError } from './usage-error.js';

/** y = year, m = month, w = week, d = day, h = hour, min = minute, s = second. */
export type DurationUnit = 'y' | 'm' | 'w' | 'd' | 'h' | 'min' | 's';
export type Duration = Record<DurationUnit, number>;

const ALL_UNITS: DurationUnit[] = ['y', 'm', 'w', 'd', 'h', 'min', 's'];
const TOKEN = /^(\d+)(min|y|m|w|d|h|s)/;
/** Largest number per unit, as the engine's retention parser allows (src/snapshot/duration.ts). */
const MAX_PART = 1_000_000;

const MS: Record<DurationUnit, number> = {
  y: 365 * 86_400_000,
  m: 30 * 86_400_000,
  w: 7 * 86_400_000,
  d: 86_400_000,
  h: 3_600_000,
  min: 60_000,
  s: 1000,
};

/**
 * Parses "1y2m3d", "12h", "90min", "0". Units may appear once each, in any order; "m"
 * is months, "min" minutes. Anything else is a USAGE error naming the flag.
 */
export function parseDuration(
  text: string,
  flag: string,
  allowed: readonly DurationUnit[] = ALL_UNITS,
): Duration {
  const d: Duration = { y: 0, m: 0, w: 0, d: 0, h: 0, min: 0, s: 0 };
  const bad = (why: string): Error =>
    usageError(
      `invalid duration for ${flag}: "${text}" (${why})`,
      `write a number and a unit, combined as needed, e.g. ${allowed.includes('y') ? '"1y6m", ' : ''}"30d", "12h"; units: ${allowed.join(', ')}`,
    );
  const s = text.trim();
  if (s === '0') return d;
  if (s === '') throw bad('empty');
  const seen = new Set<DurationUnit>();
  let rest = s;
  while (rest !== '') {
    const m = TOKEN.exec(rest);
    if (!m) throw bad('expected a number followed by a unit');
    const unit = m[2] as DurationUnit;
    if (!allowed.includes(unit)) throw bad(`unit "${unit}" is not allowed here`);
    if (seen.has(unit)) throw bad(`unit "${unit}" given twice`);
    seen.add(unit);
    const n = Number(m[1]);
    // Past this, Number() rounds (99999999999999999999999 became 1e+23) and dates overflow.
    if (n > MAX_PART) throw bad(`${m[1]} is too large: at most ${MAX_PART} per unit`);
    d[unit] = n;
    rest = rest.slice(m[0].length);
  }
  return d;
}

/** Milliseconds, counting a month as 30 days and a year as 365 days. */
export function durationToMs(d: Duration): number {
  return ALL_UNITS.reduce((sum, u) => sum + d[u] * MS[u], 0);
}

/** Canonical "1y2m17d4h" form for the engine's keepWithin (weeks folded into days). */
export function formatCalendarDuration(d: Duration): string {
  const days = d.d + 7 * d.w;
  const parts: string[] = [];
  if (d.y) parts.push(`${d.y}y`);
  if (d.m) parts.push(`${d.m}m`);
  if (days) parts.push(`${days}d`);
  if (d.h) parts.push(`${d.h}h`);
  return parts.length ? parts.join('') : '0h';
}
