import { isIP } from 'node:net';
import { CairnError } from '../core/errors/index.js';

/**
 * A parsed `s3://bucket/optional/prefix?option=value&...` repository URL, with the
 * standard AWS environment variables folded in. Everything here is pure (the
 * environment is passed in), so parsing is unit-tested without a server.
 */
export interface S3Location {
  bucket: string;
  /** Key prefix without leading or trailing slash; '' for the bucket root. */
  prefix: string;
  /** Explicit endpoint (URL option, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL), or undefined for AWS / the profile's endpoint_url. */
  endpoint: string | undefined;
  /** Explicit region (URL option, AWS_REGION, AWS_DEFAULT_REGION), or undefined: the profile's region, else us-east-1. */
  region: string | undefined;
  forcePathStyle: boolean;
  /** Storage class for packs (data/); undefined = the bucket default (STANDARD on AWS). */
  storageClass: string | undefined;
  concurrency: number;
  objectLock: { days: number; mode: 'GOVERNANCE' | 'COMPLIANCE' } | undefined;
  /** Objects larger than this are uploaded in parts of this size. */
  partSize: number;
  /**
   * How a stored pack is known to be intact. checksum (default): the store verifies the
   * SHA-256 sent with every upload (AWS S3, current MinIO and Ceph); read: cairn reads
   * each pack back and compares, for stores that ignore checksum headers.
   */
  verifyWrites: 'checksum' | 'read';
  /** For messages: the URL without credentials or tuning options, e.g. `s3://b/p?endpoint=http://127.0.0.1:9000`. */
  display: string;
}

export const MiB = 1024 * 1024;
export const DEFAULT_CONCURRENCY = 8;
export const DEFAULT_PART_SIZE = 64 * MiB;
/** S3's own limits: parts are at least 5 MiB (except the last), at most 5 GiB. */
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * 1024 * MiB;

const OPTIONS = [
  'endpoint',
  'region',
  'path-style',
  'storage-class',
  'concurrency',
  'object-lock-days',
  'object-lock-mode',
  'part-size',
  'verify-writes',
] as const;
type OptionName = (typeof OPTIONS)[number];

const SYNTAX = 's3://BUCKET[/PREFIX][?endpoint=URL&region=R&path-style=true|false&storage-class=C&concurrency=N&object-lock-days=D&object-lock-mode=governance|compliance&part-size=64MiB&verify-writes=checksum|read]';

/** Archive classes cannot be read without a restore request; every restore, check and incremental backup reads packs. */
const UNREADABLE_CLASSES = new Set(['GLACIER', 'DEEP_ARCHIVE']);

function usage(message: string, hint = `write it as ${SYNTAX}; see docs/backends.md`): CairnError {
  return new CairnError('USAGE', message, { hint });
}

/**
 * Parses an s3:// URL. `env` supplies AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL /
 * AWS_REGION / AWS_DEFAULT_REGION (and AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, as the SDK
 * honours it); URL options always win over the environment.
 */
export function parseS3Location(url: string, env: NodeJS.ProcessEnv = process.env): S3Location {
  const m = /^s3:\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i.exec(url);
  if (!m) {
    if (/^s3:(?!\/\/)/i.test(url)) throw usage(`invalid S3 URL ${JSON.stringify(redact(url))}: expected s3://BUCKET/PREFIX`);
    if (url.includes('#')) throw usage(`invalid S3 URL ${JSON.stringify(redact(url))}: "#" is not allowed`);
    throw usage(`invalid S3 URL ${JSON.stringify(redact(url))}`);
  }
  const authority = m[1]!;
  if (authority.includes('@')) {
    throw usage('credentials in an S3 URL are refused (they would show up in process lists and logs)', 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE; see docs/backends.md');
  }
  const bucket = authority;
  if (bucket === '') throw usage(`no bucket in S3 URL ${JSON.stringify(url)}`);
  // S3's rules are 3-63 of [a-z0-9.-]; some stores allow upper case and "_", so be lenient there.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/.test(bucket) || bucket.includes('..')) {
    throw usage(`invalid bucket name ${JSON.stringify(bucket)} in ${JSON.stringify(url)}`, 'bucket names are 3-63 characters: letters, digits, ".", "-" and "_"');
  }
  const prefix = parsePrefix(m[2] ?? '', url);
  const opts = parseQuery(m[3] ?? '', url);

  const ignoreEnvEndpoint = /^true$/i.test(env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? '');
  const endpointRaw =
    opts.get('endpoint') ?? (ignoreEnvEndpoint ? undefined : nonEmpty(env.AWS_ENDPOINT_URL_S3) ?? nonEmpty(env.AWS_ENDPOINT_URL));
  const endpointSource = opts.has('endpoint') ? 'the endpoint option' : 'AWS_ENDPOINT_URL(_S3)';
  const endpoint = endpointRaw === undefined ? undefined : parseEndpoint(endpointRaw, endpointSource);

  const regionRaw = opts.get('region') ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION);
  if (regionRaw !== undefined && !/^[a-z0-9][a-z0-9-]{0,62}$/i.test(regionRaw)) {
    throw usage(`invalid S3 region ${JSON.stringify(regionRaw)}`, 'a region looks like us-east-1 or eu-central-1');
  }

  const pathStyleRaw = opts.get('path-style');
  const forcePathStyle = pathStyleRaw === undefined ? endpoint !== undefined && isLocalHost(endpoint) : parseBool('path-style', pathStyleRaw);

  let storageClass = opts.get('storage-class');
  if (storageClass !== undefined) {
    storageClass = storageClass.toUpperCase();
    if (!/^[A-Z][A-Z0-9_]*$/.test(storageClass)) throw usage(`invalid storage-class ${JSON.stringify(opts.get('storage-class'))}`, 'for example STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING or GLACIER_IR');
    if (UNREADABLE_CLASSES.has(storageClass)) {
      throw usage(
        `storage-class ${storageClass} is not supported: objects in it cannot be read without a restore request, and restores, checks and prunes read packs`,
        'use STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING or GLACIER_IR (instant retrieval), or a lifecycle rule on the bucket',
      );
    }
  }

  const concurrency = opts.has('concurrency') ? parseIntOption('concurrency', opts.get('concurrency')!, 1, 256) : DEFAULT_CONCURRENCY;

  let objectLock: S3Location['objectLock'];
  const lockMode = opts.get('object-lock-mode');
  if (opts.has('object-lock-days')) {
    const days = parseIntOption('object-lock-days', opts.get('object-lock-days')!, 1, 36500);
    let mode: 'GOVERNANCE' | 'COMPLIANCE' = 'GOVERNANCE';
    if (lockMode !== undefined) {
      const up = lockMode.toUpperCase();
      if (up !== 'GOVERNANCE' && up !== 'COMPLIANCE') throw usage(`invalid object-lock-mode ${JSON.stringify(lockMode)}`, 'use object-lock-mode=governance or object-lock-mode=compliance');
      mode = up;
    }
    objectLock = { days, mode };
  } else if (lockMode !== undefined) {
    throw usage('object-lock-mode needs object-lock-days', 'add object-lock-days=N (the retention period in days)');
  }

  const partSize = opts.has('part-size') ? parseSize('part-size', opts.get('part-size')!) : DEFAULT_PART_SIZE;
  if (partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
    throw usage(`part-size ${opts.get('part-size')} is out of range`, 'S3 parts are between 5MiB and 5GiB');
  }

  const verifyRaw = opts.get('verify-writes') ?? 'checksum';
  if (verifyRaw !== 'checksum' && verifyRaw !== 'read') {
    throw usage(`invalid verify-writes ${JSON.stringify(verifyRaw)}`, 'use verify-writes=checksum (the store checks our SHA-256) or verify-writes=read (cairn reads every pack back)');
  }
  const verifyWrites: 'checksum' | 'read' = verifyRaw;

  const display = `s3://${bucket}${prefix ? '/' + prefix : ''}${endpoint ? `?endpoint=${endpoint}` : ''}`;
  return {
    bucket,
    prefix,
    endpoint,
    region: regionRaw,
    forcePathStyle,
    storageClass,
    concurrency,
    objectLock,
    partSize,
    verifyWrites,
    display,
  };
}

function parsePrefix(path: string, url: string): string {
  const segments = path.split('/').filter((s, i, all) => !(s === '' && (i === 0 || i === all.length - 1)));
  const decoded: string[] = [];
  for (const s of segments) {
    let d: string;
    try {
      d = decodeURIComponent(s);
    } catch {
      throw usage(`invalid percent-escape in the prefix of ${JSON.stringify(url)}`);
    }
    if (d === '' || d === '.' || d === '..' || d.includes('/') || d.includes('\0') || d.includes('\\')) {
      throw usage(`invalid prefix ${JSON.stringify(path)} in ${JSON.stringify(url)}`, 'the prefix is slash-separated names without empty, "." or ".." parts');
    }
    decoded.push(d);
  }
  return decoded.join('/');
}

function parseQuery(query: string, url: string): Map<OptionName, string> {
  const out = new Map<OptionName, string>();
  if (query === '' || query === '?') return out;
  for (const part of query.slice(1).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
      value = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1).replace(/\+/g, ' '));
    } catch {
      throw usage(`invalid percent-escape in the options of ${JSON.stringify(redact(url))}`);
    }
    if (!(OPTIONS as readonly string[]).includes(key)) {
      const credential = /key|secret|token|password|credential/i.test(key);
      throw usage(
        `unknown S3 option ${JSON.stringify(key)}`,
        credential
          ? 'credentials are never taken from the URL: set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE'
          : `known options: ${OPTIONS.join(', ')}; see docs/backends.md`,
      );
    }
    if (out.has(key as OptionName)) throw usage(`S3 option ${JSON.stringify(key)} given twice`);
    if (value === '') throw usage(`S3 option ${JSON.stringify(key)} needs a value`);
    out.set(key as OptionName, value);
  }
  return out;
}

function parseEndpoint(raw: string, source: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw usage(`invalid S3 endpoint ${JSON.stringify(redact(raw))} from ${source}`, 'write it as http://host:port or https://host');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw usage(`invalid S3 endpoint ${JSON.stringify(redact(raw))} from ${source}: only http:// and https:// are supported`);
  }
  if (u.username || u.password) {
    throw usage(`credentials in the S3 endpoint from ${source} are refused`, 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE');
  }
  if (u.search || u.hash) throw usage(`the S3 endpoint from ${source} must not have a query or fragment`);
  // Normalised, without a trailing slash: "http://127.0.0.1:9000".
  return u.href.replace(/\/$/, '');
}

/** Virtual-hosted bucket names (bucket.host) cannot work for IP addresses or localhost. */
export function isLocalHost(endpoint: string): boolean {
  const host = new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
  return isIP(host) !== 0 || host === 'localhost' || host.endsWith('.localhost');
}

function parseBool(name: string, raw: string): boolean {
  if (/^(true|1|yes)$/i.test(raw)) return true;
  if (/^(false|0|no)$/i.test(raw)) return false;
  throw usage(`invalid ${name} ${JSON.stringify(raw)}`, `use ${name}=true or ${name}=false`);
}

function parseIntOption(name: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw usage(`invalid ${name} ${JSON.stringify(raw)}`, `${name} is a whole number from ${min} to ${max}`);
  }
  return Number(raw);
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kib: 1024, m: MiB, mib: MiB, g: 1024 * MiB, gib: 1024 * MiB };

function parseSize(name: string, raw: string): number {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(raw);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw usage(`invalid ${name} ${JSON.stringify(raw)}`, `write a size such as ${name}=16MiB (units: KiB, MiB, GiB)`);
  return Number(m[1]) * unit;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** Drops anything that looks like userinfo before quoting a URL in a message. */
function redact(url: string): string {
  return url.replace(/\/\/[^/@?#]*@/, '//***@');
}
