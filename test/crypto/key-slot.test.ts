import { gcm } from '@noble/ciphers/aes.js';
import { scrypt } from '@noble/hashes/scrypt.js';
import { describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/core/errors/index.js';
import {
  createKeySlot,
  DEFAULT_KDF,
  openKeySlot,
  parseKeySlot,
  serializeKeySlot,
  type KdfParams,
} from '../../src/crypto/key-slot.js';
import { generateMasterKey, parseMasterKey } from '../../src/crypto/master-key.js';
import { seededRandom } from './seeded-random.js';

const FAST: KdfParams = { N: 2 ** 10, r: 8, p: 1 };
const now = new Date('2026-11-27T00:00:00.000Z');
const repoId = 'ab'.repeat(32);
const mk = generateMasterKey(seededRandom('slot-mk'), now);
const slotOpts = (seed: string) => ({ kdf: FAST, host: 'db1', user: 'root', random: seededRandom(seed), now });

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return isCairnError(err) ? err.code : `not a CairnError: ${String(err)}`;
  }
}

describe('key slots', () => {
  it('defaults to the spec parameters', () => {
    expect(DEFAULT_KDF).toEqual({ N: 131072, r: 8, p: 1 });
  });

  it('wraps and unwraps the master key, through serialisation', async () => {
    const slot = await createKeySlot(mk, 'correct horse', repoId, { ...slotOpts('s1'), label: 'laptop' });
    expect(slot).toMatchObject({ version: 1, host: 'db1', user: 'root', label: 'laptop', created: now.toISOString() });
    expect(slot.kdf).toMatchObject({ name: 'scrypt', N: 1024, r: 8, p: 1 });
    expect(slot.id).toMatch(/^[0-9a-f]{64}$/);
    const parsed = parseKeySlot(serializeKeySlot(slot));
    expect(parsed).toEqual(slot);
    expect(await openKeySlot(parsed, 'correct horse', repoId)).toEqual(mk);
  });

  it('follows the spec exactly (unwrapped with @noble scrypt + gcm)', async () => {
    const slot = await createKeySlot(mk, 'pässword', repoId, slotOpts('s2'));
    const wrapKey = scrypt(new TextEncoder().encode('pässword'.normalize('NFC')), Buffer.from(slot.kdf.salt, 'base64'), {
      N: slot.kdf.N,
      r: slot.kdf.r,
      p: slot.kdf.p,
      dkLen: 32,
    });
    const aad = new TextEncoder().encode(`cairn keyslot v1 ${repoId}`);
    const plain = gcm(wrapKey, Buffer.from(slot.nonce, 'base64'), aad).decrypt(Buffer.from(slot.wrapped, 'base64'));
    expect(parseMasterKey(plain)).toEqual(mk);
  });

  it('sizes scrypt maxmem itself (N=2^15, r=8 exceeds the 32 MiB Node default)', async () => {
    const kdf = { N: 2 ** 15, r: 8, p: 1 };
    const slot = await createKeySlot(mk, 'pw', repoId, { ...slotOpts('big'), kdf });
    expect(await openKeySlot(slot, 'pw', repoId)).toEqual(mk);
  });

  it('normalises the password to NFC', async () => {
    const slot = await createKeySlot(mk, 'caf\u00e9', repoId, slotOpts('nfc'));
    expect(await openKeySlot(slot, 'cafe\u0301', repoId)).toEqual(mk);
  });

  it('gives WRONG_PASSWORD for a wrong password or another repository', async () => {
    const slot = await createKeySlot(mk, 'right', repoId, slotOpts('s3'));
    expect(await codeOf(openKeySlot(slot, 'wrong', repoId))).toBe('WRONG_PASSWORD');
    expect(await codeOf(openKeySlot(slot, 'right', 'cd'.repeat(32)))).toBe('WRONG_PASSWORD');
    const tampered = { ...slot, kdf: { ...slot.kdf, N: 2048 } };
    expect(await codeOf(openKeySlot(tampered, 'right', repoId))).toBe('WRONG_PASSWORD');
  });

  it('uses fresh salt and nonce per slot', async () => {
    const random = seededRandom('fresh');
    const a = await createKeySlot(mk, 'pw', repoId, { ...slotOpts('x'), random });
    const b = await createKeySlot(mk, 'pw', repoId, { ...slotOpts('x'), random });
    expect(a.kdf.salt).not.toBe(b.kdf.salt);
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.id).not.toBe(b.id);
  });

  it('rejects malformed slots with REPO_CORRUPT', async () => {
    const slot = JSON.parse(serializeKeySlot(await createKeySlot(mk, 'pw', repoId, slotOpts('s4'))).toString());
    const variants = [
      '{"version":1,',
      JSON.stringify({ ...slot, version: 2 }),
      JSON.stringify({ ...slot, kdf: { ...slot.kdf, name: 'argon2id' } }),
      JSON.stringify({ ...slot, kdf: { ...slot.kdf, N: 1000 } }),
      JSON.stringify({ ...slot, kdf: { ...slot.kdf, N: 2 ** 30 } }), // would need 128 GiB
      JSON.stringify({ ...slot, kdf: { ...slot.kdf, salt: 'AAAA' } }),
      JSON.stringify({ ...slot, nonce: '' }),
      JSON.stringify({ ...slot, wrapped: 42 }),
      JSON.stringify({ ...slot, id: 'short' }),
      '[]',
    ];
    for (const v of variants) {
      expect(await codeOf(Promise.resolve().then(() => parseKeySlot(Buffer.from(v))))).toBe('REPO_CORRUPT');
    }
    const { label: _label, ...noLabel } = slot;
    expect(parseKeySlot(Buffer.from(JSON.stringify(noLabel))).label).toBe('');
  });

  it('refuses unusable KDF parameters when creating', async () => {
    expect(await codeOf(createKeySlot(mk, 'pw', repoId, { ...slotOpts('s5'), kdf: { N: 1000, r: 8, p: 1 } }))).toBe(
      'CONFIG_INVALID',
    );
  });
});
