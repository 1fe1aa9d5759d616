import { CairnError } from '../core/errors/index.js';
import type { Backend, ByteRange, FileInfo, SaveOptions } from './types.js';

/** The only place an append-only session may delete or rewrite: its own lock files. */
const MUTABLE_PREFIX = 'locks/';

function refused(what: string): CairnError {
  return new CairnError('APPEND_ONLY', `an append-only session may not ${what}`, {
    hint: 'use a full-access key from an administration host (see docs/security.md)',
  });
}

/**
 * The backstop under an append-only session: removes, overwrites and debris cleanup
 * outside locks/ are refused here even if some code path above forgot its role check
 * (the session's requireFullAccess gives the clear, per-command message first).
 *
 * This protects against mistakes in cairn, not against a compromised host: such a
 * host holds the master key and can run software without this wrapper. Storage
 * permissions are what stop it (docs/security.md).
 */
export function withAppendOnly(inner: Backend): Backend {
  return {
    location: inner.location,
    ...(inner.verifiesWrites ? { verifiesWrites: true } : {}),
    save(name: string, data: Uint8Array, options?: SaveOptions): Promise<void> {
      if (options?.overwrite && !name.startsWith(MUTABLE_PREFIX)) return Promise.reject(refused(`overwrite ${name}`));
      return inner.save(name, data, options);
    },
    load: (name: string, range?: ByteRange, into?: Uint8Array) => inner.load(name, range, into),
    list: (prefix: string): AsyncIterable<FileInfo> => inner.list(prefix),
    stat: (name: string) => inner.stat(name),
    remove(name: string): Promise<void> {
      if (!name.startsWith(MUTABLE_PREFIX)) return Promise.reject(refused(`delete ${name}`));
      return inner.remove(name);
    },
    close: () => inner.close(),
    ...(inner.cleanup ? { cleanup: () => Promise.reject(refused('remove leftover temporary files')) } : {}),
  };
}
