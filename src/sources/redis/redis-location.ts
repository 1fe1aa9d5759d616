import { CairnError } from '../../core/errors/index.js';

/** A parsed redis:// URL. The password never appears in `display`. */
export interface RedisLocation {
  host: string;
  port: number;
  username: string | null;
  password: string | null;
  /** redis://host:port, without credentials: what snapshots record as their path. */
  display: string;
}

export function isRedisUrl(s: string): boolean {
  return /^rediss?:\/\//i.test(s);
}

/** redis://[[user]:password@]host[:port][/db]; the db number is ignored (a replica gets every db). */
export function parseRedisLocation(url: string): RedisLocation {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CairnError('USAGE', `"${url}" is not a redis:// URL`, { hint: 'redis://[user:password@]host[:port]' });
  }
  if (u.protocol === 'rediss:') throw new CairnError('USAGE', 'rediss:// (TLS) is not supported yet', { hint: 'use redis:// through a TLS tunnel (stunnel, spiped)' });
  if (u.protocol !== 'redis:') throw new CairnError('USAGE', `"${url}" is not a redis:// URL`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = u.port ? Number(u.port) : 6379;
  const username = u.username ? decodeURIComponent(u.username) : null;
  const password = u.password ? decodeURIComponent(u.password) : null;
  const h = host.includes(':') ? `[${host}]` : host;
  return { host, port, username, password, display: `redis://${h}:${port}` };
}

/** The default source name: host and port, which survive restarts (run_id and replid do not). */
export function defaultRedisName(loc: RedisLocation): string {
  return `${loc.host}-${loc.port}`.replace(/[^A-Za-z0-9_.-]/g, '_');
}
