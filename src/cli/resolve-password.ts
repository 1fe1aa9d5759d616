import { CairnError } from '../core/errors/index.js';
import type { CliReadable, CliWritable } from './cli-deps.js';
import { promptPassword } from './prompt-password.js';
import { readPasswordFile } from './read-password-file.js';
import { usageError } from './usage-error.js';

export interface PasswordIo {
  stdin: CliReadable;
  stderr: CliWritable;
  signal?: AbortSignal;
}

export interface PasswordSources {
  /** From the file flag or its environment variable. */
  file?: string | undefined;
  /** From the password environment variable. */
  value?: string | undefined;
}

export interface PasswordRequest {
  /** Ask twice and compare (new repositories, new keys). */
  confirm?: boolean;
  prompt?: string;
  /** Names used in messages: the flag and the two environment variables. */
  fileFlag?: string;
  /** null: there is no environment variable for a file. */
  fileEnv?: string | null;
  valueEnv?: string;
}

/**
 * Order: a password file (flag, then env), then the password env variable, then a
 * terminal prompt. Without a terminal: NO_PASSWORD naming all three ways.
 */
export async function resolvePassword(
  sources: PasswordSources,
  io: PasswordIo,
  req: PasswordRequest = {},
): Promise<string> {
  const fileFlag = req.fileFlag ?? '--password-file';
  const fileEnv = req.fileEnv === undefined ? 'CAIRN_PASSWORD_FILE' : req.fileEnv;
  const valueEnv = req.valueEnv ?? 'CAIRN_PASSWORD';
  if (sources.file !== undefined) return readPasswordFile(sources.file, fileFlag);
  if (sources.value !== undefined && sources.value !== '') return sources.value;
  if (io.stdin.isTTY !== true) {
    throw new CairnError('NO_PASSWORD', 'no password given and no terminal to ask on', {
      hint: `pass ${fileFlag} FILE${fileEnv ? ` (or set ${fileEnv})` : ''}, set ${valueEnv}, or run cairn on a terminal to be asked`,
    });
  }
  const prompt = req.prompt ?? 'enter repository password: ';
  const first = await promptPassword(prompt, io.stdin, io.stderr, io.signal);
  if (first === '') throw new CairnError('NO_PASSWORD', 'empty password entered');
  if (req.confirm) {
    const second = await promptPassword('enter the same password again: ', io.stdin, io.stderr, io.signal);
    if (second !== first) throw usageError('the two passwords do not match', 'run the command again');
  }
  return first;
}

/** A new password for `key add` / `key passwd`: --new-password-file, CAIRN_NEW_PASSWORD, or asked twice. */
export function resolveNewPassword(
  file: string | undefined,
  env: Record<string, string | undefined>,
  io: PasswordIo,
): Promise<string> {
  return resolvePassword({ file, value: env.CAIRN_NEW_PASSWORD }, io, {
    confirm: true,
    prompt: 'enter the new password: ',
    fileFlag: '--new-password-file',
    fileEnv: null,
    valueEnv: 'CAIRN_NEW_PASSWORD',
  });
}
