/**
 * Calendar buckets for the keep-hourly/daily/weekly/monthly/yearly rules, as integers
 * in restic's shapes (YYYYMMDDHH, YYYYMMDD, YYYYWW, YYYYMM, YYYY). Always computed in
 * UTC: a snapshot's bucket must not depend on the time zone of the machine running
 * forget, or two hosts would disagree about which snapshots to delete.
 */

export function hourBucket(t: Date): number {
  return t.getUTCFullYear() * 1_000_000 + (t.getUTCMonth() + 1) * 10_000 + t.getUTCDate() * 100 + t.getUTCHours();
}

export function dayBucket(t: Date): number {
  return t.getUTCFullYear() * 10_000 + (t.getUTCMonth() + 1) * 100 + t.getUTCDate();
}

/** ISO 8601 week (Monday start; week 1 holds the year's first Thursday) as isoYear*100+week. */
export function weekBucket(t: Date): number {
  const { year, week } = isoWeek(t);
  return year * 100 + week;
}

export function monthBucket(t: Date): number {
  return t.getUTCFullYear() * 100 + (t.getUTCMonth() + 1);
}

export function yearBucket(t: Date): number {
  return t.getUTCFullYear();
}

/**
 * The ISO week of a UTC instant. The week belongs to the year of its Thursday, so
 * Dec 29–31 can be week 1 of the next year and Jan 1–3 week 52/53 of the previous.
 */
export function isoWeek(t: Date): { year: number; week: number } {
  const mondayBased = (t.getUTCDay() + 6) % 7; // Monday 0 .. Sunday 6
  const thursday = new Date(t.getTime());
  thursday.setUTCHours(0, 0, 0, 0);
  thursday.setUTCDate(thursday.getUTCDate() - mondayBased + 3);
  const year = thursday.getUTCFullYear();
  const jan1 = new Date(0);
  jan1.setUTCFullYear(year, 0, 1);
  const dayOfYear = Math.round((thursday.getTime() - jan1.getTime()) / 86_400_000); // 0-based
  return { year, week: Math.floor(dayOfYear / 7) + 1 };
}
