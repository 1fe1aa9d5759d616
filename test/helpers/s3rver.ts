import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './cli.js';

/**
 * A real S3 server for tests: s3rver in a child process (so its blocking file I/O and
 * its crashes stay out of the test's process), on a free port, storing into a temp dir.
 *
 * It runs under `node --openssl-legacy-provider` because s3rver encrypts its
 * ListObjectsV2 continuation tokens with a cipher OpenSSL 3 only offers there, so
 * without the flag every listing past 1000 keys fails.
 *
 * Known s3rver limits (tests cannot prove these against it): it ignores If-None-Match,
 * Content-MD5 and x-amz-checksum-*, object lock, versioning and storage classes; it
 * does not check signatures (any credentials work); it does not implement
 * ListMultipartUploads or AbortMultipartUpload; suffix ranges are off by one.
 */
export interface S3rver {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  port: number;
  /** Where s3rver keeps its buckets (one directory per bucket). */
  dir: string;
  /** What every S3 client needs for it (s3rver's fixed key pair). */
  env: Record<string, string>;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** `s3://bucket/prefix?endpoint=...` for this server. */
  url(bucket: string, prefix?: string, options?: Record<string, string>): string;
  /** Kills the server (idempotent); `keepDir` leaves the data for a restart. */
  stop(opts?: { keepDir?: boolean }): Promise<void>;
}

const CHILD = `
const S3rver = require('s3rver');
const [dir, buckets, port] = [process.argv[1], JSON.parse(process.argv[2]), Number(process.argv[3])];
const server = new S3rver({ port, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: buckets.map((name) => ({ name })) });
server.run().then((addr) => process.stdout.write(JSON.stringify({ port: addr.port }) + '\\n'), (err) => { console.error(err); process.exit(1); });
// The parent holds our stdin: when it goes away (even SIGKILLed), so do we.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** Starts s3rver with the given buckets. `port` 0 = a free one; `dir` reuses a stopped server's data. */
export async function startS3rver(buckets: string[] = ['cairn'], opts: { port?: number; dir?: string } = {}): Promise<S3rver> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'cairn-s3rver-')));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD, dir, JSON.stringify(buckets), String(opts.port ?? 0)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within 15 s\n${stderr}`)), 15_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve((JSON.parse(out.slice(0, nl)) as { port: number }).port);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${code} before listening\n${stderr}`));
    });
  }).catch(async (err) => {
    child.kill('SIGKILL');
    live.delete(child);
    if (!opts.dir) await rm(dir, { recursive: true, force: true });
    throw err;
  });
  const endpoint = `http://127.0.0.1:${port}`;
  let stopped = false;
  return {
    endpoint,
    port,
    dir,
    credentials: { ...S3RVER_CREDENTIALS },
    env: {
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
    },
    url(bucket, prefix = '', options = {}) {
      // Written as an operator would type it, unescaped.
      const q = Object.entries({ endpoint, ...options }).map(([k, v]) => `${k}=${v}`).join('&');
      return `s3://${bucket}${prefix ? '/' + prefix : ''}?${q}`;
    },
    async stop({ keepDir = false } = {}) {
      if (!stopped) {
        stopped = true;
        child.kill('SIGKILL');
        await exited;
        live.delete(child);
      }
      if (!keepDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A TCP port nothing listens on (bound, read, released). */
export async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
