/**
 * UTC with microseconds (`2026-01-01T00:00:00.123000Z`), the form PostgreSQL, MariaDB
 * and SQLite times take in sourceMeta and log records: such strings compare correctly
 * as strings with each other and with the server's own microsecond times.
 */
export function isoMicros(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
