import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../src/util/format-duration.js';

describe('formatDuration', () => {
  it('prints milliseconds and seconds', () => {
    expect(formatDuration(0)).toBe('0ms');
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(1000)).toBe('1.0s');
    expect(formatDuration(4200)).toBe('4.2s');
    expect(formatDuration(59_940)).toBe('59.9s');
  });

  it('never prints 60.0s', () => {
    expect(formatDuration(59_960)).toBe('1m 00s');
  });

  it('prints two units past a minute', () => {
    expect(formatDuration(187_000)).toBe('3m 07s');
    expect(formatDuration(2 * 3600_000 + 5 * 60_000 + 20_000)).toBe('2h 05m');
    expect(formatDuration(3 * 86_400_000 + 4 * 3600_000)).toBe('3d 04h');
  });

  it('prints ? for nonsense', () => {
    expect(formatDuration(-1)).toBe('?');
    expect(formatDuration(Number.NaN)).toBe('?');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('?');
  });
});
