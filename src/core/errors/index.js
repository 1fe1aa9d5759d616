export { ERROR_CODES } from './codes.js';
export { CairnError, isCairnError } from './cairn-error.js';
export { fromSystemError } from './from-system-error.js';
