import { describe, expect, it } from 'vitest';
import { dayBucket, hourBucket, isoWeek, monthBucket, weekBucket, yearBucket } from '../../src/snapshot/forget-policy-buckets.js';

const utc = (s: string) => new Date(`${s}Z`);

describe('calendar buckets', () => {
  it('have restic shapes, in UTC', () => {
    const t = utc('2026-03-09T07:45:00');
    expect(hourBucket(t)).toBe(2026030907);
    expect(dayBucket(t)).toBe(20260309);
    expect(weekBucket(t)).toBe(202611);
    expect(monthBucket(t)).toBe(202603);
    expect(yearBucket(t)).toBe(2026);
  });

  it.each([
    ['2025-12-28T23:59:59', 2025, 52], // Sunday
    ['2025-12-29T00:00:00', 2026, 1], // Monday: 2026 starts on a Thursday, so week 1 starts in 2025
    ['2026-01-01T00:00:00', 2026, 1],
    ['2026-12-31T12:00:00', 2026, 53], // Thursday: 2026 has 53 weeks
    ['2027-01-01T00:00:00', 2026, 53], // Friday of 2026-W53
    ['2027-01-03T23:59:59', 2026, 53], // Sunday
    ['2027-01-04T00:00:00', 2027, 1], // Monday
    ['2020-12-31T00:00:00', 2020, 53],
    ['2021-01-03T00:00:00', 2020, 53],
    ['2021-01-04T00:00:00', 2021, 1],
    ['2028-02-29T00:00:00', 2028, 9],
  ])('isoWeek(%s) = %i-W%i', (s, year, week) => {
    expect(isoWeek(utc(s))).toEqual({ year, week });
  });

  it('isoWeek: weeks run Monday to Sunday and week 1 holds January 4, 1990–2040', () => {
    const day = 86_400_000;
    let prev = isoWeek(utc('1989-12-31T12:00:00'));
    for (let t = utc('1990-01-01T12:00:00').getTime(); t < utc('2041-01-01T00:00:00').getTime(); t += day) {
      const date = new Date(t);
      const w = isoWeek(date);
      if (date.getUTCDay() === 1) {
        const next = prev.week + 1;
        if (w.week === 1) expect(w.year).toBe(prev.year + 1);
        else expect(w).toEqual({ year: prev.year, week: next });
        expect(w.week === 1 || w.week === next).toBe(true);
      } else {
        expect(w).toEqual(prev);
      }
      if (date.getUTCMonth() === 0 && date.getUTCDate() === 4) expect(w).toEqual({ year: date.getUTCFullYear(), week: 1 });
      prev = w;
    }
  });
});
