import { CairnError } from '../../core/errors/index.js';
import { parseServerUrl, redactUrl } from '../server-url.js';

/**
 * A MariaDB/MySQL server, from a `mariadb://user[:password]@host[:port][/][?socket=PATH][&method=physical]`
 * (or `mysql://`) URL. `method` says how `cairn backup` takes the base: `logical`
 * (mariadb-dump, the default) or `physical` (mariadb-backup of the local data directory).
 */
export interface MyLocation {
  url: string;
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  socket: string | undefined;
  method: 'logical' | 'physical';
  /** The URL without a password, for snapshots, logs and messages. */
  display: string;
}

export function isMariadbUrl(s: string): boolean {
  return /^(mariadb|mysql):\/\//i.test(s);
}

export function parseMyLocation(url: string): MyLocation {
  const { u, display } = parseServerUrl(url, { protocols: ['mariadb:', 'mysql:'], name: 'mariadb://', names: 'mariadb:// or mysql://', example: 'mariadb://cairn@db1:3306/' });
  const method = u.searchParams.get('method') ?? 'logical';
  if (method !== 'logical' && method !== 'physical') {
    throw new CairnError('USAGE', `"${redactUrl(url)}": method=${method} is not logical or physical`, { hint: 'mariadb://cairn@db1:3306/?method=physical takes a mariadb-backup copy of the data directory; omit it for a logical dump' });
  }
  return {
    url,
    host: u.hostname || 'localhost',
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username || 'root'),
    password: u.password ? decodeURIComponent(u.password) : undefined,
    socket: u.searchParams.get('socket') ?? undefined,
    method,
    display,
  };
}
