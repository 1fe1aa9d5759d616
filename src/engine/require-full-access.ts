import { CairnError } from '../core/errors/index.js';
import type { KeyRole } from './types.js';

/**
 * The one role check of the engine: operations that delete or rewrite repository
 * files, or change who can open it, need a full-access key. `op` names the operation
 * as the operator typed it ("forget", "key add"), for a one-line error.
 *
 * Allowed to append-only sessions: backup (it deletes only its own lock), restore,
 * check, ls, find, diff, snapshots, stats, cat, forget/prune with dryRun (they delete
 * nothing), and plain unlock (it deletes only stale locks, which everyone already
 * ignores; a host needs delete rights on locks/ for its own lock anyway).
 */
export function requireFullAccess(role: KeyRole, op: string): void {
  if (role === 'full') return;
  throw new CairnError('APPEND_ONLY', `${op} is refused: the repository was opened with an append-only key`, {
    hint: 'use a full-access key from an administration host (see docs/security.md)',
    details: { operation: op, role },
  });
}
