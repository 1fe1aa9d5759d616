import { ERROR_CODES, type ErrorCode } from './codes.js';

export interface CairnErrorOptions {
  hint?: string;
  cause?: unknown;
  /** Extra machine-readable facts for --json output (never secrets). */
  details?: Record<string, unknown>;
}

/**
 * The base of every error Cairn reports on purpose. `code` is stable, `exitCode`
 * comes from the code table, `hint` tells the operator what to do next.
 */
export class CairnError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: CairnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CairnError';
    this.code = code;
    this.exitCode = ERROR_CODES[code].exitCode;
    this.hint = options.hint;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return {
      error: {
        code: this.code,
        message: this.message,
        exitCode: this.exitCode,
        ...(this.hint ? { hint: this.hint } : {}),
        ...(this.details ? { details: this.details } : {}),
      },
    };
  }
}

export function isCairnError(err: unknown, code?: ErrorCode): err is CairnError {
  return err instanceof CairnError && (code === undefined || err.code === code);
}
