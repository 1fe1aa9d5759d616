import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createConnection, createServer as createNetServer, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { S3Client } from '@aws-sdk/client-s3';
import { isTransientError } from '../../src/backend/is-transient-error.js';
import { S3Backend } from '../../src/backend/s3-backend.js';
import { isNotFound, type Backend } from '../../src/backend/types.js';
import { isCairnError, type CairnError } from '../../src/core/errors/index.js';
import { closedPort, startS3rver, type S3rver } from '../helpers/s3rver.js';

/**
 * What the shared contract suite does not cover: multipart uploads, pagination,
 * prefixes, the headers we send, the request limit, and how failures are reported.
 * Everything runs against a real s3rver except where s3rver cannot produce the answer
 * (403, 503, a server that accepts and then stalls): those use a bare HTTP/TCP server
 * that answers with a canned S3 error document, which proves how Cairn maps the wire
 * response, not how S3 behaves.
 */

const MiB = 1024 * 1024;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

let server: S3rver;
const opened: Backend[] = [];
beforeAll(async () => {
  server = await startS3rver(['cairn', 'other']);
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((b) => b.close()));
  vi.unstubAllEnvs();
});
afterAll(async () => {
  await server?.stop();
});

function open(prefix: string, options: Record<string, string> = {}, bucket = 'cairn'): S3Backend {
  const b = S3Backend.fromUrl(server.url(bucket, prefix, { region: 'us-east-1', ...options }), { credentials: server.credentials, env: {} });
  opened.push(b);
  return b;
}

async function names(b: Backend, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const f of b.list(prefix)) out.push(f.name);
  return out.sort();
}

interface Seen {
  command: string;
  input: Record<string, unknown>;
  headers: Record<string, string>;
  body: Uint8Array | undefined;
}

/** Records every request the SDK sends (after serialisation, so headers are final). */
async function spy(b: S3Backend): Promise<Seen[]> {
  const seen: Seen[] = [];
  const client: S3Client = await b.getClient();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const req = args.request as { headers: Record<string, string>; body?: unknown };
      seen.push({
        command: context.commandName as string,
        input: args.input as Record<string, unknown>,
        headers: { ...req.headers },
        body: req.body instanceof Uint8Array ? req.body : undefined,
      });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'cairnTestSpy' },
  );
  return seen;
}

async function errorOf(p: Promise<unknown>): Promise<CairnError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isCairnError(err), `expected a CairnError, got ${String(err)}`).toBe(true);
  return err as CairnError;
}

describe('multipart uploads', () => {
  it('uploads a large object in parallel parts and reads ranges across part boundaries', async () => {
    const b = open('multi', { 'part-size': '5MiB' });
    const seen = await spy(b);
    const data = randomBytes(12 * MiB + 12345);
    await b.save('data/ab/big', data);

    const parts = seen.filter((s) => s.command === 'UploadPartCommand');
    expect(parts.map((p) => p.input.PartNumber).sort()).toEqual([1, 2, 3]);
    expect(seen.filter((s) => s.command === 'PutObjectCommand')).toEqual([]);
    // Each part carries the SHA-256 of exactly its bytes, so S3 verifies every part.
    for (const p of parts) {
      const n = p.input.PartNumber as number;
      const expected = sha256(data.subarray((n - 1) * 5 * MiB, Math.min(data.length, n * 5 * MiB))).toString('base64');
      expect(p.headers['x-amz-checksum-sha256']).toBe(expected);
    }
    expect(seen.find((s) => s.command === 'CreateMultipartUploadCommand')!.headers['x-amz-checksum-algorithm']).toBe('SHA256');

    expect(await b.stat('data/ab/big')).toEqual({ name: 'data/ab/big', size: data.length });
    expect(sha256(await b.load('data/ab/big')).equals(sha256(data))).toBe(true);
    // Ranges straddling the 5 MiB and 10 MiB part boundaries, and the short last part.
    for (const [offset, length] of [
      [5 * MiB - 100, 200],
      [5 * MiB - 1, 5 * MiB + 2],
      [10 * MiB - 7, 2 * MiB + 7],
      [data.length - 10, 10],
    ] as const) {
      const got = await b.load('data/ab/big', { offset, length });
      expect(got.equals(data.subarray(offset, offset + length)), `range ${offset}+${length}`).toBe(true);
    }
  });

  it('uses a single PutObject up to the part size', async () => {
    const b = open('single', { 'part-size': '5MiB' });
    const seen = await spy(b);
    await b.save('data/cd/edge', randomBytes(5 * MiB));
    expect(seen.map((s) => s.command)).toEqual(['PutObjectCommand']);
  });

  it('aborts the upload when a part fails, leaving no object behind', async () => {
    const b = open('abort', { 'part-size': '5MiB' });
    const client = await b.getClient();
    const seen = await spy(b);
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UploadPartCommand' && (args.input as { PartNumber: number }).PartNumber === 2) {
          throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
        }
        return next(args);
      },
      { step: 'initialize', name: 'failPart2' },
    );
    const err = await errorOf(b.save('data/ef/big', randomBytes(11 * MiB)));
    expect(err.code).toBe('BACKEND_UNAVAILABLE');
    expect(isTransientError(err)).toBe(true);
    // The abort was sent (s3rver answers it with MethodNotAllowed: it cannot abort, which
    // the save tolerates; on S3 the parts are deleted).
    expect(seen.map((s) => s.command)).toContain('AbortMultipartUploadCommand');
    expect(await names(b)).toEqual([]);
    await expect(b.stat('data/ef/big')).rejects.toSatisfy(isNotFound);
  });

  it('cleanup() tolerates a store without ListMultipartUploads (s3rver) and removes nothing', async () => {
    const b = open('cleanup');
    await b.save('config', Buffer.from('x'));
    expect(await b.cleanup(0)).toBe(0);
    expect(await names(b)).toEqual(['config']);
  });
});

describe('listing and prefixes', () => {
  it('lists more than 1000 keys (ListObjectsV2 pagination)', async () => {
    const b = open('many', { concurrency: '64' });
    const all = Array.from({ length: 1050 }, (_, i) => `index/${String(i).padStart(5, '0')}`);
    await Promise.all(all.map((n) => b.save(n, Buffer.from(n))));
    const seen = await spy(b);
    const listed: { name: string; size: number }[] = [];
    for await (const f of b.list('index/')) listed.push(f);
    expect(listed.length).toBe(1050);
    expect(new Set(listed.map((f) => f.name)).size).toBe(1050);
    expect(listed.every((f) => f.size === 11)).toBe(true);
    expect(seen.filter((s) => s.command === 'ListObjectsV2Command').length).toBe(2);
  });

  it('keeps repositories under different prefixes of one bucket apart, including repo1 vs repo10', async () => {
    const r1 = open('team/repo1');
    const r10 = open('team/repo10');
    const root = open('');
    await r1.save('config', Buffer.from('one'));
    await r10.save('config', Buffer.from('ten'));
    await r10.save('data/ab/p', Buffer.from('pack'));
    await root.save('config', Buffer.from('root'));
    expect(await names(r1)).toEqual(['config']);
    expect(await names(r10)).toEqual(['config', 'data/ab/p']);
    expect((await r1.load('config')).toString()).toBe('one');
    await r1.remove('config');
    expect((await r10.load('config')).toString()).toBe('ten');
    expect((await root.load('config')).toString()).toBe('root');
    // The bucket root sees the others' keys as names under "team/": that is why a
    // repository at the root must not share its bucket with prefixed ones.
    expect(await names(root, 'config')).toEqual(['config']);
    expect(r1.location).toMatch(/^s3:\/\/cairn\/team\/repo1\?endpoint=http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('skips console "folder" marker keys ending in /', async () => {
    const raw = open('marker');
    const client = await raw.getClient();
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    await client.send(new PutObjectCommand({ Bucket: 'cairn', Key: 'marker/data/', Body: Buffer.alloc(0) }));
    await raw.save('data/ab/p', Buffer.from('x'));
    expect(await names(raw)).toEqual(['data/ab/p']);
  });
});

describe('what each request carries', () => {
  it('sends our own SHA-256 with every PutObject', async () => {
    const b = open('checksum');
    const seen = await spy(b);
    const data = randomBytes(1000);
    await b.save('index/' + 'a'.repeat(64), data);
    const put = seen.find((s) => s.command === 'PutObjectCommand')!;
    expect(put.headers['x-amz-checksum-sha256']).toBe(sha256(data).toString('base64'));
  });

  it('applies the storage class to packs only, and object lock to data, index, snapshots and keys only', async () => {
    const now = Date.parse('2026-03-01T00:00:00Z');
    const b = S3Backend.fromUrl(
      server.url('cairn', 'locked', { region: 'us-east-1', 'storage-class': 'standard_ia', 'object-lock-days': '30', 'object-lock-mode': 'compliance', 'part-size': '5MiB' }),
      { credentials: server.credentials, env: {}, now: () => now },
    );
    opened.push(b);
    const seen = await spy(b);
    const names = ['data/ab/pack', 'index/i', 'snapshots/s', 'keys/k', 'locks/l', 'config', 'gc/m'];
    for (const n of names) await b.save(n, Buffer.from(n));
    await b.save('data/cd/big', randomBytes(6 * MiB));
    const retain = new Date(now + 30 * 86_400_000).toISOString().replace(/\.000Z$/, 'Z');
    const headersOf = (key: string, command = 'PutObjectCommand') => seen.find((s) => s.command === command && s.input.Key === `locked/${key}`)!.headers;
    for (const n of names) {
      const h = headersOf(n);
      const locked = /^(data|index|snapshots|keys)\//.test(n);
      expect(h['x-amz-object-lock-mode'], n).toBe(locked ? 'COMPLIANCE' : undefined);
      expect(h['x-amz-object-lock-retain-until-date'], n).toBe(locked ? retain : undefined);
      expect(h['x-amz-storage-class'], n).toBe(n.startsWith('data/') ? 'STANDARD_IA' : undefined);
    }
    const create = headersOf('data/cd/big', 'CreateMultipartUploadCommand');
    expect(create['x-amz-object-lock-mode']).toBe('COMPLIANCE');
    expect(create['x-amz-storage-class']).toBe('STANDARD_IA');
  });

  it('keeps at most `concurrency` requests in flight', async () => {
    const b = open('limit', { concurrency: '3' });
    const client = await b.getClient();
    let now = 0;
    let max = 0;
    client.middlewareStack.add(
      (next) => async (args) => {
        max = Math.max(max, ++now);
        try {
          return await next(args);
        } finally {
          now--;
        }
      },
      { step: 'initialize', name: 'countInFlight' },
    );
    await Promise.all(Array.from({ length: 30 }, (_, i) => b.save(`locks/l${i}`, randomBytes(64 * 1024))));
    await Promise.all(Array.from({ length: 30 }, (_, i) => b.load(`locks/l${i}`)));
    expect(max).toBe(3);
  });

  it('opens no more connections than `concurrency` (counted by a TCP relay in front of s3rver)', async () => {
    let open = 0;
    let maxOpen = 0;
    let total = 0;
    const conns = new Set<Socket>();
    const relay = createNetServer((down) => {
      total++;
      maxOpen = Math.max(maxOpen, ++open);
      const up = createConnection(server.port, '127.0.0.1');
      conns.add(down).add(up);
      down.pipe(up).pipe(down);
      const done = () => {
        down.destroy();
        up.destroy();
      };
      down.on('close', () => {
        open--;
        done();
      });
      up.on('close', done);
      down.on('error', done);
      up.on('error', done);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    try {
      const port = (relay.address() as { port: number }).port;
      const b = S3Backend.fromUrl(`s3://cairn/relay?endpoint=http://127.0.0.1:${port}&region=us-east-1&concurrency=4`, {
        credentials: server.credentials,
        env: {},
      });
      opened.push(b);
      await Promise.all(Array.from({ length: 40 }, (_, i) => b.save(`locks/l${i}`, randomBytes(32 * 1024))));
      await Promise.all(Array.from({ length: 40 }, (_, i) => b.load(`locks/l${i}`)));
      expect(maxOpen).toBe(4);
      expect(total).toBeLessThanOrEqual(8); // keep-alive: connections are reused, not one per request
    } finally {
      for (const c of conns) c.destroy();
      relay.close();
    }
  });
});

describe('errors', () => {
  it('a missing bucket is REPO_NOT_FOUND naming the bucket (load, list, save); stat says not found', async () => {
    const b = open('x', {}, 'no-such-bucket');
    for (const err of await Promise.all([b.load('config'), names(b), b.save('config', Buffer.from('x'))].map(errorOf))) {
      expect(err.code).toBe('REPO_NOT_FOUND');
      expect(err.message).toContain('"no-such-bucket"');
      expect(err.hint).toMatch(/create the bucket/);
    }
    // HEAD responses have no body, so S3 cannot say which of bucket or key is missing.
    await expect(b.stat('config')).rejects.toSatisfy(isNotFound);
  });

  it('a closed port is BACKEND_UNAVAILABLE, retryable, one line, with the cause kept', async () => {
    const port = await closedPort();
    const b = S3Backend.fromUrl(`s3://cairn/repo?endpoint=http://127.0.0.1:${port}&region=us-east-1`, { credentials: server.credentials, env: {} });
    opened.push(b);
    const err = await errorOf(b.load('config'));
    expect(err.code).toBe('BACKEND_UNAVAILABLE');
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(err.message).not.toMatch(/\n/);
    expect(err.cause).toBeDefined();
    expect(isTransientError(err)).toBe(true);
    expect((await errorOf(names(b))).code).toBe('BACKEND_UNAVAILABLE');
  });

  it('a server that goes away mid-session is BACKEND_UNAVAILABLE, and works again when back', async () => {
    const own = await startS3rver(['gone']);
    try {
      const url = own.url('gone', 'repo', { region: 'us-east-1' });
      const b = S3Backend.fromUrl(url, { credentials: own.credentials, env: {} });
      opened.push(b);
      await b.save('config', Buffer.from('cfg'));
      await own.stop({ keepDir: true });
      const ops = [b.load('config'), b.stat('config'), b.save('locks/x', Buffer.from('x')), b.remove('config')];
      for (const err of await Promise.all(ops.map(errorOf))) {
        expect(err.code).toBe('BACKEND_UNAVAILABLE');
        expect(isTransientError(err)).toBe(true);
      }
      // Same port, same data: the next attempt (what withRetry does) succeeds.
      const back = await startS3rver(['gone'], { port: own.port, dir: own.dir });
      try {
        expect((await b.load('config')).toString()).toBe('cfg');
      } finally {
        await back.stop();
      }
    } finally {
      await own.stop();
    }
  });

  it('a server that accepts and then stalls becomes BACKEND_UNAVAILABLE after the idle timeout, not a hang', async () => {
    const sockets = new Set<Socket>();
    const stall = createNetServer((s) => sockets.add(s));
    await new Promise<void>((r) => stall.listen(0, '127.0.0.1', r));
    try {
      const port = (stall.address() as { port: number }).port;
      const b = S3Backend.fromUrl(`s3://cairn/repo?endpoint=http://127.0.0.1:${port}&region=us-east-1`, {
        credentials: server.credentials,
        env: {},
        idleTimeoutMs: 300,
      });
      opened.push(b);
      const started = performance.now();
      const err = await errorOf(b.load('config'));
      expect(err.code).toBe('BACKEND_UNAVAILABLE');
      expect(isTransientError(err)).toBe(true);
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      for (const s of sockets) s.destroy();
      stall.close();
    }
  });

  describe('canned S3 error responses (status and XML as S3 sends them)', () => {
    let http: Server;
    let reply: { status: number; code: string };
    beforeAll(async () => {
      http = createHttpServer((req, res) => {
        req.resume();
        res.writeHead(reply.status, { 'content-type': 'application/xml', 'x-amz-request-id': 'TEST' });
        res.end(
          req.method === 'HEAD'
            ? undefined
            : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${reply.code}</Code><Message>canned\nmulti-line message</Message><RequestId>TEST</RequestId></Error>`,
        );
      });
      await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    });
    afterAll(() => {
      http.close();
    });
    const backend = () => {
      const b = S3Backend.fromUrl(`s3://cairn/repo?endpoint=http://127.0.0.1:${(http.address() as { port: number }).port}&region=us-east-1`, {
        credentials: server.credentials,
        env: {},
      });
      opened.push(b);
      return b;
    };

    it.each([
      [403, 'AccessDenied', 'PERMISSION_DENIED'],
      [403, 'InvalidAccessKeyId', 'PERMISSION_DENIED'],
      [403, 'SignatureDoesNotMatch', 'PERMISSION_DENIED'],
      [503, 'SlowDown', 'BACKEND_UNAVAILABLE'],
      [500, 'InternalError', 'BACKEND_UNAVAILABLE'],
      [503, 'ServiceUnavailable', 'BACKEND_UNAVAILABLE'],
      [400, 'RequestTimeout', 'BACKEND_UNAVAILABLE'],
      [301, 'PermanentRedirect', 'CONFIG_INVALID'],
      [400, 'InvalidArgument', 'IO_ERROR'],
    ] as const)('HTTP %i %s → %s', async (status, code, expected) => {
      reply = { status, code };
      const b = backend();
      // HEAD responses carry no body, so only the status can be mapped for stat().
      const ops: Promise<unknown>[] = [b.load('config'), b.save('data/ab/p', Buffer.from('x'))];
      if (status !== 400) ops.push(b.stat('config'));
      for (const err of await Promise.all(ops.map(errorOf))) {
        expect(err.code).toBe(expected);
        expect(err.message).not.toMatch(/\n/);
        expect(isTransientError(err)).toBe(expected === 'BACKEND_UNAVAILABLE');
        if (expected === 'PERMISSION_DENIED') expect(err.hint).toMatch(/AWS_ACCESS_KEY_ID/);
      }
    });
  });

  it('an unknown access key id is PERMISSION_DENIED; a wrong secret cannot be caught by s3rver', async () => {
    const wrongId = S3Backend.fromUrl(server.url('cairn', 'creds', { region: 'us-east-1' }), {
      credentials: { accessKeyId: 'NOT-A-KEY', secretAccessKey: 'S3RVER' },
      env: {},
    });
    opened.push(wrongId);
    for (const err of await Promise.all([wrongId.load('config'), wrongId.save('config', Buffer.from('x')), names(wrongId)].map(errorOf))) {
      expect(err.code).toBe('PERMISSION_DENIED');
      expect(err.message).toMatch(/InvalidAccessKeyId/);
      expect(err.hint).toMatch(/AWS_ACCESS_KEY_ID/);
      expect(isTransientError(err)).toBe(false);
    }
    // s3rver knows the key id but does not verify SigV4 signatures, so a wrong secret
    // is accepted here; real S3 answers SignatureDoesNotMatch (mapped above from a canned reply).
    const wrongSecret = S3Backend.fromUrl(server.url('cairn', 'creds', { region: 'us-east-1' }), {
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'wrong' },
      env: {},
    });
    opened.push(wrongSecret);
    await wrongSecret.save('config', Buffer.from('x'));
  });

  it('without any credentials: PERMISSION_DENIED naming the environment variables', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', '');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', '');
    vi.stubEnv('AWS_PROFILE', '');
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/credentials');
    vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/config');
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    vi.stubEnv('AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', '');
    vi.stubEnv('AWS_CONTAINER_CREDENTIALS_FULL_URI', '');
    vi.stubEnv('AWS_WEB_IDENTITY_TOKEN_FILE', '');
    const b = S3Backend.fromUrl(server.url('cairn', 'nocreds', { region: 'us-east-1' }), { env: {} });
    opened.push(b);
    const err = await errorOf(b.load('config'));
    expect(err.code).toBe('PERMISSION_DENIED');
    expect(err.message).toMatch(/no AWS credentials/);
    expect(err.hint).toMatch(/AWS_ACCESS_KEY_ID/);
  });

  it('takes credentials, endpoint and region from the standard AWS environment variables', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'S3RVER');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'S3RVER');
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    const env = { AWS_ENDPOINT_URL_S3: server.endpoint, AWS_DEFAULT_REGION: 'eu-west-3' };
    const b = S3Backend.fromUrl('s3://cairn/from-env', { env });
    opened.push(b);
    const seen = await spy(b);
    await b.save('config', Buffer.from('env'));
    expect((await b.load('config')).toString()).toBe('env');
    expect(seen[0]!.headers.authorization).toMatch(/Credential=S3RVER\/\d{8}\/eu-west-3\/s3\/aws4_request/);
    expect(b.location).toBe(`s3://cairn/from-env?endpoint=${server.endpoint}`);
  });
});
