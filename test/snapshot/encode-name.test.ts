import { describe, expect, it } from 'vitest';
import { encodeName, nodeNameBytes } from '../../src/snapshot/tree.js';

/** The rule names were always stored by: UTF-8 when a fatal, BOM-stripping decode round-trips. */
function reference(raw: Buffer): { name?: string; nameRaw?: string } {
  try {
    const s = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    if (Buffer.from(s, 'utf8').equals(raw)) return { name: s };
  } catch {
    // not UTF-8
  }
  return { nameRaw: raw.toString('base64') };
}

describe('encodeName', () => {
  const cases: Buffer[] = [
    Buffer.from('plain.txt'),
    Buffer.from('café ☕ 𝄞 名前'),
    Buffer.from('e\u0301'), // NFD stays NFD
    Buffer.from([0xef, 0xbb, 0xbf, 0x61]), // leading BOM
    Buffer.from([0x61, 0xef, 0xbb, 0xbf]), // BOM inside
    Buffer.from([0xff, 0x61]),
    Buffer.from([0xc0, 0xaf]), // overlong
    Buffer.from([0xed, 0xa0, 0x80]), // encoded surrogate
    Buffer.from([0xf4, 0x90, 0x80, 0x80]), // above U+10FFFF
    Buffer.from([0xe2, 0x82]), // truncated
    Buffer.from([0x00, 0x0a, 0x20]),
  ];
  it('agrees with the reference rule on crafted names and round-trips', () => {
    for (const raw of cases) {
      expect(encodeName(raw), raw.toString('hex')).toEqual(reference(raw));
      expect(nodeNameBytes(encodeName(raw)).equals(raw)).toBe(true);
    }
  });

  it('agrees with the reference rule on random byte strings', () => {
    let x = 0x2545f491;
    const next = () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 20_000; i++) {
      const len = 1 + (next() % 12);
      // Mostly bytes from UTF-8's lead/continuation ranges, so valid sequences occur too.
      const raw = Buffer.from(Array.from({ length: len }, () => (next() < 128 ? 0x61 + (next() % 26) : 0x80 + (next() % 0x78))));
      expect(encodeName(raw), raw.toString('hex')).toEqual(reference(raw));
    }
  });
});
