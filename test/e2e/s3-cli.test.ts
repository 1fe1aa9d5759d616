import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cairnEnv, killAllCairns, runCairn, type CairnRun } from '../helpers/cli.js';
import { pseudoRandom } from '../helpers/data.js';
import { closedPort, startS3rver, type S3rver } from '../helpers/s3rver.js';
import { MiB, requireBuild, scratchDir, withEnv } from './support.js';

/**
 * The built CLI against an s3:// repository, configured the way an operator does it:
 * `--repo s3://bucket/prefix?endpoint=…` and the standard AWS_* variables.
 */

let server: S3rver;
let dir: string;
let src: string;
let env: Record<string, string>;
const ONE_ATTEMPT = { CAIRN_RETRY_ATTEMPTS: '1' };

function show(r: CairnRun): string {
  return `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

async function ok(args: string[], extra: Record<string, string | undefined> = {}): Promise<CairnRun> {
  const r = await runCairn(args, withEnv(env, extra));
  expect(r.code, show(r)).toBe(0);
  // No SDK chatter (NodeVersionSupportWarning, deprecation notices) on a good run.
  expect(r.stderr, show(r)).not.toMatch(/warning|deprecat/i);
  return r;
}

beforeAll(async () => {
  requireBuild();
  server = await startS3rver(['backups']);
  dir = await scratchDir('s3-cli');
  src = join(dir, 'src');
  await fsp.mkdir(join(src, 'sub'), { recursive: true });
  await fsp.writeFile(join(src, 'big.bin'), pseudoRandom(5, 7 * MiB));
  await fsp.writeFile(join(src, 'sub', 'note.txt'), 'hello from s3\n');
  await fsp.symlink('sub/note.txt', join(src, 'link'));
  env = {
    ...cairnEnv('', join(dir, 'cache'), 's3 e2e password'),
    ...server.env,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  delete (env as Record<string, string | undefined>).CAIRN_REPO;
});

afterAll(async () => {
  killAllCairns();
  await server?.stop();
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

describe('cairn with --repo s3://…', () => {
  it('init, backup, snapshots, restore and check --read-data round-trip through s3rver', async () => {
    const repo = `--repo=${server.url('backups', 'hosts/laptop', { 'part-size': '5MiB' })}`;
    const init = JSON.parse((await ok(['--json', repo, 'init'])).stdout);
    expect(init.location).toBe(`s3://backups/hosts/laptop?endpoint=${server.endpoint}`);
    expect(JSON.stringify(init)).not.toContain('S3RVER'); // never a credential in output

    const backup = JSON.parse((await ok(['--json', repo, 'backup', src])).stdout);
    expect(backup.snapshot.summary.filesNew).toBe(2);
    const second = JSON.parse((await ok(['--json', repo, 'backup', src])).stdout);
    expect(second.snapshot.summary.bytesRead).toBe(0); // incremental: nothing re-read

    const snaps = JSON.parse((await ok(['--json', repo, 'snapshots'])).stdout) as Array<{ id: string }>;
    expect(snaps.map((s) => s.id)).toEqual([backup.snapshot.id, second.snapshot.id]);

    const target = join(dir, 'restored');
    await ok([repo, 'restore', 'latest', '--target', target, '--verify']);
    expect((await fsp.readFile(join(target, src, 'big.bin'))).equals(pseudoRandom(5, 7 * MiB))).toBe(true);
    expect(await fsp.readFile(join(target, src, 'sub', 'note.txt'), 'utf8')).toBe('hello from s3\n');
    expect(await fsp.readlink(join(target, src, 'link'))).toBe('sub/note.txt');

    const check = JSON.parse((await ok(['--json', repo, 'check', '--read-data'])).stdout);
    expect(check.ok).toBe(true);
    expect(check.packsChecked).toBeGreaterThan(0);

    // The repository really is in the bucket, under the prefix.
    const objects = await fsp.readdir(join(server.dir, 'backups', 'hosts', 'laptop'));
    expect(objects).toEqual(expect.arrayContaining(['data', 'index', 'keys', 'snapshots']));
  });

  it('takes the endpoint from AWS_ENDPOINT_URL_S3 and the repository from CAIRN_REPO', async () => {
    const e = { CAIRN_REPO: 's3://backups/from-env', AWS_ENDPOINT_URL_S3: server.endpoint };
    await ok(['init'], e);
    await ok(['backup', join(src, 'sub')], e);
    const snaps = JSON.parse((await ok(['--json', 'snapshots'], e)).stdout) as unknown[];
    expect(snaps).toHaveLength(1);
  });

  it('errors: closed port → BACKEND_UNAVAILABLE (43), missing bucket → REPO_NOT_FOUND (10), bad URL → USAGE (2), unknown key id → PERMISSION_DENIED (40), one line each', async () => {
    const port = await closedPort();
    const cases: Array<[string, string, number, RegExp, Record<string, string>?]> = [
      [`s3://backups/x?endpoint=http://127.0.0.1:${port}`, 'BACKEND_UNAVAILABLE', 43, /ECONNREFUSED/],
      [server.url('no-such-bucket', 'x'), 'REPO_NOT_FOUND', 10, /bucket "no-such-bucket" does not exist/],
      ['s3://backups/x?endpoint=http://127.0.0.1:1&bogus=1', 'USAGE', 2, /unknown S3 option "bogus"/],
      // s3rver checks the key id (not the signature): an unknown one is refused.
      [server.url('backups', 'x'), 'PERMISSION_DENIED', 40, /InvalidAccessKeyId/, { AWS_ACCESS_KEY_ID: 'NOT-A-KEY' }],
    ];
    for (const [repo, code, exit, message, extra] of cases) {
      const r = await runCairn(['--repo', repo, 'snapshots'], withEnv(env, { ...ONE_ATTEMPT, ...extra }));
      expect(r.code, show(r)).toBe(exit);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines[0], show(r)).toMatch(new RegExp(`^cairn: error: .* \\[${code}\\]$`));
      expect(lines[0], show(r)).toMatch(message);
      expect(lines.length, show(r)).toBeLessThanOrEqual(2);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
  });
});
