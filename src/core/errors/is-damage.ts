import { CairnError } from './cairn-error.js';

/**
 * Damage in the repository (a blob that fails authentication, or is in no pack), as
 * opposed to a failure of the machine or the backend: readers that can go on past one
 * entry (restore, repair snapshots) step over these and stop at anything else.
 */
export function isDamage(err: unknown): err is CairnError {
  return err instanceof CairnError && (err.code === 'PACK_CORRUPT' || err.code === 'BLOB_MISSING');
}
