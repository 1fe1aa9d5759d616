import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

/**
 * bin/cairn, the installed command, sets glibc's allocator up (see the comments there)
 * and execs node. A fake `node` first on PATH shows what it hands over: the allocator
 * settings unless the environment has its own, and the arguments untouched.
 */
const dir = mkdtempSync(join(tmpdir(), 'cairn-launcher-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(
  join(dir, 'node'),
  '#!/bin/sh\nprintf "%s\\n" "ARENA=$MALLOC_ARENA_MAX" "MMAP=$MALLOC_MMAP_THRESHOLD_" "TUNABLES=${GLIBC_TUNABLES-unset}" "$@"\n',
);
chmodSync(join(dir, 'node'), 0o755);

function launch(env: Record<string, string>, ...args: string[]): string[] {
  const base = { PATH: `${dir}:${process.env['PATH']}` };
  const r = spawnSync(`${ROOT}bin/cairn`, args, { env: { ...base, ...env }, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trimEnd().split('\n');
}

describe('bin/cairn', () => {
  it('sets the allocator up and passes the arguments through', () => {
    const out = launch({}, 'backup', 'a b');
    expect(out.slice(0, 3)).toEqual(['ARENA=2', 'MMAP=8388608', 'TUNABLES=glibc.malloc.hugetlb=1']);
    expect(out[3]).toMatch(/bin\/cairn\.js$/);
    expect(out.slice(4)).toEqual(['backup', 'a b']);
  });

  it('keeps values the environment already has, and adds to other tunables', () => {
    expect(launch({ MALLOC_ARENA_MAX: '4', MALLOC_MMAP_THRESHOLD_: '1', GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }).slice(0, 3)).toEqual([
      'ARENA=4',
      'MMAP=1',
      'TUNABLES=glibc.malloc.hugetlb=0',
    ]);
    expect(launch({ GLIBC_TUNABLES: 'glibc.malloc.check=0' })[2]).toBe('TUNABLES=glibc.malloc.check=0:glibc.malloc.hugetlb=1');
    expect(launch({ GLIBC_TUNABLES: '' })[2]).toBe('TUNABLES=glibc.malloc.hugetlb=1');
  });
});
