import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Runs the real launcher against a dist build, when one exists (`npm run build`).
const root = fileURLToPath(new URL('../../', import.meta.url));
const built = existsSync(`${root}dist/bundle/main.js`);

function cairn(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [`${root}bin/cairn.js`, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', ...env },
    input: '',
  });
}

describe.skipIf(!built)('bin/cairn.js (built)', () => {
  it('prints a usage error as one line and exits 2', () => {
    const r = cairn(['snapshots', '--bogus']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')[0]).toBe("cairn: error: unknown option '--bogus' [USAGE]");
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('prints a known error without a stack, with its exit code', () => {
    const r = cairn(['snapshots'], { CAIRN_REPO: '/nonexistent/repo', CAIRN_PASSWORD: 'x' });
    expect(r.status).toBe(10);
    expect(r.stderr).toMatch(/^cairn: error: .* \[REPO_NOT_FOUND\]\n/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('prints the error object on stdout with --json', () => {
    const r = cairn(['--json', 'snapshots']);
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'USAGE', exitCode: 2 } });
  });

  it('asks for no password without a terminal', () => {
    const r = cairn(['snapshots'], { CAIRN_REPO: '/nonexistent/repo' });
    expect(r.status).toBe(12);
    expect(r.stderr).toContain('[NO_PASSWORD]');
  });
});
