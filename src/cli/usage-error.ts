import { CairnError } from '../core/errors/index.js';

/** A USAGE error (exit 2): the command line itself is wrong. */
export function usageError(message: string, hint?: string): CairnError {
  return new CairnError('USAGE', message, hint === undefined ? {} : { hint });
}
