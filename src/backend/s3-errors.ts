import { CairnError } from '../core/errors/index.js';
import { BackendNotFoundError } from './types.js';

/** What an S3 request was doing, for the one-line message. */
export interface S3ErrorContext {
  op: string;
  /** Backend name ('config', 'data/ab/…'), or '' for bucket-level requests. */
  name: string;
  bucket: string;
  /** For messages: s3://bucket/prefix?endpoint=… (never credentials). */
  location: string;
}

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

const THROTTLING = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'ProvisionedThroughputExceededException',
  'ServiceUnavailable',
  'InternalError',
  // S3 closes uploads whose body arrives too slowly with a 400 RequestTimeout.
  'RequestTimeout',
  'RequestTimeoutException',
]);

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

const AUTH = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'AccountProblem',
  'Forbidden',
]);

const CREDENTIALS_HINT = 'check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and that the policy allows this bucket; see docs/backends.md';

/**
 * Maps an error from @aws-sdk/client-s3 to what the Backend contract promises:
 * BackendNotFoundError for a missing key, otherwise a CairnError with a one-line
 * message (never the SDK's multi-line text or stack) and the original as `cause`.
 * BACKEND_UNAVAILABLE marks what retrying may fix (is-transient-error.ts retries it).
 * Programming errors (TypeError, RangeError, ...) pass through with their stack.
 */
export function mapS3Error(err: unknown, ctx: S3ErrorContext): unknown {
  if (err instanceof CairnError || err instanceof BackendNotFoundError) return err;
  if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError || err instanceof SyntaxError) {
    return err;
  }
  const e = (err ?? {}) as SdkErrorShape;
  const code = e.Code ?? (typeof e.name === 'string' && e.name !== 'Error' ? e.name : undefined);
  const errno = networkCode(err);
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  const what = ctx.name ? `${ctx.op} ${ctx.name} in ${ctx.location}` : `${ctx.op} in ${ctx.location}`;
  const detail = oneLine(e.message);
  const details = { op: ctx.op, ...(ctx.name ? { name: ctx.name } : {}), ...(code ? { s3Code: code } : {}), ...(status ? { httpStatus: status } : {}) };

  if (code === 'NoSuchKey' || (status === 404 && (code === 'NotFound' || code === undefined) && ctx.name !== '')) {
    return new BackendNotFoundError(ctx.name);
  }
  if (code === 'NoSuchBucket') {
    return new CairnError('REPO_NOT_FOUND', `bucket "${ctx.bucket}" does not exist (${ctx.location})`, {
      cause: err,
      hint: 'create the bucket first (e.g. `aws s3 mb s3://' + ctx.bucket + '`), or check the bucket name, endpoint and region',
      details,
    });
  }
  if (code === 'CredentialsProviderError' || /could not load credentials/i.test(detail)) {
    return new CairnError('PERMISSION_DENIED', `no AWS credentials found for ${ctx.location}`, {
      cause: err,
      hint: 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE; see docs/backends.md',
      details,
    });
  }
  if (code === 'RequestTimeTooSkewed') {
    return new CairnError('PERMISSION_DENIED', `S3 refused ${what}: the system clock differs too much from the server's`, {
      cause: err,
      hint: 'synchronise the clock (NTP) and run the command again',
      details,
    });
  }
  if ((code !== undefined && AUTH.has(code)) || status === 401 || status === 403) {
    return new CairnError('PERMISSION_DENIED', `S3 refused ${what}: ${code ?? `HTTP ${status}`}`, { cause: err, hint: CREDENTIALS_HINT, details });
  }
  if (code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed' || code === 'IllegalLocationConstraintException' || status === 301) {
    return new CairnError('CONFIG_INVALID', `S3 refused ${what}: the bucket is in another region (${code ?? `HTTP ${status}`})`, {
      cause: err,
      hint: 'set the bucket\'s region with ?region=… in the URL or AWS_REGION',
      details,
    });
  }
  if (code === 'InvalidRequest' && /object lock/i.test(detail)) {
    return new CairnError('CONFIG_INVALID', `S3 refused ${what}: the bucket has no Object Lock configuration`, {
      cause: err,
      hint: 'object-lock-days needs a bucket created with Object Lock enabled; see docs/backends.md',
      details,
    });
  }
  if (code === 'InvalidStorageClass') {
    return new CairnError('CONFIG_INVALID', `S3 refused ${what}: storage class not supported by this store`, {
      cause: err,
      hint: 'remove storage-class= from the URL or pick one the store supports',
      details,
    });
  }
  if (code === 'NotImplemented' || status === 501) {
    // Permanent: the store lacks the feature, retrying cannot help.
    return new CairnError('IO_ERROR', `the S3 store does not implement ${what}`, { cause: err, details });
  }
  if (
    errno !== undefined ||
    (code !== undefined && THROTTLING.has(code)) ||
    code === 'TimeoutError' ||
    code === 'AbortError' ||
    status === 429 ||
    (status !== undefined && status >= 500) ||
    e.$fault === 'server'
  ) {
    const why = errno ?? code ?? (status ? `HTTP ${status}` : 'no response');
    return new CairnError('BACKEND_UNAVAILABLE', `S3 unavailable during ${what}: ${why}${detail && !detail.includes(why) ? ` (${detail})` : ''}`.slice(0, 400), {
      cause: err,
      hint: 'the store did not answer or asked to slow down; cairn retries such errors, so check the endpoint and network if it persists',
      details,
    });
  }
  return new CairnError('IO_ERROR', `S3 error during ${what}: ${code ?? (status ? `HTTP ${status}` : 'unknown')}${detail ? ` (${detail})` : ''}`.slice(0, 400), {
    cause: err,
    details,
  });
}

/** A Node network errno anywhere in the cause chain (the SDK wraps some). */
function networkCode(err: unknown, depth = 0): string | undefined {
  if (depth > 5 || typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || code.startsWith('UND_ERR_'))) return code;
  const nested = (err as { errors?: unknown }).errors; // AggregateError from happy-eyeballs connects
  if (Array.isArray(nested)) for (const n of nested) {
    const c = networkCode(n, depth + 1);
    if (c) return c;
  }
  return networkCode((err as { cause?: unknown }).cause, depth + 1);
}

function oneLine(s: string | undefined): string {
  return (s ?? '').replace(/\s+/g, ' ').trim().slice(0, 200);
}
