export { ERROR_CODES, type ErrorCode } from './codes.js';
export { CairnError, isCairnError, type CairnErrorOptions } from './cairn-error.js';
export { fromSystemError, fromSystemErrorOrIo, isErrnoError } from './from-system-error.js';
export { isDamage } from './is-damage.js';
