import { hostname } from 'node:os';
import pLimit from 'p-limit';
import type { Backend } from '../backend/types.js';
import { isNotFound } from '../backend/types.js';
import { CairnError } from '../core/errors/index.js';
import { isId, type KeyId } from '../core/ids.js';
import type { RandomSource } from '../core/random.js';
import {
  createKeySlot,
  openKeySlot,
  parseKeySlot,
  serializeKeySlot,
  type KdfParams,
  type KeySlotFile,
  type SlotRole,
} from '../crypto/key-slot.js';
import type { MasterKey } from '../crypto/master-key.js';
import type { KeyInfo } from '../engine/types.js';

async function loadSlots(backend: Backend): Promise<KeySlotFile[]> {
  const slots: KeySlotFile[] = [];
  for await (const f of backend.list('keys/')) {
    const id = f.name.slice('keys/'.length);
    if (!isId(id)) continue;
    try {
      slots.push(parseKeySlot(await backend.load(f.name)));
    } catch (err) {
      if (isNotFound(err)) continue; // removed meanwhile
      throw err;
    }
  }
  return slots.sort((a, b) => a.created.localeCompare(b.created));
}

/** Tries `password` on each slot, two at a time (each scrypt attempt holds 128 MiB at the default cost). */
function tryPassword(slots: KeySlotFile[], password: string, repoId: string): Promise<PromiseSettledResult<MasterKey>[]> {
  const limit = pLimit(2);
  return Promise.allSettled(slots.map((s) => limit(() => openKeySlot(s, password, repoId))));
}

/**
 * Tries every key slot with the password (scrypt runs on libuv's thread pool, so
 * two slots are tried at once). Wrong for all of them: WRONG_PASSWORD. Returns the
 * role of the slot that opened; should one password open several slots, a full one
 * wins (whoever has the password can open that slot anyway).
 */
export async function unlockMasterKey(
  backend: Backend,
  repoId: string,
  password: string,
): Promise<{ masterKey: MasterKey; keyId: KeyId; role: SlotRole }> {
  const slots = await loadSlots(backend);
  if (slots.length === 0) {
    throw new CairnError('REPO_CORRUPT', `the repository at ${backend.location} has no key slots`, {
      hint: 'restore the keys/ directory from a copy of the repository',
    });
  }
  const attempts = await tryPassword(slots, password, repoId);
  let opened: { masterKey: MasterKey; keyId: KeyId; role: SlotRole } | null = null;
  for (let i = 0; i < attempts.length; i++) {
    const a = attempts[i]!;
    if (a.status !== 'fulfilled') continue;
    const slot = slots[i]!;
    if (!opened || (opened.role !== 'full' && slot.role === 'full')) opened = { masterKey: a.value, keyId: slot.id, role: slot.role };
  }
  if (opened) return opened;
  for (const a of attempts) {
    if (a.status === 'rejected' && !(a.reason instanceof CairnError && a.reason.code === 'WRONG_PASSWORD')) throw a.reason;
  }
  throw new CairnError('WRONG_PASSWORD', 'wrong password: no key slot of this repository opens with it', {
    hint: 'check CAIRN_PASSWORD / --password-file; `cairn key list` shows the slots',
  });
}

export interface KeyManagerDeps {
  backend: Backend;
  repoId: string;
  masterKey: MasterKey;
  currentKeyId: string;
  random: RandomSource;
  now: () => Date;
  kdf?: KdfParams;
  user: string;
}

function info(slot: KeySlotFile, currentKeyId: string): KeyInfo {
  return {
    id: slot.id,
    role: slot.role,
    current: slot.id === currentKeyId,
    created: slot.created,
    host: slot.host,
    user: slot.user,
    ...(slot.label ? { label: slot.label } : {}),
  };
}

export async function listKeys(d: KeyManagerDeps): Promise<KeyInfo[]> {
  return (await loadSlots(d.backend)).map((s) => info(s, d.currentKeyId));
}

export interface AddKeyOptions {
  label?: string;
  host?: string;
  user?: string;
  role?: SlotRole;
}

/**
 * A password that opens slots of two roles gives whoever holds it the larger role, so
 * a new slot must not share its password with an existing slot of another role (an
 * append-only key given the admin's password would be a full key in disguise).
 */
async function refuseSharedPassword(d: KeyManagerDeps, password: string, role: SlotRole): Promise<void> {
  const others = (await loadSlots(d.backend)).filter((s) => s.role !== role);
  const attempts = await tryPassword(others, password, d.repoId);
  const i = attempts.findIndex((a) => a.status === 'fulfilled');
  if (i >= 0) {
    const other = others[i]!;
    throw new CairnError('USAGE', `the new password already opens ${other.role} key slot ${other.id.slice(0, 8)}; a password must not be shared between roles`, {
      hint: 'choose a different password for the new key slot',
    });
  }
}

export async function addKey(d: KeyManagerDeps, password: string, opts: AddKeyOptions = {}): Promise<KeyInfo> {
  const role = opts.role ?? 'full';
  await refuseSharedPassword(d, password, role);
  const slot = await createKeySlot(d.masterKey, password, d.repoId, {
    ...(d.kdf ? { kdf: d.kdf } : {}),
    host: opts.host ?? hostname(),
    user: opts.user ?? d.user,
    ...(opts.label !== undefined ? { label: opts.label } : {}),
    role,
    random: d.random,
    now: d.now(),
  });
  await d.backend.save(`keys/${slot.id}`, serializeKeySlot(slot), { overwrite: true });
  return info(slot, d.currentKeyId);
}

export async function resolveKeyId(d: KeyManagerDeps, ref: string): Promise<KeySlotFile> {
  const slots = await loadSlots(d.backend);
  const matches = slots.filter((s) => s.id.startsWith(ref));
  if (matches.length === 0 || ref.length === 0) throw new CairnError('KEY_NOT_FOUND', `no key slot with id ${ref}`, { hint: 'see `cairn key list`' });
  if (matches.length > 1) throw new CairnError('KEY_NOT_FOUND', `key id prefix ${ref} is ambiguous`, { hint: 'give more characters' });
  return matches[0]!;
}

export async function removeKey(d: KeyManagerDeps, ref: string): Promise<void> {
  const slot = await resolveKeyId(d, ref);
  const all = await loadSlots(d.backend);
  if (all.length <= 1) {
    throw new CairnError('LAST_KEY', 'refusing to remove the only key slot: the repository would be unreadable forever', {
      hint: 'add another key first with `cairn key add`',
    });
  }
  if (slot.id === d.currentKeyId) {
    throw new CairnError('USAGE', 'refusing to remove the key slot this session was opened with', {
      hint: 'open the repository with another password to remove this slot, or use `cairn key passwd`',
    });
  }
  await d.backend.remove(`keys/${slot.id}`);
}

/** New slot first, old slot second: a crash in between leaves two working slots, never none. */
export async function changePassword(d: KeyManagerDeps, newPassword: string): Promise<KeyInfo> {
  const old = await resolveKeyId(d, d.currentKeyId);
  const added = await addKey(d, newPassword, { label: old.label, host: old.host, user: old.user, role: old.role });
  await d.backend.remove(`keys/${old.id}`);
  return { ...added, current: true };
}
