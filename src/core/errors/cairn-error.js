import { ERROR_CODES } from './codes.js';
/**
 * The base of every error Cairn reports on purpose. `code` is stable, `exitCode`
 * comes from the code table, `hint` tells the operator what to do next.
 */
export class CairnError extends Error {
    code;
    exitCode;
    hint;
    details;
    constructor(code, message, options = {}) {
        super(message, options.cause === undefined ? undefined : { cause: options.cause });
        this.name = 'CairnError';
        this.code = code;
        this.exitCode = ERROR_CODES[code].exitCode;
        this.hint = options.hint;
        this.details = options.details;
    }
    toJSON() {
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
export function isCairnError(err, code) {
    return err instanceof CairnError && (code === undefined || err.code === code);
}
