import type { CairnError } from '../core/errors/index.js';

/**
 * Thrown by a command that has already printed its full result (for example the
 * check report, or a partial backup's summary) but must still end with a non-zero
 * exit. main() prints only the one status line on stderr and never a second JSON
 * document on stdout.
 */
export class ReportedFailure extends Error {
  readonly error: CairnError;
  readonly level: 'error' | 'warning';

  constructor(error: CairnError, level: 'error' | 'warning' = 'error') {
    super(error.message);
    this.name = 'ReportedFailure';
    this.error = error;
    this.level = level;
  }
}
