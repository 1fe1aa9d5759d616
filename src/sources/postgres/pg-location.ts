import { CairnError } from '../../core/errors/index.js';

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
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CairnError('USAGE', `"${redact(url)}" is not a valid postgres:// URL`, { hint: 'e.g. postgres://cairn@db1:5432/' });
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new CairnError('USAGE', `"${redact(url)}" is not a postgres:// URL`, { hint: 'e.g. postgres://cairn@db1:5432/' });
  }
  const shown = new URL(url);
  shown.password = '';
  return { url, display: shown.toString() };
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

function redact(s: string): string {
  return s.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
}
