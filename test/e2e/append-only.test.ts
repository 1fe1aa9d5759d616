import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllCairns, type CairnRun } from '../helpers/cli.js';
import { expectOk, freshRepo, requireBuild, type Cli } from './support.js';

/**
 * Append-only keys through the built CLI (issue #4 part 5): `key add --append-only`,
 * the role in `key list` (table and --json), and what a host holding only an
 * append-only password can and cannot do. The exit-code and one-line-message contract
 * of APPEND_ONLY is checked in errors.test.ts.
 */

const HOST_PW = 'web1 append-only password';
const AS_HOST = { CAIRN_PASSWORD: HOST_PW };

let c: Cli;
let src: string;
let firstSnapshot: string;

interface KeyJson {
  id: string;
  role: string;
  current: boolean;
  label?: string;
}

function parsed<T>(r: CairnRun): T {
  expectOk(r);
  return JSON.parse(r.stdout) as T;
}

beforeAll(async () => {
  requireBuild();
  c = await freshRepo('append-only');
  src = join(c.dir, 'src');
  await fsp.mkdir(src, { recursive: true });
  await fsp.writeFile(join(src, 'a.txt'), 'one\n');
  firstSnapshot = parsed<{ snapshot: { id: string } }>(await c.run(['--json', 'backup', src])).snapshot.id;
}, 60_000);

afterAll(async () => {
  killAllCairns();
  await fsp.rm(c.dir, { recursive: true, force: true });
});

describe('cairn key add --append-only', () => {
  it('adds an append-only key; key list shows the role column, and --json has the role', async () => {
    const added = parsed<KeyJson>(
      await c.run(['--json', 'key', 'add', '--append-only', '--label', 'host web1'], { CAIRN_NEW_PASSWORD: HOST_PW }),
    );
    expect(added).toMatchObject({ role: 'append-only', current: false, label: 'host web1' });

    const keys = await c.json<KeyJson[]>(['key', 'list']);
    expect(keys.map((k) => [k.role, k.current])).toEqual([
      ['full', true],
      ['append-only', false],
    ]);

    const table = await c.run(['key', 'list']);
    expectOk(table);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/\bID\s+Role\s+Created\b/);
    expect(lines.find((l) => l.includes(added.id.slice(0, 8)))).toMatch(/\bappend-only\b.*host web1/);

    // Opened with the host's password, the same list marks the append-only slot as current.
    const asHost = parsed<KeyJson[]>(await c.run(['--json', 'key', 'list'], AS_HOST));
    expect(asHost.find((k) => k.current)).toMatchObject({ id: added.id, role: 'append-only' });
  });

  it('a plain key add (no flag) still adds a full key', async () => {
    const added = parsed<KeyJson>(await c.run(['--json', 'key', 'add', '--label', 'spare'], { CAIRN_NEW_PASSWORD: 'spare full password' }));
    expect(added.role).toBe('full');
    expectOk(await c.run(['key', 'remove', added.id]));
  });

  it('refuses a new key whose password already opens a key of the other role', async () => {
    const r = await c.run(['key', 'add'], { CAIRN_NEW_PASSWORD: HOST_PW });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already opens append-only key slot/);
    expect(await c.json<KeyJson[]>(['key', 'list'])).toHaveLength(2);
  });
});

describe('a host with the append-only password', () => {
  it('backs up, reads, and previews forget/prune; forget, prune and key changes exit 16', async () => {
    await fsp.writeFile(join(src, 'b.txt'), 'two\n');
    const b = parsed<{ snapshot: { id: string } }>(await c.run(['--json', 'backup', src], AS_HOST));
    const ids = (await c.json<Array<{ id: string }>>(['snapshots'])).map((s) => s.id);
    expect(ids).toEqual([firstSnapshot, b.snapshot.id]);

    for (const args of [['ls', 'latest'], ['check'], ['stats'], ['diff', firstSnapshot, b.snapshot.id], ['forget', firstSnapshot, '--dry-run'], ['prune', '--dry-run'], ['unlock'], ['repair', 'snapshots', '--forget', '--dry-run'], ['repair', 'snapshots']]) {
      expectOk(await c.run(args, AS_HOST), args);
    }

    // key add is refused before asking for the new password (no CAIRN_NEW_PASSWORD, no terminal).
    for (const args of [['forget', firstSnapshot], ['forget', '--keep-last', '1', '--prune'], ['prune'], ['repair', 'index'], ['key', 'add', '--append-only'], ['key', 'passwd'], ['unlock', '--all'], ['repair', 'snapshots', '--forget']]) {
      const r = await c.run(args, AS_HOST);
      expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(16);
      expect(r.stderr).toMatch(/^cairn: error: .* is refused: the repository was opened with an append-only key \[APPEND_ONLY\]\nhint: /);
    }
    expect((await c.json<Array<{ id: string }>>(['snapshots'])).map((s) => s.id)).toEqual(ids);
    expect(await c.json<KeyJson[]>(['key', 'list'])).toHaveLength(2);
  }, 60_000);

  it('the full key on the admin side can still forget and prune', async () => {
    expectOk(await c.run(['forget', firstSnapshot, '--prune']));
    expect(await c.json<unknown[]>(['snapshots'])).toHaveLength(1);
    expectOk(await c.run(['check', '--read-data']));
  }, 60_000);
});
