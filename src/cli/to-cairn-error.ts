import { CommanderError } from 'commander';
import { CairnError } from '../core/errors/index.js';
import { ReportedFailure } from './reported-failure.js';

/** Commander errors that are not failures: --help and --version. */
export function isCommanderSuccess(err: unknown): boolean {
  return (
    err instanceof CommanderError &&
    (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) &&
    err.code !== 'commander.help'
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
    if (err.code === 'commander.help') {
      return new CairnError('USAGE', path ? `missing subcommand for '${path}'` : 'missing command', { hint: helpHint });
    }
    const [first = '', ...rest] = err.message.replace(/^error:\s*/, '').split('\n');
    const suggestion = oneLine(rest.join(' ')).replace(/^\((.*)\)$/, '$1');
    return new CairnError('USAGE', oneLine(first), {
      hint: suggestion ? `${suggestion.replace(/^Did you/, 'did you')} ${helpHint.replace(/^run/, 'Run')}` : helpHint,
    });
  }
  return undefined;
}
