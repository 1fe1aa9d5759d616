import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { CairnError } from '../../src/core/errors/index.js';
import { exitCodeFor } from '../../src/cli/exit-code-for.js';
import { renderError } from '../../src/cli/render-error.js';
import { ReportedFailure } from '../../src/cli/reported-failure.js';

describe('renderError', () => {
  it('prints a known error as one line plus a hint, no stack', () => {
    const err = new CairnError('REPO_LOCKED', 'repository is locked by\nbackup on db1', { hint: 'wait for it', cause: new Error('x') });
    const r = renderError(err, false);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('cairn: error: repository is locked by backup on db1 [REPO_LOCKED]\nhint: wait for it\n');
    expect(r.stderr).not.toMatch(/at .*\.ts/);
    expect(exitCodeFor(err)).toBe(11);
  });

  it('adds the cause with --verbose', () => {
    const err = new CairnError('IO_ERROR', 'I/O error', { cause: new Error('EIO: read failed') });
    expect(renderError(err, false, { verbose: true }).stderr).toContain('cause: EIO: read failed');
  });

  it('prints err.toJSON() on stdout with --json', () => {
    const err = new CairnError('WRONG_PASSWORD', 'wrong password', { hint: 'check it' });
    const r = renderError(err, true);
    expect(JSON.parse(r.stdout)).toEqual(err.toJSON());
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(exitCodeFor(err)).toBe(12);
  });

  it('prints unknown errors with their stack as INTERNAL, exit 1', () => {
    const err = new TypeError('boom');
    const r = renderError(err, false);
    expect(r.stderr.split('\n')[0]).toBe('cairn: error: internal error: boom [INTERNAL]');
    expect(r.stderr).toContain(err.stack!);
    expect(exitCodeFor(err)).toBe(1);
    expect(JSON.parse(renderError(err, true).stdout)).toEqual({ error: { code: 'INTERNAL', message: 'boom', exitCode: 1 } });
  });

  it('an operating-system error no caller mapped is the environment, not a bug: one line, a stable code, no stack', async () => {
    // A real one: reading a directory as a file (EISDIR), as for `wal-push DIR` before.
    const eisdir = await import('node:fs/promises').then((fs) => fs.readFile('/').then(() => undefined, (e: unknown) => e));
    const r = renderError(eisdir, false);
    expect(r.stderr).toMatch(/^cairn: error: EISDIR: illegal operation on a directory, read \[IO_ERROR\]\nhint: \S/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(exitCodeFor(eisdir)).toBe(42);
    expect(JSON.parse(renderError(eisdir, true).stdout).error).toMatchObject({ code: 'IO_ERROR', exitCode: 42 });
    // Refused access and a full disk keep their own codes.
    const eacces = Object.assign(new Error("EACCES: permission denied, open '/x'"), { code: 'EACCES', syscall: 'open', path: '/x' });
    expect(exitCodeFor(eacces)).toBe(40);
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
    expect(exitCodeFor(enospc)).toBe(41);
    // An error that only looks like one (no system call) is still a bug.
    expect(exitCodeFor(Object.assign(new Error('odd'), { code: 'EODD' }))).toBe(1);
  });

  it('turns commander usage errors into USAGE, exit 2, with the suggestion in the hint', () => {
    const err = Object.assign(
      new CommanderError(1, 'commander.unknownOption', "error: unknown option '--tga'\n(Did you mean --tag?)"),
      { commandPath: 'backup' },
    );
    const r = renderError(err, false);
    expect(r.stderr).toBe(
      "cairn: error: unknown option '--tga' [USAGE]\nhint: did you mean --tag? Run 'cairn backup --help' for usage\n",
    );
    expect(exitCodeFor(err)).toBe(2);
  });

  it('treats --help and --version as success', () => {
    const help = new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)');
    expect(exitCodeFor(help)).toBe(0);
    expect(renderError(help, true)).toEqual({ stdout: '', stderr: '' });
    expect(exitCodeFor(new CommanderError(0, 'commander.version', '1.0.0'))).toBe(0);
    expect(exitCodeFor(new CommanderError(1, 'commander.help', '(outputHelp)'))).toBe(2);
  });

  it('prints a ReportedFailure as a status line only (its result is already on stdout)', () => {
    const f = new ReportedFailure(new CairnError('SOURCE_PARTIAL', '2 files could not be read'), 'warning');
    expect(renderError(f, true)).toEqual({ stdout: '', stderr: 'cairn: warning: 2 files could not be read [SOURCE_PARTIAL]\n' });
    expect(exitCodeFor(f)).toBe(3);
  });

  it('maps CANCELLED to 130', () => {
    expect(exitCodeFor(new CairnError('CANCELLED', 'interrupted'))).toBe(130);
  });
});
