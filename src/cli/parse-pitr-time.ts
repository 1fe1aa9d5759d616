import { usageError } from './usage-error.js';

const ISO = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d{1,9}))?)?\s*(Z|[+-]\d\d(?::?\d\d)?)$/i;

/**
 * `--at` for a database source: "latest", or ISO 8601 with an explicit offset or Z,
 * e.g. 2026-11-27T10:00:00+01:00 or 2026-11-27T09:00:00.123456Z. A time without an
 * offset is refused (USAGE): it would depend on this host's time zone, and the server's
 * may differ. Returns UTC as "YYYY-MM-DDTHH:MM:SS.ffffffZ" (microseconds, PostgreSQL's
 * precision), so times compare correctly as strings.
 */
export function parsePitrTime(text: string): string {
  const s = text.trim();
  if (s === 'latest') return 'latest';
  const m = ISO.exec(s);
  if (!m) {
    throw usageError(
      `--at "${text}" is not "latest" or an ISO 8601 time with an offset`,
      'write e.g. 2026-11-27T10:00:00Z or 2026-11-27T11:00:00+01:00 (an offset is required: times are never read in the local zone)',
    );
  }
  const [, y, mo, d, h, mi, sec = '00', frac = '', off] = m;
  let offsetMin = 0;
  if (off!.toUpperCase() !== 'Z') {
    const sign = off!.startsWith('-') ? -1 : 1;
    const digits = off!.slice(1).replace(':', '');
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0'));
  }
  const local = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec)));
  if (local.getUTCDate() !== Number(d) || local.getUTCHours() !== Number(h) || local.getUTCSeconds() !== Number(sec) || Math.abs(offsetMin) > 18 * 60) {
    throw usageError(`--at "${text}" is not a valid time`, 'write e.g. 2026-11-27T10:00:00Z');
  }
  const date = new Date(local.getTime() - offsetMin * 60_000);
  return `${date.toISOString().slice(0, 19)}.${frac.padEnd(6, '0').slice(0, 6)}Z`;
}
