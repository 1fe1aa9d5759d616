import { describe, expect, it } from 'vitest';
import { isZeroDuration, parseDuration, subtractDuration } from '../../src/snapshot/duration.js';
import { isCairnError } from '../../src/core/errors/index.js';

const d = (years: number, months: number, days: number, hours: number) => ({ years, months, days, hours });
const utc = (s: string) => new Date(`${s}Z`);
const iso = (t: Date) => t.toISOString();

describe('parseDuration', () => {
  it.each([
    ['30d', d(0, 0, 30, 0)],
    ['1y2m', d(1, 2, 0, 0)],
    ['12h', d(0, 0, 0, 12)],
    ['2w', d(0, 0, 14, 0)],
    ['2w3d', d(0, 0, 17, 0)],
    ['1y2m3w4d5h', d(1, 2, 25, 5)],
    ['5h1y', d(1, 0, 0, 5)],
    ['007d', d(0, 0, 7, 0)],
    ['0d', d(0, 0, 0, 0)],
  ])('%s', (s, expected) => {
    expect(parseDuration(s)).toEqual(expected);
  });

  it.each(['', 'd', '30', '30x', '-1d', '+1d', '1.5d', ' 30d', '30d ', '1d 2h', '1d2d', '30D', '1e3d', '99999999d', 'y1'])(
    'rejects %j with USAGE',
    (s) => {
      let err: unknown;
      try {
        parseDuration(s);
      } catch (e) {
        err = e;
      }
      expect(isCairnError(err, 'USAGE')).toBe(true);
    },
  );

  it('isZeroDuration', () => {
    expect(isZeroDuration(parseDuration('0y0m0d0h'))).toBe(true);
    expect(isZeroDuration(parseDuration('1h'))).toBe(false);
  });
});

describe('subtractDuration (UTC)', () => {
  it('clamps to the end of a shorter month', () => {
    expect(iso(subtractDuration(utc('2026-03-31T12:00:00'), d(0, 1, 0, 0)))).toBe('2026-02-28T12:00:00.000Z');
    expect(iso(subtractDuration(utc('2028-03-31T12:00:00'), d(0, 1, 0, 0)))).toBe('2028-02-29T12:00:00.000Z');
    expect(iso(subtractDuration(utc('2026-05-31T00:00:00'), d(0, 1, 0, 0)))).toBe('2026-04-30T00:00:00.000Z');
    expect(iso(subtractDuration(utc('2028-02-29T08:00:00'), d(1, 0, 0, 0)))).toBe('2027-02-28T08:00:00.000Z');
  });

  it('crosses year boundaries by months', () => {
    expect(iso(subtractDuration(utc('2026-01-31T23:59:00'), d(0, 1, 0, 0)))).toBe('2025-12-31T23:59:00.000Z');
    expect(iso(subtractDuration(utc('2026-03-31T00:00:00'), d(0, 13, 0, 0)))).toBe('2025-02-28T00:00:00.000Z');
    expect(iso(subtractDuration(utc('2026-03-15T00:00:00'), d(1, 14, 0, 0)))).toBe('2024-01-15T00:00:00.000Z');
  });

  it('applies years and months first, then days, then hours', () => {
    // Mar 31 − 1m = Feb 28 (clamped), − 1d = Feb 27, − 2h crosses midnight.
    expect(iso(subtractDuration(utc('2026-03-31T01:00:00'), d(0, 1, 1, 2)))).toBe('2026-02-26T23:00:00.000Z');
  });

  it('days are 24 h and hours are hours, DST does not exist in UTC', () => {
    expect(iso(subtractDuration(utc('2026-03-30T12:00:00'), d(0, 0, 2, 0)))).toBe('2026-03-28T12:00:00.000Z');
    expect(iso(subtractDuration(utc('2026-03-01T00:30:00'), d(0, 0, 0, 1)))).toBe('2026-02-28T23:30:00.000Z');
    expect(iso(subtractDuration(utc('2028-03-01T00:00:00'), d(0, 0, 1, 0)))).toBe('2028-02-29T00:00:00.000Z');
  });

  it('goes no further back than the earliest Date', () => {
    expect(subtractDuration(utc('2026-03-31T12:00:00'), d(300_000, 0, 0, 0)).getTime()).toBe(-8.64e15);
    expect(subtractDuration(utc('2026-03-31T12:00:00'), d(200_000, 1_000_000, 0, 0)).getTime()).toBe(-8.64e15);
    expect(iso(subtractDuration(utc('2026-03-31T12:00:00'), d(10_000, 0, 0, 0)))).toBe('-007974-03-31T12:00:00.000Z');
  });

  it('does not modify its argument and rejects an invalid date', () => {
    const t = utc('2026-03-31T12:00:00');
    subtractDuration(t, d(1, 1, 1, 1));
    expect(iso(t)).toBe('2026-03-31T12:00:00.000Z');
    expect(() => subtractDuration(new Date(NaN), d(0, 0, 1, 0))).toThrow(/invalid date/);
  });
});
