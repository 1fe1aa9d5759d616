import type { ForgetPolicy } from '../engine/types.js';
import { formatCalendarDuration, parseDuration } from './parse-duration.js';
import { parseTagFilter } from './parse-tags.js';
import { usageError } from './usage-error.js';

/** The forget flags as commander hands them over (values still strings). */
export interface RawKeepOptions {
  keepLast?: string;
  keepHourly?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepYearly?: string;
  keepWithin?: string;
  keepTag?: string[];
}

/** A keep count: a whole number ≥ 0, or -1 for unlimited. Anything else is USAGE. */
export function parseKeepCount(value: string, flag: string): number {
  const s = value.trim();
  if (!/^-?\d+$/.test(s) || Number(s) < -1 || !Number.isSafeInteger(Number(s))) {
    throw usageError(`invalid value for ${flag}: "${value}"`, `${flag} takes a whole number, or -1 for unlimited`);
  }
  return Number(s);
}

const COUNTS: [keyof RawKeepOptions & keyof ForgetPolicy, string][] = [
  ['keepLast', '--keep-last'],
  ['keepHourly', '--keep-hourly'],
  ['keepDaily', '--keep-daily'],
  ['keepWeekly', '--keep-weekly'],
  ['keepMonthly', '--keep-monthly'],
  ['keepYearly', '--keep-yearly'],
];

/**
 * Maps the --keep-* flags to the engine's ForgetPolicy. Returns undefined when no keep
 * flag was given (forget then needs explicit snapshot ids). Counts pass -1 through as
 * "unlimited"; --keep-within is validated (units y, m, w, d, h) and normalised.
 */
export function parseKeepPolicy(opts: RawKeepOptions): ForgetPolicy | undefined {
  const policy: ForgetPolicy = {};
  let any = false;
  for (const [key, flag] of COUNTS) {
    const v = opts[key];
    if (v === undefined) continue;
    (policy as Record<string, number>)[key] = parseKeepCount(v as string, flag);
    any = true;
  }
  if (opts.keepWithin !== undefined) {
    policy.keepWithin = formatCalendarDuration(
      parseDuration(opts.keepWithin, '--keep-within', ['y', 'm', 'w', 'd', 'h']),
    );
    any = true;
  }
  if (opts.keepTag !== undefined && opts.keepTag.length > 0) {
    policy.keepTags = parseTagFilter(opts.keepTag, '--keep-tag');
    any = true;
  }
  return any ? policy : undefined;
}
