import { gcm } from '@noble/ciphers/aes.js';
import { scrypt } from '@noble/hashes/scrypt.js';
import { describe, expect, it } from 'vitest';
import { MemBackend } from '../../src/backend/mem-backend.js';
import { isCairnError } from '../../src/core/errors/index.js';
import { createKeySlot, openKeySlot, parseKeySlot, serializeKeySlot, type KdfParams } from '../../src/crypto/key-slot.js';
import { generateMasterKey, parseMasterKey, serializeMasterKey } from '../../src/crypto/master-key.js';
import { addKey, listKeys, unlockMasterKey, type KeyManagerDeps } from '../../src/repository/key-manager.js';
import { seededRandom } from './seeded-random.js';

/** Key slot roles (issue #4 part 5): append-only slots, tamper-evident role, old slots read as full. */

const FAST: KdfParams = { N: 2 ** 10, r: 8, p: 1 };
const now = new Date('2026-11-27T00:00:00.000Z');
const repoId = 'ab'.repeat(32);
const mk = generateMasterKey(seededRandom('role-mk'), now);
const slotOpts = (seed: string) => ({ kdf: FAST, host: 'web1', user: 'root', random: seededRandom(seed), now });

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return isCairnError(err) ? err.code : `not a CairnError: ${String(err)}`;
  }
}

/** The slot's JSON with one field changed (or deleted with undefined), as an attacker with write access to keys/ would. */
function edited(bytes: Buffer, field: string, value: unknown): Buffer {
  const o = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  if (value === undefined) delete o[field];
  else o[field] = value;
  return Buffer.from(JSON.stringify(o));
}

function noble(password: string, slot: { kdf: { N: number; r: number; p: number; salt: string } }): Uint8Array {
  return scrypt(new TextEncoder().encode(password), Buffer.from(slot.kdf.salt, 'base64'), { N: slot.kdf.N, r: slot.kdf.r, p: slot.kdf.p, dkLen: 32 });
}

describe('key slot roles', () => {
  it('an append-only slot records its role, survives serialisation and opens', async () => {
    const slot = await createKeySlot(mk, 'host pw', repoId, { ...slotOpts('ao1'), role: 'append-only' });
    expect(slot.role).toBe('append-only');
    const bytes = serializeKeySlot(slot);
    expect(JSON.parse(bytes.toString('utf8')).role).toBe('append-only');
    const parsed = parseKeySlot(bytes);
    expect(parsed).toEqual(slot);
    expect(await openKeySlot(parsed, 'host pw', repoId)).toEqual(mk);
  });

  it('new full slots say so, and are sealed with the original AAD', async () => {
    const slot = await createKeySlot(mk, 'admin pw', repoId, slotOpts('full1'));
    expect(slot.role).toBe('full');
    const aad = new TextEncoder().encode(`cairn keyslot v1 ${repoId}`);
    const plain = gcm(noble('admin pw', slot), Buffer.from(slot.nonce, 'base64'), aad).decrypt(Buffer.from(slot.wrapped, 'base64'));
    expect(parseMasterKey(plain)).toEqual(mk);
  });

  it('binds the append-only role into the AAD exactly as the spec says (independent @noble check)', async () => {
    const slot = await createKeySlot(mk, 'host pw', repoId, { ...slotOpts('ao2'), role: 'append-only' });
    const key = noble('host pw', slot);
    const nonce = Buffer.from(slot.nonce, 'base64');
    const wrapped = Buffer.from(slot.wrapped, 'base64');
    const aad = new TextEncoder().encode(`cairn keyslot v1 ${repoId} role=append-only`);
    expect(parseMasterKey(gcm(key, nonce, aad).decrypt(wrapped))).toEqual(mk);
    // ...and not with the full-slot AAD: the role is really authenticated.
    expect(() => gcm(key, nonce, new TextEncoder().encode(`cairn keyslot v1 ${repoId}`)).decrypt(wrapped)).toThrow();
  });

  it('editing the role of an append-only slot to full, or deleting it, makes the slot fail to open', async () => {
    const bytes = serializeKeySlot(await createKeySlot(mk, 'host pw', repoId, { ...slotOpts('ao3'), role: 'append-only' }));
    const promoted = parseKeySlot(edited(bytes, 'role', 'full'));
    expect(promoted.role).toBe('full');
    expect(await codeOf(openKeySlot(promoted, 'host pw', repoId))).toBe('WRONG_PASSWORD');
    const stripped = parseKeySlot(edited(bytes, 'role', undefined));
    expect(stripped.role).toBe('full');
    expect(await codeOf(openKeySlot(stripped, 'host pw', repoId))).toBe('WRONG_PASSWORD');
  });

  it('editing a full slot to append-only also fails to open (fails closed, never silently changes role)', async () => {
    const bytes = serializeKeySlot(await createKeySlot(mk, 'admin pw', repoId, slotOpts('full2')));
    expect(await codeOf(openKeySlot(parseKeySlot(edited(bytes, 'role', 'append-only')), 'admin pw', repoId))).toBe('WRONG_PASSWORD');
  });

  it('a slot written before roles existed (no role field) parses and opens as full', async () => {
    // Built by hand with @noble, the way the v1 format was specified before roles, so
    // this does not depend on createKeySlot's full-slot path.
    const random = seededRandom('old-slot');
    const salt = random(32);
    const nonce = random(12);
    const slotish = { kdf: { N: FAST.N, r: FAST.r, p: FAST.p, salt: salt.toString('base64') } };
    const aad = new TextEncoder().encode(`cairn keyslot v1 ${repoId}`);
    const wrapped = gcm(noble('old pw', slotish), nonce, aad).encrypt(serializeMasterKey(mk));
    const old = {
      version: 1,
      id: 'cd'.repeat(32),
      created: '2025-01-01T00:00:00.000Z',
      host: 'old',
      user: 'root',
      label: 'before roles',
      kdf: { name: 'scrypt', ...slotish.kdf },
      nonce: nonce.toString('base64'),
      wrapped: Buffer.from(wrapped).toString('base64'),
    };
    const parsed = parseKeySlot(Buffer.from(JSON.stringify(old)));
    expect(parsed.role).toBe('full');
    expect(await openKeySlot(parsed, 'old pw', repoId)).toEqual(mk);
  });

  it.each([['admin'], [''], [1], [null], [['full']]])('rejects role %j as malformed (REPO_CORRUPT)', async (role) => {
    const bytes = serializeKeySlot(await createKeySlot(mk, 'pw', repoId, slotOpts('bad-role')));
    expect(() => parseKeySlot(edited(bytes, 'role', role))).toThrow(expect.objectContaining({ code: 'REPO_CORRUPT' }));
  });

  it('refuses to create a slot with an unknown role', async () => {
    expect(await codeOf(createKeySlot(mk, 'pw', repoId, { ...slotOpts('x'), role: 'root' as never }))).toBe('INTERNAL');
  });
});

describe('unlockMasterKey and roles', () => {
  async function repoWithSlots(): Promise<{ backend: MemBackend; deps: KeyManagerDeps }> {
    const backend = new MemBackend();
    const first = await createKeySlot(mk, 'admin pw', repoId, slotOpts('first'));
    await backend.save(`keys/${first.id}`, serializeKeySlot(first));
    const deps: KeyManagerDeps = { backend, repoId, masterKey: mk, currentKeyId: first.id, random: seededRandom('deps'), now: () => now, kdf: FAST, user: 'root' };
    return { backend, deps };
  }

  it('reports the role of the slot that opened', async () => {
    const { backend, deps } = await repoWithSlots();
    const added = await addKey(deps, 'host pw', { role: 'append-only', label: 'web1' });
    expect(added).toMatchObject({ role: 'append-only', current: false, label: 'web1' });
    expect((await listKeys(deps)).map((k) => k.role).sort()).toEqual(['append-only', 'full']);
    expect(await unlockMasterKey(backend, repoId, 'host pw')).toMatchObject({ role: 'append-only', keyId: added.id, masterKey: mk });
    expect(await unlockMasterKey(backend, repoId, 'admin pw')).toMatchObject({ role: 'full', keyId: deps.currentKeyId });
  });

  it('a tampered append-only slot (role edited to full) does not open: WRONG_PASSWORD, not full access', async () => {
    const { backend, deps } = await repoWithSlots();
    const added = await addKey(deps, 'host pw', { role: 'append-only' });
    await backend.save(`keys/${added.id}`, edited(await backend.load(`keys/${added.id}`), 'role', 'full'), { overwrite: true });
    expect(await codeOf(unlockMasterKey(backend, repoId, 'host pw'))).toBe('WRONG_PASSWORD');
  });

  it('refuses a new slot whose password already opens a slot of the other role', async () => {
    const { deps } = await repoWithSlots();
    expect(await codeOf(addKey(deps, 'admin pw', { role: 'append-only' }))).toBe('USAGE');
    await addKey(deps, 'host pw', { role: 'append-only' });
    expect(await codeOf(addKey(deps, 'host pw', { role: 'full' }))).toBe('USAGE');
    // Same role, same password: harmless, still allowed (as before roles existed).
    await addKey(deps, 'host pw', { role: 'append-only' });
    expect(await listKeys(deps)).toHaveLength(3);
  });

  it('when one password opens both a full and an append-only slot, the full one wins', async () => {
    // Only reachable by writing slots directly (addKey refuses it), e.g. slots made by an older cairn.
    const { backend } = await repoWithSlots();
    const ao = await createKeySlot(mk, 'admin pw', repoId, { ...slotOpts('dup'), role: 'append-only', now: new Date(0) });
    await backend.save(`keys/${ao.id}`, serializeKeySlot(ao));
    expect((await unlockMasterKey(backend, repoId, 'admin pw')).role).toBe('full');
  });
});
