import { createHash } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { CompletedPart, ObjectLockMode, S3Client, S3ClientConfig, StorageClass } from '@aws-sdk/client-s3';
import pLimit, { type LimitFunction } from 'p-limit';
import { CairnError } from '../core/errors/index.js';
import { assertBackendName, assertBackendPrefix } from './assert-backend-name.js';
import { checkRange, truncatedError } from './check-range.js';
import { mapS3Error } from './s3-errors.js';
import { parseS3Location, type S3Location } from './s3-location.js';
import { isNotFound, type Backend, type ByteRange, type FileInfo, type SaveOptions } from './types.js';

export interface S3BackendOptions {
  /** Static credentials (tests); default: the SDK's chain (env, AWS_PROFILE, SSO, IMDS, ...). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** TCP connect timeout; default 10 s. */
  connectTimeoutMs?: number;
  /** A socket idle this long (no byte either way) fails the request; default 60 s. */
  idleTimeoutMs?: number;
  /** Time source for object-lock dates and cleanup(); tests inject one. */
  now?: () => number;
  /** Environment for fromUrl() (AWS_ENDPOINT_URL, AWS_REGION, ...); default process.env. */
  env?: NodeJS.ProcessEnv;
}

type Sdk = { m: typeof import('@aws-sdk/client-s3'); client: S3Client };

/** Files that must survive a compromised client for the retention period (see docs/backends.md). */
const LOCKED_PREFIXES = ['data/', 'index/', 'snapshots/', 'keys/'];

/**
 * A Backend on S3 or an S3-compatible store (MinIO, Ceph RGW, R2, B2, Wasabi, ...).
 * Names map to keys under the URL's prefix: `s3://b/repo` stores `config` as `repo/config`.
 *
 * - save is one PutObject (atomic on S3: readers see the old object, or none, or all of
 *   the new one) carrying x-amz-checksum-sha256 that we computed, so the store rejects
 *   a body damaged in transit. Larger objects go up as a multipart upload, which is
 *   equally invisible until CompleteMultipartUpload.
 * - The SDK's own retries are off (maxAttempts 1): retry with backoff and jitter is the
 *   job of withRetry around every opened backend; transient failures surface here as
 *   BACKEND_UNAVAILABLE so that it retries them.
 * - At most `concurrency` requests are in flight (p-limit), with as many sockets.
 */
export class S3Backend implements Backend {
  readonly location: string;
  readonly verifiesWrites: boolean;
  private readonly loc: S3Location;
  private readonly root: string;
  private readonly limit: LimitFunction;
  private readonly now: () => number;
  private readonly agents: Array<HttpAgent | HttpsAgent>;
  private closed = false;
  private sdkPromise: Promise<Sdk> | undefined;
  private readonly clientConfig: S3ClientConfig;

  static fromUrl(url: string, options: S3BackendOptions = {}): S3Backend {
    return new S3Backend(parseS3Location(url, options.env ?? process.env), options);
  }

  constructor(loc: S3Location, options: S3BackendOptions = {}) {
    this.loc = loc;
    this.location = loc.display;
    this.verifiesWrites = loc.verifyWrites === 'checksum';
    this.root = loc.prefix ? `${loc.prefix}/` : '';
    this.now = options.now ?? Date.now;
    this.limit = pLimit(loc.concurrency);
    const agentOptions = { keepAlive: true, maxSockets: loc.concurrency };
    const httpAgent = new HttpAgent(agentOptions);
    const httpsAgent = new HttpsAgent(agentOptions);
    this.agents = [httpAgent, httpsAgent];
    this.clientConfig = {
      region: loc.region ?? profileRegion,
      ...(loc.endpoint ? { endpoint: loc.endpoint } : {}),
      forcePathStyle: loc.forcePathStyle,
      followRegionRedirects: true,
      maxAttempts: 1,
      // We send our own SHA-256 on uploads; no extra CRC32 pass from the SDK.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_SUPPORTED',
      requestHandler: {
        connectionTimeout: options.connectTimeoutMs ?? 10_000,
        socketTimeout: options.idleTimeoutMs ?? 60_000,
        httpAgent,
        httpsAgent,
      },
      ...(options.credentials ? { credentials: options.credentials } : {}),
    };
  }

  /**
   * The SDK is loaded on first use: importing it costs ~100 ms, which every command on
   * a local repository would otherwise pay at startup.
   */
  private sdk(): Promise<Sdk> {
    // The SDK prints a multi-line NodeVersionSupportWarning on Node 20 to stderr, which
    // would break the CLI's one-line error contract; docs/backends.md says it instead.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.sdkPromise ??= import('@aws-sdk/client-s3').then((m) => ({ m, client: new m.S3Client(this.clientConfig) }));
    return this.sdkPromise;
  }

  /** The SDK client (tests attach middleware to observe requests). */
  async getClient(): Promise<S3Client> {
    return (await this.sdk()).client;
  }

  async save(name: string, data: Uint8Array, _options?: SaveOptions): Promise<void> {
    assertBackendName(name);
    // PutObject replaces atomically, so overwrite and idempotent re-save are the same request.
    const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (body.length > this.loc.partSize) return this.saveMultipart(name, body);
    await this.request('save', name, ({ m, client }) =>
      client.send(
        new m.PutObjectCommand({
          Bucket: this.loc.bucket,
          Key: this.key(name),
          Body: body,
          ContentLength: body.length,
          ContentType: 'application/octet-stream',
          ChecksumSHA256: sha256Base64(body),
          ...this.objectParams(name),
        }),
      ),
    );
  }

  /**
   * Parts are uploaded concurrently (each takes a slot of the request limit) from
   * views of `body`, never copies. On any failure every started part is awaited and
   * the upload is aborted, so no half-uploaded parts keep costing storage; if even the
   * abort fails, cleanup() finds the upload later.
   */
  private async saveMultipart(name: string, body: Buffer): Promise<void> {
    const Key = this.key(name);
    const created = await this.request('save', name, ({ m, client }) =>
      client.send(
        new m.CreateMultipartUploadCommand({
          Bucket: this.loc.bucket,
          Key,
          ContentType: 'application/octet-stream',
          ChecksumAlgorithm: 'SHA256',
          ...this.objectParams(name),
        }),
      ),
    );
    const UploadId = created.UploadId;
    if (!UploadId) throw new CairnError('IO_ERROR', `S3 returned no upload id for ${name} in ${this.location}`);
    try {
      const size = this.loc.partSize;
      const count = Math.ceil(body.length / size);
      const settled = await Promise.allSettled(
        Array.from({ length: count }, async (_, i): Promise<CompletedPart> => {
          const part = body.subarray(i * size, Math.min(body.length, (i + 1) * size));
          const checksum = sha256Base64(part);
          const res = await this.request('save', name, ({ m, client }) =>
            client.send(
              new m.UploadPartCommand({
                Bucket: this.loc.bucket,
                Key,
                UploadId,
                PartNumber: i + 1,
                Body: part,
                ContentLength: part.length,
                ChecksumSHA256: checksum,
              }),
            ),
          );
          return { PartNumber: i + 1, ETag: res.ETag, ChecksumSHA256: checksum };
        }),
      );
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
      const parts = settled.map((s) => (s as PromiseFulfilledResult<CompletedPart>).value);
      await this.request('save', name, ({ m, client }) =>
        client.send(
          new m.CompleteMultipartUploadCommand({ Bucket: this.loc.bucket, Key, UploadId, MultipartUpload: { Parts: parts } }),
        ),
      );
    } catch (err) {
      const { m, client } = await this.sdk();
      await this.limit(() => client.send(new m.AbortMultipartUploadCommand({ Bucket: this.loc.bucket, Key, UploadId }))).catch(() => {});
      throw err;
    }
  }

  async load(name: string, range?: ByteRange): Promise<Buffer> {
    assertBackendName(name);
    if (range) {
      checkRange(name, range, Number.MAX_SAFE_INTEGER); // shape only: integers, not negative
      // HTTP cannot ask for zero bytes; the answer only depends on the size.
      if (range.length === 0) {
        checkRange(name, range, (await this.stat(name)).size);
        return Buffer.alloc(0);
      }
    }
    let res: { bytes: Buffer; contentRange: string | undefined; contentLength: number | undefined };
    try {
      res = await this.request('load', name, async ({ m, client }) => {
        const out = await client.send(
          new m.GetObjectCommand({
            Bucket: this.loc.bucket,
            Key: this.key(name),
            ...(range ? { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : {}),
          }),
        );
        // The body is read inside the request slot: its socket is busy until then.
        const arr = out.Body ? await out.Body.transformToByteArray() : new Uint8Array(0);
        return { bytes: Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength), contentRange: out.ContentRange, contentLength: out.ContentLength };
      });
    } catch (err) {
      if (range && isRangeNotSatisfiable(err)) throw truncatedError(name, range, (await this.stat(name)).size);
      throw err;
    }
    const { bytes, contentRange, contentLength } = res;
    if (contentLength !== undefined && bytes.length !== contentLength) {
      throw new CairnError('BACKEND_UNAVAILABLE', `short read of ${name} from ${this.location}: got ${bytes.length} of ${contentLength} bytes`, {
        hint: 'the connection was cut mid-transfer; cairn retries such errors',
      });
    }
    if (!range) return bytes;
    const m = contentRange ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange) : null;
    if (m) {
      if (Number(m[1]) !== range.offset) {
        throw new CairnError('IO_ERROR', `S3 returned bytes ${m[1]}-${m[2]} of ${name} for a request starting at ${range.offset}`);
      }
      // S3 clips a range that runs past the end: that is our "truncated" error.
      if (bytes.length < range.length) throw truncatedError(name, range, m[3] === '*' ? range.offset + bytes.length : Number(m[3]));
    } else if (bytes.length >= range.offset + range.length && bytes.length !== range.length) {
      // A store that ignores Range answers 200 with the whole object.
      return bytes.subarray(range.offset, range.offset + range.length);
    }
    if (bytes.length !== range.length) throw truncatedError(name, range, range.offset + Math.min(bytes.length, range.length));
    return bytes;
  }

  async *list(prefix: string): AsyncIterable<FileInfo> {
    assertBackendPrefix(prefix);
    let token: string | undefined;
    do {
      const page = await this.request(`list ${prefix || '(all)'}`, '', ({ m, client }) =>
        client.send(
          new m.ListObjectsV2Command({ Bucket: this.loc.bucket, Prefix: this.root + prefix, ...(token ? { ContinuationToken: token } : {}) }),
        ),
      );
      for (const o of page.Contents ?? []) {
        const name = o.Key?.slice(this.root.length);
        // Skip "folder" marker objects that consoles create (keys ending in '/').
        if (!name || name.endsWith('/') || !o.Key!.startsWith(this.root)) continue;
        yield { name, size: o.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async stat(name: string): Promise<FileInfo> {
    assertBackendName(name);
    const head = await this.request('stat', name, ({ m, client }) => client.send(new m.HeadObjectCommand({ Bucket: this.loc.bucket, Key: this.key(name) })));
    return { name, size: head.ContentLength ?? 0 };
  }

  async remove(name: string): Promise<void> {
    assertBackendName(name);
    try {
      await this.request('remove', name, ({ m, client }) => client.send(new m.DeleteObjectCommand({ Bucket: this.loc.bucket, Key: this.key(name) })));
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sdkPromise) (await this.sdkPromise.catch(() => undefined))?.client.destroy();
    for (const a of this.agents) a.destroy();
  }

  /**
   * Aborts multipart uploads under this repository's prefix that were started more
   * than `olderThanMs` ago (a killed process leaves them; S3 bills their parts until
   * aborted). Younger ones may belong to a save in progress and are left alone. Stores
   * that do not implement ListMultipartUploads (s3rver) report 0.
   */
  async cleanup(olderThanMs: number): Promise<number> {
    const cutoff = this.now() - olderThanMs;
    let removed = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.request('list multipart uploads', '', ({ m, client }) =>
          client.send(
            new m.ListMultipartUploadsCommand({
              Bucket: this.loc.bucket,
              Prefix: this.root,
              ...(keyMarker ? { KeyMarker: keyMarker } : {}),
              ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
            }),
          ),
        );
      } catch (err) {
        if (isNotImplemented(err)) return removed;
        throw err;
      }
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !u.Initiated || u.Initiated.getTime() > cutoff) continue;
        const name = u.Key.slice(this.root.length);
        try {
          await this.request('abort multipart upload', name, ({ m, client }) =>
            client.send(new m.AbortMultipartUploadCommand({ Bucket: this.loc.bucket, Key: u.Key, UploadId: u.UploadId })),
          );
          removed++;
        } catch (err) {
          // Already completed or aborted by someone else: nothing left to clean.
          if (!isNotFound(err) && (err as { cause?: { name?: string } }).cause?.name !== 'NoSuchUpload') throw err;
        }
      }
      if (!page.IsTruncated) return removed;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  private key(name: string): string {
    return this.root + name;
  }

  /** Storage class for packs only; retention for everything a ransomware attacker would delete. */
  private objectParams(name: string): { StorageClass?: StorageClass; ObjectLockMode?: ObjectLockMode; ObjectLockRetainUntilDate?: Date } {
    const out: { StorageClass?: StorageClass; ObjectLockMode?: ObjectLockMode; ObjectLockRetainUntilDate?: Date } = {};
    if (this.loc.storageClass && name.startsWith('data/')) out.StorageClass = this.loc.storageClass as StorageClass;
    const lock = this.loc.objectLock;
    if (lock && LOCKED_PREFIXES.some((p) => name.startsWith(p))) {
      out.ObjectLockMode = lock.mode;
      out.ObjectLockRetainUntilDate = new Date(this.now() + lock.days * 86_400_000);
    }
    return out;
  }

  /** Runs one request in a slot of the concurrency limit and maps its errors. */
  private async request<T>(op: string, name: string, fn: (sdk: Sdk) => Promise<T>): Promise<T> {
    if (this.closed) throw new CairnError('INTERNAL', `S3 backend ${this.location} used after close()`);
    try {
      const sdk = await this.sdk();
      return await this.limit(() => fn(sdk));
    } catch (err) {
      throw mapS3Error(err, { op, name, bucket: this.loc.bucket, location: this.location });
    }
  }
}

function sha256Base64(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('base64');
}

function isRangeNotSatisfiable(err: unknown): boolean {
  const cause = err instanceof CairnError ? (err.cause as { name?: string; $metadata?: { httpStatusCode?: number } }) : undefined;
  return cause?.name === 'InvalidRange' || cause?.$metadata?.httpStatusCode === 416;
}

function isNotImplemented(err: unknown): boolean {
  const cause = err instanceof CairnError ? (err.cause as { name?: string; $metadata?: { httpStatusCode?: number } }) : undefined;
  return cause?.name === 'NotImplemented' || cause?.$metadata?.httpStatusCode === 501;
}

/**
 * The region when neither the URL, AWS_REGION nor AWS_DEFAULT_REGION names one: the
 * profile's (~/.aws/config, as the SDK reads it), else us-east-1, which is what MinIO,
 * s3rver and most S3-compatible stores accept.
 */
async function profileRegion(): Promise<string> {
  const { S3Client } = await import('@aws-sdk/client-s3');
  const probe = new S3Client({});
  try {
    return (await probe.config.region()) || 'us-east-1';
  } catch {
    return 'us-east-1';
  } finally {
    probe.destroy();
  }
}

