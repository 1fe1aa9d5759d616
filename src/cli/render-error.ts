import { ERROR_CODES } from '../core/errors/index.js';
import { ReportedFailure } from './reported-failure.js';
import { isCommanderSuccess, toCairnError } from './to-cairn-error.js';

export interface RenderedError {
  /** For stdout: the JSON error object under --json, else empty. */
  stdout: string;
  /** For stderr: one line plus an optional hint line; a stack only for unknown errors. */
  stderr: string;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

function causeLine(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  if (cause === undefined) return '';
  const msg = cause instanceof Error ? cause.message : String(cause);
  return `cause: ${oneLine(msg)}\n`;
}

/**
 * How an error that ended a command is shown. Known errors: `cairn: error: <message>
 * [<CODE>]` and `hint: ...`, never a stack; with --json the same facts as one JSON
 * object on stdout. Unknown errors (bugs): code INTERNAL plus the stack on stderr.
 * A ReportedFailure already printed its result, so under --json nothing more goes to
 * stdout. --verbose adds the underlying cause.
 */
export function renderError(err: unknown, json: boolean, opts: { verbose?: boolean } = {}): RenderedError {
  if (isCommanderSuccess(err)) return { stdout: '', stderr: '' };
  const known = toCairnError(err);
  if (known) {
    const level = err instanceof ReportedFailure ? err.level : 'error';
    let stderr = `cairn: ${level}: ${oneLine(known.message)} [${known.code}]\n`;
    if (known.hint) stderr += `hint: ${oneLine(known.hint)}\n`;
    if (opts.verbose) stderr += causeLine(known);
    const stdout = json && !(err instanceof ReportedFailure) ? `${JSON.stringify(known.toJSON())}\n` : '';
    return { stdout, stderr };
  }
  const message = err instanceof Error ? err.message : String(err);
  const stack = err instanceof Error && err.stack ? err.stack : String(err);
  const stderr =
    `cairn: error: internal error: ${oneLine(message)} [INTERNAL]\n${stack}\n` +
    'hint: this is a bug in cairn; please report it with the output above\n';
  const stdout = json
    ? `${JSON.stringify({ error: { code: 'INTERNAL', message: oneLine(message), exitCode: ERROR_CODES.INTERNAL.exitCode } })}\n`
    : '';
  return { stdout, stderr };
}
