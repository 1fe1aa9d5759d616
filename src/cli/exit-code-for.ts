import { ERROR_CODES } from '../core/errors/index.js';
import { isCommanderSuccess, toCairnError } from './to-cairn-error.js';

/** The process exit code for an error that ended a command (0 for --help/--version). */
export function exitCodeFor(err: unknown): number {
  if (isCommanderSuccess(err)) return 0;
  const known = toCairnError(err);
  return known ? known.exitCode : ERROR_CODES.INTERNAL.exitCode;
}
