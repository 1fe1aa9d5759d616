import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { isCairnError } from '../../src/core/errors/index.js';
import { promptPassword } from '../../src/cli/prompt-password.js';
import { readPasswordFile, stripOneNewline } from '../../src/cli/read-password-file.js';
import { resolvePassword } from '../../src/cli/resolve-password.js';
import { Sink, fakeStdin } from './helpers/run-cli.js';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return isCairnError(err) ? err.code : `not a CairnError: ${String(err)}`;
  }
  return undefined;
}

describe('password file', () => {
  it('strips exactly one trailing newline', () => {
    expect(stripOneNewline('pw\n')).toBe('pw');
    expect(stripOneNewline('pw\r\n')).toBe('pw');
    expect(stripOneNewline('pw\n\n')).toBe('pw\n');
    expect(stripOneNewline(' pw ')).toBe(' pw ');
  });

  it('maps missing, directory and empty files to documented codes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-pw-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'pw'), 'hunter2\n');
    await writeFile(join(dir, 'empty'), '\n');
    await mkdir(join(dir, 'sub'));
    expect(await readPasswordFile(join(dir, 'pw'))).toBe('hunter2');
    expect(await codeOf(readPasswordFile(join(dir, 'nope')))).toBe('SOURCE_NOT_FOUND');
    expect(await codeOf(readPasswordFile(join(dir, 'sub')))).toBe('SOURCE_NOT_FOUND');
    expect(await codeOf(readPasswordFile(join(dir, 'empty')))).toBe('CONFIG_INVALID');
  });
});

describe('promptPassword', () => {
  it('reads until Enter, honouring backspace, and writes no echo', async () => {
    const err = new Sink();
    const pw = await promptPassword('pw: ', fakeStdin({ tty: true, keys: ['abX\u007fc\r'] }), err);
    expect(pw).toBe('abc');
    expect(err.text()).toBe('pw: \n');
  });

  it('turns Ctrl-C into CANCELLED and an aborted signal too', async () => {
    expect(await codeOf(promptPassword('pw: ', fakeStdin({ tty: true, keys: ['ab\u0003'] }), new Sink()))).toBe('CANCELLED');
    const ac = new AbortController();
    const p = promptPassword('pw: ', fakeStdin({ tty: true, keys: [] }), new Sink(), ac.signal);
    ac.abort();
    expect(await codeOf(p)).toBe('CANCELLED');
  });
});

describe('resolvePassword', () => {
  const io = { stdin: fakeStdin(), stderr: new Sink() };
  it('prefers the env password over a prompt', async () => {
    expect(await resolvePassword({ value: 'env' }, io)).toBe('env');
  });
  it('without a terminal: NO_PASSWORD', async () => {
    expect(await codeOf(resolvePassword({ value: '' }, io))).toBe('NO_PASSWORD');
  });
  it('asks twice when confirming and rejects a mismatch as USAGE', async () => {
    const ok = await resolvePassword({}, { stdin: fakeStdin({ tty: true, keys: ['pw\r', 'pw\r'] }), stderr: new Sink() }, { confirm: true });
    expect(ok).toBe('pw');
    const bad = resolvePassword({}, { stdin: fakeStdin({ tty: true, keys: ['pw\r', 'wp\r'] }), stderr: new Sink() }, { confirm: true });
    expect(await codeOf(bad)).toBe('USAGE');
  });
});
