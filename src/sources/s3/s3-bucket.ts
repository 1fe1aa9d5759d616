import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { CairnError } from '../../core/errors/index.js';
import { S3Backend, type S3BackendOptions } from '../../backend/s3-backend.js';
import { mapS3Error } from '../../backend/s3-errors.js';
import type { S3Location } from '../../backend/s3-location.js';
import { isNotFound } from '../../backend/types.js';
import { retryCall, type RetryOptions } from '../../backend/with-retry.js';
import { cleanEtag, type ListedObject, type ObjectHeaders } from './s3-object-meta.js';

type Sdk = typeof import('@aws-sdk/client-s3');

export interface GotObject {
  body: AsyncIterable<Uint8Array>;
  size: number;
  etag: string;
  lastModified: Date | undefined;
  headers: ObjectHeaders;
  /** Stops the transfer (an abandoned read must not keep its socket). */
  destroy(): void;
}

/**
 * One bucket (and prefix) read or written object by object: the S3 *source* and
 * restore target. Client setup (endpoint, region, path style, credentials from the
 * AWS chain, timeouts, sockets) is the S3 repository backend's, reused by opening one;
 * errors go through the same mapping, then get source wording: a missing bucket is
 * SOURCE_NOT_FOUND, and an endpoint still unreachable after retries SOURCE_UNREACHABLE.
 * Requests are retried like backend calls (CAIRN_RETRY_*); a missing key is final.
 */
export class S3Bucket {
  private readonly backend: S3Backend;
  private sdk: Promise<{ m: Sdk; client: S3Client }> | undefined;
  readonly root: string;

  constructor(
    readonly loc: S3Location,
    private readonly role: 'source' | 'target',
    private readonly retry: RetryOptions = {},
    options: S3BackendOptions = {},
  ) {
    this.backend = new S3Backend(loc, options);
    this.root = loc.prefix ? `${loc.prefix}/` : '';
  }

  private client(): Promise<{ m: Sdk; client: S3Client }> {
    this.sdk ??= Promise.all([import('@aws-sdk/client-s3'), this.backend.getClient()]).then(([m, client]) => ({ m, client }));
    return this.sdk;
  }

  /** The SDK client (tests attach middleware to count requests). */
  async getClient(): Promise<S3Client> {
    return (await this.client()).client;
  }

  private async call<T>(op: 'list' | 'load' | 'save' | 'stat', key: string, fn: (sdk: { m: Sdk; client: S3Client }) => Promise<T>): Promise<T> {
    try {
      return await retryCall(op, key, async () => {
        try {
          return await fn(await this.client());
        } catch (err) {
          throw mapS3Error(err, { op: opName(op), name: key, bucket: this.loc.bucket, location: this.loc.display });
        }
      }, this.retry);
    } catch (err) {
      throw this.sourceError(err);
    }
  }

  private sourceError(err: unknown): unknown {
    if (!(err instanceof CairnError)) return err;
    const what = this.role === 'source' ? 'S3 source' : 'restore target';
    if (err.code === 'REPO_NOT_FOUND') {
      return new CairnError('SOURCE_NOT_FOUND', `${what} bucket "${this.loc.bucket}" does not exist (${this.loc.display})`, {
        cause: err.cause,
        hint: this.role === 'source' ? 'check the bucket name, endpoint and region' : `create it first (e.g. \`aws s3 mb s3://${this.loc.bucket}\`), or check the name, endpoint and region`,
      });
    }
    if (err.code === 'BACKEND_UNAVAILABLE') {
      return new CairnError('SOURCE_UNREACHABLE', `${what} ${this.loc.display} is unreachable: ${err.message}`, {
        cause: err.cause,
        hint: 'check the endpoint, network and proxy settings; cairn retried the request (CAIRN_RETRY_ATTEMPTS)',
      });
    }
    return err;
  }

  /** Every object under the prefix, in key order (UTF-8 bytes, as S3 lists), page by page. */
  async *list(): AsyncIterable<ListedObject> {
    let token: string | undefined;
    do {
      const page = await this.call('list', '', ({ m, client }) =>
        client.send(new m.ListObjectsV2Command({ Bucket: this.loc.bucket, Prefix: this.root, ...(token ? { ContinuationToken: token } : {}) })),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(this.root)) continue;
        yield {
          key: o.Key,
          size: o.Size ?? 0,
          etag: cleanEtag(o.ETag),
          lastModified: o.LastModified ?? new Date(0),
          storageClass: o.StorageClass ?? 'STANDARD',
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** Opens an object for reading; a missing key throws BackendNotFoundError (isNotFound). */
  async get(key: string): Promise<GotObject> {
    const out = await this.call('load', key, ({ m, client }) => client.send(new m.GetObjectCommand({ Bucket: this.loc.bucket, Key: key })));
    const body = (out.Body as Readable | undefined) ?? null;
    const headers: ObjectHeaders = {};
    if (out.ContentType) headers.contentType = out.ContentType;
    if (out.ContentEncoding) headers.contentEncoding = out.ContentEncoding;
    if (out.ContentLanguage) headers.contentLanguage = out.ContentLanguage;
    if (out.CacheControl) headers.cacheControl = out.CacheControl;
    if (out.ContentDisposition) headers.contentDisposition = out.ContentDisposition;
    if (out.ExpiresString) headers.expires = out.ExpiresString;
    if (out.WebsiteRedirectLocation) headers.websiteRedirectLocation = out.WebsiteRedirectLocation;
    if (out.Metadata && Object.keys(out.Metadata).length > 0) headers.metadata = { ...out.Metadata };
    return {
      body: body ?? (async function* () {})(),
      size: out.ContentLength ?? 0,
      etag: cleanEtag(out.ETag),
      lastModified: out.LastModified,
      headers,
      destroy: () => body?.destroy(),
    };
  }

  /** Fails with SOURCE_NOT_FOUND when the bucket does not exist (before a restore writes anything). */
  async checkBucket(): Promise<void> {
    await this.call('list', '', ({ m, client }) => client.send(new m.ListObjectsV2Command({ Bucket: this.loc.bucket, Prefix: this.root, MaxKeys: 1 })));
  }

  /** One PutObject (atomic: readers see the old object or all of the new one). */
  async put(key: string, body: Buffer, h: ObjectHeaders): Promise<void> {
    await this.call('save', key, ({ m, client }) =>
      client.send(new m.PutObjectCommand({ Bucket: this.loc.bucket, Key: key, Body: body, ContentLength: body.length, ...this.params(h) })),
    );
  }

  /**
   * A multipart upload fed part by part (`parts` yields buffers of the part size, the
   * last one shorter), so a big object never sits in memory whole. On failure the upload
   * is aborted, so no parts keep costing storage.
   */
  async putMultipart(key: string, parts: AsyncIterable<Buffer>, h: ObjectHeaders): Promise<void> {
    const created = await this.call('save', key, ({ m, client }) =>
      client.send(new m.CreateMultipartUploadCommand({ Bucket: this.loc.bucket, Key: key, ...this.params(h) })),
    );
    const UploadId = created.UploadId;
    if (!UploadId) throw new CairnError('IO_ERROR', `S3 returned no upload id for ${key} in ${this.loc.display}`);
    try {
      const done: { PartNumber: number; ETag: string | undefined }[] = [];
      let n = 0;
      for await (const part of parts) {
        const PartNumber = ++n;
        const res = await this.call('save', key, ({ m, client }) =>
          client.send(new m.UploadPartCommand({ Bucket: this.loc.bucket, Key: key, UploadId, PartNumber, Body: part, ContentLength: part.length })),
        );
        done.push({ PartNumber, ETag: res.ETag });
      }
      await this.call('save', key, ({ m, client }) =>
        client.send(new m.CompleteMultipartUploadCommand({ Bucket: this.loc.bucket, Key: key, UploadId, MultipartUpload: { Parts: done } })),
      );
    } catch (err) {
      const { m, client } = await this.client();
      await client.send(new m.AbortMultipartUploadCommand({ Bucket: this.loc.bucket, Key: key, UploadId })).catch(() => {});
      throw err;
    }
  }

  private params(h: ObjectHeaders) {
    return {
      ...(h.contentType ? { ContentType: h.contentType } : {}),
      ...(h.contentEncoding ? { ContentEncoding: h.contentEncoding } : {}),
      ...(h.contentLanguage ? { ContentLanguage: h.contentLanguage } : {}),
      ...(h.cacheControl ? { CacheControl: h.cacheControl } : {}),
      ...(h.contentDisposition ? { ContentDisposition: h.contentDisposition } : {}),
      ...(h.expires && !Number.isNaN(Date.parse(h.expires)) ? { Expires: new Date(h.expires) } : {}),
      ...(h.websiteRedirectLocation ? { WebsiteRedirectLocation: h.websiteRedirectLocation } : {}),
      ...(h.metadata ? { Metadata: h.metadata } : {}),
      ...(this.loc.storageClass ? { StorageClass: this.loc.storageClass as never } : {}),
    };
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}

function opName(op: 'list' | 'load' | 'save' | 'stat'): string {
  return op === 'list' ? 'list' : op === 'load' ? 'get' : op === 'save' ? 'put' : 'head';
}

export { isNotFound };
