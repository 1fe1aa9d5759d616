import { CairnError } from '../core/errors/index.js';
import { isNotFound } from './types.js';

/**
 * Network and resource errno codes that usually go away on their own. EIO is not here:
 * on a local disk it means failing hardware, and retrying only hides that.
 */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAGAIN',
  'EBUSY',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * Whether an error from a Backend is worth retrying. Never: not-found (the answer won't
 * change), DISK_FULL and PERMISSION_DENIED (need an operator), cancellation, or anything
 * unrecognised (a bug should fail fast, not after a minute of backoff).
 */
export function isTransientError(err: unknown): boolean {
  if (isNotFound(err)) return false;
  if (err instanceof CairnError) {
    if (err.code === 'BACKEND_UNAVAILABLE') return true;
    if (err.code === 'IO_ERROR') return hasTransientCause(err.cause);
    return false;
  }
  return hasTransientCause(err);
}

function hasTransientCause(err: unknown, depth = 0): boolean {
  if (depth > 5 || typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
  return hasTransientCause((err as { cause?: unknown }).cause, depth + 1);
}
