import { describe, expect, it } from 'vitest';
import { formatBytes } from '../../src/util/format-bytes.js';

describe('formatBytes', () => {
  it('prints bytes below 1 KiB as whole bytes', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1)).toBe('1 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1023.7)).toBe('1023 B');
  });

  it('uses binary units with one decimal', () => {
    expect(formatBytes(1024)).toBe('1.0 KiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(1.5 * 1024 ** 2)).toBe('1.5 MiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB');
    expect(formatBytes(2.25 * 1024 ** 4)).toBe('2.3 TiB');
    expect(formatBytes(1024 ** 5)).toBe('1.0 PiB');
    expect(formatBytes(4096 * 1024 ** 6)).toBe('4096.0 EiB');
  });

  it('moves to the next unit instead of printing 1024.0', () => {
    expect(formatBytes(1024 ** 2 - 1)).toBe('1.0 MiB');
    expect(formatBytes(1024 * 1023.9)).toBe('1023.9 KiB');
  });

  it('handles negative and non-finite numbers', () => {
    expect(formatBytes(-1536)).toBe('-1.5 KiB');
    expect(formatBytes(Number.NaN)).toBe('? B');
    expect(formatBytes(Number.POSITIVE_INFINITY)).toBe('? B');
  });
});
