import { CairnError } from '../core/errors/index.js';

/** A calendar duration as restic writes it ("1y2m3d4h"); weeks are folded into days. */
export interface Duration {
  years: number;
  months: number;
  days: number;
  hours: number;
}

const PART = /(\d+)([ymwdh])/y;
const MAX_PART = 1_000_000; // far beyond any retention; keeps date arithmetic exact
/** The earliest instant a Date can hold (ECMAScript's time range, -8.64e15 ms). */
const EARLIEST = -8.64e15;

/**
 * Parses restic-style durations: one or more `<n><unit>` with units y (years),
 * m (months), w (weeks = 7 days), d (days), h (hours), e.g. "30d", "1y2m", "12h", "2w".
 * Each unit at most once ("1d2d" is rejected as probably a typo); "2w3d" is 17 days.
 * No spaces, signs or fractions. Throws CairnError USAGE on anything else.
 */
export function parseDuration(s: string): Duration {
  const junk = (why: string): never => {
    throw new CairnError('USAGE', `invalid duration ${JSON.stringify(s)}: ${why}`, {
      hint: 'write a number and a unit, several allowed, e.g. 30d, 2w, 1y6m, 12h (units: y m w d h)',
    });
  };
  if (typeof s !== 'string' || s.length === 0) junk('empty');
  const d: Duration = { years: 0, months: 0, days: 0, hours: 0 };
  const seen = new Set<string>();
  let at = 0;
  while (at < s.length) {
    PART.lastIndex = at;
    const m = PART.exec(s);
    if (!m) junk(`unexpected ${JSON.stringify(s.slice(at))}`);
    const [, digits, unit] = m!;
    if (seen.has(unit!)) junk(`unit ${unit} given twice`);
    seen.add(unit!);
    const n = Number(digits);
    if (n > MAX_PART) junk(`${digits} is too large: at most ${MAX_PART} per unit`);
    switch (unit) {
      case 'y':
        d.years = n;
        break;
      case 'm':
        d.months = n;
        break;
      case 'w':
        d.days += 7 * n;
        break;
      case 'd':
        d.days += n;
        break;
      case 'h':
        d.hours = n;
        break;
    }
    at = PART.lastIndex;
  }
  return d;
}

/** True when the duration is zero in every unit ("0d"). */
export function isZeroDuration(d: Duration): boolean {
  return d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0;
}

function daysInMonth(year: number, month0: number): number {
  // Not Date.UTC: it maps years 0..99 to 1900..1999.
  const d = new Date(0);
  d.setUTCFullYear(year, month0 + 1, 0);
  return d.getUTCDate();
}

/**
 * `date` minus `d`, in UTC. Years and months go first and *clamp* the day to the end
 * of the target month (Mar 31 − 1m = Feb 28, or Feb 29 in a leap year; Feb 29 − 1y =
 * Feb 28), then days (24 h each, UTC has no DST) and hours. Go's AddDate, which
 * restic uses, would instead overflow Feb 31 into Mar 3; clamping reaches further
 * back, so a "within" rule keeps at least what restic keeps, never less.
 */
export function subtractDuration(date: Date, d: Duration): Date {
  const t = date.getTime();
  if (Number.isNaN(t)) throw new CairnError('USAGE', 'cannot subtract a duration from an invalid date');
  const monthIndex = date.getUTCFullYear() * 12 + date.getUTCMonth() - (d.years * 12 + d.months);
  const year = Math.floor(monthIndex / 12);
  const month0 = monthIndex - year * 12;
  const day = Math.min(date.getUTCDate(), daysInMonth(year, month0));
  const shifted = new Date(t);
  // setUTCFullYear(y, m, d) in one call: setting the fields one by one could overflow
  // through an intermediate invalid date (e.g. day 31 in a 30-day month).
  shifted.setUTCFullYear(year, month0, day);
  const at = shifted.getTime() - d.days * 86_400_000 - d.hours * 3_600_000;
  // A duration reaching past the range Dates can hold (300000y) covers all of time. An
  // invalid Date here compared false with every snapshot time, so "keep everything
  // within 300000 years" removed every snapshot.
  return new Date(Number.isNaN(at) || at < EARLIEST ? EARLIEST : at);
}
