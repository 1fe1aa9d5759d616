import { CommanderError } from 'commander';
import { CairnError, fromSystemErrorOrIo, isErrnoError } from '../core/errors/index.js';
import { ReportedFailure } from './reported-failure.js';

/**
 * Commander errors that are not failures: --help, --version, and `cairn help <command>`
 * (commander.help with exit code 0). commander.help with a non-zero code is a missing
 * (sub)command: help printed in place of an error.
 */
export function isCommanderSuccess(err: unknown): boolean {
  return (
    err instanceof CommanderError &&
    (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0)
  );
}

/** Path of the command a commander error happened in ("backup", "key add"); set by buildProgram. */
export function commandPathOf(err: CommanderError): string | undefined {
  return (err as CommanderError & { commandPath?: string }).commandPath;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * The CairnError an error stands for, or undefined for an unknown error (a bug, printed
 * with its stack). Commander usage errors become USAGE with a pointer to --help;
 * suggestions ("Did you mean --tag?") move into the hint.
 */
export function toCairnError(err: unknown): CairnError | undefined {
  if (err instanceof ReportedFailure) return err.error;
  if (err instanceof CairnError) return err;
  if (err instanceof CommanderError) {
    const path = commandPathOf(err);
    const helpHint = `run 'cairn${path ? ` ${path}` : ''} --help' for usage`;
    if (err.code === 'commander.help' && err.exitCode !== 0) {
      return new CairnError('USAGE', path ? `missing subcommand for '${path}'` : 'missing command', { hint: helpHint });
    }
    const [first = '', ...rest] = err.message.replace(/^error:\s*/, '').split('\n');
    const suggestion = oneLine(rest.join(' ')).replace(/^\((.*)\)$/, '$1');
    return new CairnError('USAGE', oneLine(first), {
      hint: suggestion ? `${suggestion.replace(/^Did you/, 'did you')} ${helpHint.replace(/^run/, 'Run')}` : helpHint,
    });
  }
  if (isSystemError(err)) return systemErrorAsCairn(err);
  return undefined;
}

/**
 * The last line of defence for an operating-system error no caller mapped (a path the
 * user named that is a directory, a loop of symlinks, a name too long...): it is the
 * environment refusing, not a bug, so it gets a stable code and one line instead of
 * INTERNAL and a stack. Full disks and refused access keep their own codes; the rest is
 * IO_ERROR, with the system's message, which names the call and the path.
 */
function systemErrorAsCairn(err: NodeJS.ErrnoException): CairnError {
  return fromSystemErrorOrIo(
    err,
    err.path ?? 'a file',
    (e) => e.message,
    'the operating system refused an operation on the path named; check that it exists and is the kind of file the command expects',
  ) as CairnError;
}

/** An error from a system call (node:fs and friends): an errno code and the call's name. */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return isErrnoError(err) && typeof err.syscall === 'string';
}
