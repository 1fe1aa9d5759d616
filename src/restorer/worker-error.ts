import { CairnError, ERROR_CODES, fromSystemError, type ErrorCode } from '../core/errors/index.js';

/** A worker's error report as the error it stands for (errno codes map like local ones). */
export function workerError(e: { code: string; message: string }): unknown {
  if (e.code in ERROR_CODES) return new CairnError(e.code as ErrorCode, e.message);
  return fromSystemError(Object.assign(new Error(e.message), { code: e.code }), e.message);
}
