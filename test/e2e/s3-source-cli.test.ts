import { createServer, request, type Server } from 'node:http';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cairnEnv, killAllCairns, runCairn, type CairnRun } from '../helpers/cli.js';
import { pseudoRandom } from '../helpers/data.js';
import { closedPort, startS3rver, type S3rver } from '../helpers/s3rver.js';
import { requireBuild, scratchDir, withEnv } from './support.js';
import { native } from '../../src/util/native-addon.js';

/**
 * `cairn backup s3://…` and `cairn restore --to s3://…` through the built CLI against
 * s3rver, with a relay in front of it that counts GetObject requests (so "an unchanged
 * backup reads no object bodies" is observed on the wire, not taken from a summary).
 */

const MiB = 1024 * 1024;
const N = 2000;
let server: S3rver;
let relay: { endpoint: string; gets: string[]; close(): Promise<void> };
let s3: S3Client;
let dir: string;
let env: Record<string, string>;
let repo: string;

function show(r: CairnRun): string {
  return `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}
async function cairn(args: string[], exit = 0, extra: Record<string, string | undefined> = {}): Promise<CairnRun> {
  const r = await runCairn(['--repo', repo, ...args], withEnv(env, extra));
  expect(r.code, show(r)).toBe(exit);
  return r;
}
async function json<T = any>(args: string[], exit = 0): Promise<T> {
  return JSON.parse((await cairn(['--json', ...args], exit)).stdout) as T;
}

/** A transparent HTTP relay that records the key of every GetObject (GET without a query). */
async function startRelay(port: number): Promise<typeof relay> {
  const gets: string[] = [];
  const srv: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://relay');
    // Path style: GET /bucket/key (the SDK adds ?x-id=GetObject); listings are GET /bucket?list-type=2.
    if (req.method === 'GET' && !u.searchParams.has('list-type') && u.pathname.split('/').length > 2) gets.push(decodeURIComponent(u.pathname.slice(1)));
    const up = request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const p = (srv.address() as { port: number }).port;
  return { endpoint: `http://127.0.0.1:${p}`, gets, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

/** The source data: nested prefixes, empty to 3 MiB, content types and metadata, odd characters. */
function objects(): { key: string; body: Buffer; type: string; meta: Record<string, string> }[] {
  const out = [];
  for (let i = 0; i < N - 8; i++) {
    const size = i % 97 === 0 ? 0 : i % 500 === 1 ? 200_000 + i : 50 + ((i * 7919) % 3000);
    out.push({
      key: `photos/${2020 + (i % 4)}/m${i % 12}/img-${String(i).padStart(5, '0')}.jpg`,
      body: pseudoRandom(i, size),
      type: i % 3 === 0 ? 'image/jpeg' : 'application/octet-stream',
      meta: i % 10 === 0 ? { camera: `cam-${i % 7}`, 'shot-by': 'ana' } : {},
    });
  }
  out.push({ key: 'photos/big/a.bin', body: pseudoRandom(9001, 3 * MiB + 17), type: 'application/x-big', meta: { k: 'v' } });
  out.push({ key: 'photos/big/b.bin', body: pseudoRandom(9002, 6 * MiB + 5), type: 'application/x-big', meta: {} });
  out.push({ key: 'photos/odd/sp ace+plus&eq=é€ (1).txt', body: Buffer.from('odd\n'), type: 'text/plain; charset=utf-8', meta: { note: 'odd key' } });
  out.push({ key: 'photos/folder/', body: Buffer.alloc(0), type: 'application/x-directory', meta: {} });
  out.push({ key: 'photos/folder/inside.txt', body: Buffer.from('in a folder\n'), type: 'text/plain', meta: {} });
  out.push({ key: 'photos/clash', body: Buffer.from('file named like a prefix\n'), type: 'text/plain', meta: {} });
  out.push({ key: 'photos/clash/child.txt', body: Buffer.from('child\n'), type: 'text/plain', meta: {} });
  out.push({ key: 'photos/readme.md', body: Buffer.from('# photos\n'), type: 'text/markdown', meta: { owner: 'ops' } });
  return out;
}

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) await fn(items[i++]!);
  }));
}

const put = (bucket: string, o: { key: string; body: Buffer; type: string; meta: Record<string, string> }) =>
  s3.send(new PutObjectCommand({ Bucket: bucket, Key: o.key, Body: o.body, ContentType: o.type, Metadata: o.meta, CacheControl: 'max-age=60' }));

async function getObject(bucket: string, key: string) {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return { body: Buffer.from(await r.Body!.transformToByteArray()), type: r.ContentType, meta: r.Metadata, cache: r.CacheControl };
}

async function listKeys(bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const p = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of p.Contents ?? []) keys.push(o.Key!);
    token = p.IsTruncated ? p.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

let data: ReturnType<typeof objects>;
const src = () => `s3://media/photos?endpoint=${relay.endpoint}`;

beforeAll(async () => {
  requireBuild();
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  server = await startS3rver(['media', 'restored', 'runbook']);
  relay = await startRelay(server.port);
  s3 = new S3Client({ endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: server.credentials });
  dir = await scratchDir('s3-source');
  repo = join(dir, 'repo');
  env = { ...cairnEnv(repo, join(dir, 'cache'), 's3 source password'), ...server.env, AWS_EC2_METADATA_DISABLED: 'true', CAIRN_RETRY_ATTEMPTS: '2', CAIRN_RETRY_BASE_MS: '10' };
  data = objects();
  const t0 = performance.now();
  await pool(data, 32, (o) => put('media', o).then(() => undefined));
  console.log(`generated ${data.length} objects in ${Math.round(performance.now() - t0)} ms`);
  await cairn(['init']);
}, 120_000);

afterAll(async () => {
  killAllCairns();
  s3?.destroy();
  await relay?.close();
  await server?.stop();
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

describe('S3 bucket as a backup source (CLI, s3rver)', () => {
  const snaps: { id: string; time: string; tree: string }[] = [];

  it('backs up 2,000 objects, restores them to a directory (content and xattrs) and to another bucket (content, type, metadata)', async () => {
    let t = performance.now();
    const first = await json(['backup', src(), '--tag', 'first']);
    console.log(`first backup ${Math.round(performance.now() - t)} ms`);
    expect(first.name).toBe('media/photos');
    expect(first.objects).toBe(N);
    expect(first.objectsRead).toBe(N);
    expect(first.snapshot.source).toEqual({ type: 's3', name: 'media/photos' });
    expect(first.snapshot.paths).toEqual([`s3://media/photos?endpoint=${relay.endpoint}`]);
    expect(JSON.stringify(first)).not.toContain('S3RVER');
    expect(new Set(relay.gets).size).toBe(N);
    snaps.push(first.snapshot);

    // To a directory: the normal restorer, metadata as user.s3.* xattrs.
    const target = join(dir, 'dir-restore');
    await cairn(['restore', first.snapshot.id, '--target', target]);
    for (const o of data) {
      if (o.key.endsWith('/')) {
        expect((await fsp.stat(join(target, o.key.slice('photos/'.length)))).isDirectory()).toBe(true);
        continue;
      }
      const path = o.key === 'photos/clash' ? join(target, Buffer.from([0xfe]).toString('latin1')) : join(target, o.key.slice('photos/'.length));
      if (o.key === 'photos/clash') continue; // the escaped name is checked in the memory test
      expect((await fsp.readFile(path)).equals(o.body), o.key).toBe(true);
    }
    const odd = join(target, 'odd/sp ace+plus&eq=é€ (1).txt');
    const xattr = (name: string) => native!.lgetxattr(odd, name)?.toString('utf8');
    expect(native, 'the native addon restores xattrs').toBeTruthy();
    expect(xattr('user.s3.content-type')).toBe('text/plain; charset=utf-8');
    expect(xattr('user.s3.meta.note')).toBe('odd key');
    expect(xattr('user.s3.cache-control')).toBe('max-age=60');
    expect(xattr('user.s3.etag')).toMatch(/^[0-9a-f]{32}$/);
    expect((await fsp.stat(odd)).mtime.getFullYear()).toBe(new Date().getFullYear()); // LastModified as mtime

    // To a second bucket, with multipart for the 6 MiB object (part-size 5MiB).
    t = performance.now();
    const r = await json(['restore', first.snapshot.id, '--to', `s3://restored/copy?endpoint=${server.endpoint}&part-size=5MiB`]);
    console.log(`restore to bucket ${Math.round(performance.now() - t)} ms`);
    expect(r.objects).toBe(N);
    const keys = await listKeys('restored');
    expect(keys).toEqual(data.map((o) => 'copy/' + o.key.slice('photos/'.length)).sort());
    const sample = [...data.filter((_, i) => i % 37 === 0), ...data.slice(-8)];
    for (const o of sample) {
      const got = await getObject('restored', 'copy/' + o.key.slice('photos/'.length));
      expect(got.body.equals(o.body), o.key).toBe(true);
      expect(got.type, o.key).toBe(o.type);
      expect(got.meta, o.key).toEqual(o.meta);
      expect(got.cache, o.key).toBe('max-age=60');
    }
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'restored', Key: 'copy/big/b.bin' }));
    expect(head.ContentLength).toBe(6 * MiB + 5);
  }, 120_000);

  it('an unchanged second backup issues no GetObject and adds nothing but a snapshot', async () => {
    relay.gets.length = 0;
    const t = performance.now();
    const second = await json(['backup', src(), '--tag', 'second']);
    console.log(`unchanged backup ${Math.round(performance.now() - t)} ms`);
    expect(relay.gets).toEqual([]);
    expect(second.objectsRead).toBe(0);
    expect(second.snapshot.tree).toBe(snaps[0]!.tree);
    expect(second.snapshot.summary).toMatchObject({ filesUnchanged: N - 1, bytesRead: 0, bytesAdded: 0, dataBlobs: 0, treeBlobs: 0 });
    snaps.push(second.snapshot);
  }, 60_000);

  it('after changes reads only changed and added objects, and the snapshot reflects deletions', async () => {
    await new Promise((r) => setTimeout(r, 1100)); // LastModified has 1 s resolution on some stores
    const changed = { ...data[5]!, body: Buffer.from('changed content'), type: 'text/plain' };
    const added = { key: 'photos/2030/new.txt', body: Buffer.from('brand new'), type: 'text/plain', meta: { fresh: 'yes' } };
    await put('media', changed);
    await put('media', added);
    await s3.send(new DeleteObjectCommand({ Bucket: 'media', Key: data[6]!.key }));
    relay.gets.length = 0;
    const third = await json(['backup', src()]);
    expect(relay.gets.sort()).toEqual(['media/' + added.key, 'media/' + changed.key].sort());
    expect(third.snapshot.summary).toMatchObject({ filesNew: 1, filesChanged: 1, filesUnchanged: N - 3 });
    snaps.push(third.snapshot);
    const ls = (await cairn(['ls', third.snapshot.id, '/', '--recursive'])).stdout.split('\n');
    expect(ls).not.toContain('/' + data[6]!.key.slice('photos/'.length));
    expect(ls).toContain('/' + data[5]!.key.slice('photos/'.length));
    expect(ls).toContain('/2030/new.txt');
  }, 60_000);

  it('restore --at picks the newest snapshot of the source at or before the time (runbook: a deleted prefix to a new bucket)', async () => {
    // docs/sources/s3.md, "Runbook": someone deleted photos/2030/ — bring it back into a new bucket.
    const beforeThird = new Date(Date.parse(snaps[2]!.time) - 1).toISOString();
    const year6 = '/' + data[6]!.key.slice('photos/'.length).split('/')[0];
    const r1 = await json(['restore', '--source', 'media/photos', '--at', beforeThird, '--include', year6, '--to', `s3://runbook/at-check?endpoint=${server.endpoint}`]);
    expect(r1.snapshot.id).toBe(snaps[1]!.id);
    const k6 = 'at-check/' + data[6]!.key.slice('photos/'.length);
    expect((await getObject('runbook', k6)).body.equals(data[6]!.body)).toBe(true); // still there before the deletion

    // Runbook steps 1-3 as written in the docs.
    const list = await json<any[]>(['snapshots']);
    expect(list.filter((s) => s.source.type === 's3').length).toBe(3);
    const ls = (await cairn(['ls', 'latest', '/2030'])).stdout;
    expect(ls).toContain('new.txt');
    const r2 = await json(['restore', '--source', 'media/photos', '--at', new Date().toISOString(), '--include', '/2030', '--to', `s3://runbook/recovered?endpoint=${server.endpoint}`]);
    expect(r2.snapshot.id).toBe(snaps[2]!.id);
    expect(await listKeys('runbook', 'recovered/')).toEqual(['recovered/2030/new.txt']);
    const got = await getObject('runbook', 'recovered/2030/new.txt');
    expect(got.body.toString()).toBe('brand new');
    expect(got.meta).toEqual({ fresh: 'yes' });
  }, 60_000);

  it('fails with stable codes: missing bucket, closed port, --to with --target', async () => {
    const missing = await cairn(['--json', 'backup', `s3://no-such-bucket/x?endpoint=${server.endpoint}`], 15);
    expect(JSON.stringify(JSON.parse(missing.stdout))).toContain('"SOURCE_NOT_FOUND"');
    expect(missing.stderr).toContain('bucket "no-such-bucket" does not exist');
    const port = await closedPort();
    const down = await cairn(['backup', `s3://media/photos?endpoint=http://127.0.0.1:${port}`], 44);
    expect(down.stderr).toContain('[SOURCE_UNREACHABLE]');
    expect(down.stderr).not.toMatch(/\n\s+at /); // one line and a hint, no stack
    const noTarget = await cairn(['restore', 'latest', '--to', `s3://no-such-bucket?endpoint=${server.endpoint}`], 15);
    expect(noTarget.stderr).toContain('no-such-bucket');
    await cairn(['restore', 'latest', '--to', `s3://runbook?endpoint=${server.endpoint}`, '--target', join(dir, 'x')], 2);
  }, 60_000);
});
