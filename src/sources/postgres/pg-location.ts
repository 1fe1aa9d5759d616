import { parseServerUrl } from '../server-url.js';

/** A PostgreSQL server to back up, from a `postgres://user[:password]@host[:port][/db]` URL. */
export interface PgLocation {
  /** The URL as given (may carry a password: never print it). */
  url: string;
  /** The URL without a password, for snapshots, logs and messages. */
  display: string;
}

export function isPostgresUrl(s: string): boolean {
  return /^postgres(ql)?:\/\//i.test(s);
}

export function parsePgLocation(url: string): PgLocation {
  const { display } = parseServerUrl(url, { protocols: ['postgres:', 'postgresql:'], name: 'postgres://', names: 'postgres://', example: 'postgres://cairn@db1:5432/' });
  return { url, display };
}

/** The same server with `replication=database` (IDENTIFY_SYSTEM, SHOW over the replication protocol). */
export function replicationUrl(loc: PgLocation): string {
  const u = new URL(loc.url);
  if (u.pathname === '' || u.pathname === '/') u.pathname = '/postgres';
  u.searchParams.set('replication', 'database');
  return u.toString();
}

/** The same server, an ordinary connection to database `postgres` unless the URL names one. */
export function sqlUrl(loc: PgLocation): string {
  const u = new URL(loc.url);
  if (u.pathname === '' || u.pathname === '/') u.pathname = '/postgres';
  u.searchParams.delete('replication');
  return u.toString();
}
