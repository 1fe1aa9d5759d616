import { CairnError } from '../core/errors/index.js';

/** A database server URL scheme, as its messages name it. */
export interface ServerUrlScheme {
  /** Accepted `URL.protocol` values ('postgres:', 'postgresql:'). */
  protocols: readonly string[];
  /** 'postgres://' (in "not a valid … URL"). */
  name: string;
  /** 'postgres://', or 'mariadb:// or mysql://' (in "not a … URL"). */
  names: string;
  /** An example URL for the hint. */
  example: string;
}

/**
 * Parses a database server URL, refusing a malformed one or another scheme with a USAGE
 * error that never shows the password. `display` is the URL without its password, for
 * snapshots, logs and messages.
 */
export function parseServerUrl(url: string, scheme: ServerUrlScheme): { u: URL; display: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CairnError('USAGE', `"${redactUrl(url)}" is not a valid ${scheme.name} URL`, { hint: `e.g. ${scheme.example}` });
  }
  if (!scheme.protocols.includes(u.protocol)) {
    throw new CairnError('USAGE', `"${redactUrl(url)}" is not a ${scheme.names} URL`, { hint: `e.g. ${scheme.example}` });
  }
  const shown = new URL(url);
  shown.password = '';
  return { u, display: shown.toString() };
}

/** The URL with its password, if any, replaced by ***. */
export function redactUrl(s: string): string {
  return s.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
}
