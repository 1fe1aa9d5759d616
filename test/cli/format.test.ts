import { describe, expect, it } from 'vitest';
import { formatCount } from '../../src/cli/format-count.js';
import { formatMode } from '../../src/cli/format-mode.js';
import { formatTable } from '../../src/cli/format-table.js';
import { formatTime } from '../../src/cli/format-time.js';

describe('formatting', () => {
  it('aligns tables, right-aligning where asked, without trailing spaces', () => {
    expect(formatTable(['ID', { header: 'Size', align: 'right' }, 'Path'], [['a', '1 B', '/x'], ['bbbb', '10.0 KiB', '']])).toEqual([
      'ID        Size  Path',
      '--------------------',
      'a          1 B  /x',
      'bbbb  10.0 KiB',
    ]);
  });

  it('formats modes like ls -l', () => {
    expect(formatMode('file', 0o644)).toBe('-rw-r--r--');
    expect(formatMode('dir', 0o1777)).toBe('drwxrwxrwt');
    expect(formatMode('file', 0o4755)).toBe('-rwsr-xr-x');
    expect(formatMode('symlink', 0o777)).toBe('lrwxrwxrwx');
  });

  it('formats local times without milliseconds', () => {
    const prev = process.env.TZ;
    process.env.TZ = 'UTC';
    try {
      expect(formatTime('2026-03-01T12:34:56.789Z')).toBe('2026-03-01 12:34:56');
    } finally {
      process.env.TZ = prev;
    }
    expect(formatTime('not a time')).toBe('not a time');
  });

  it('groups thousands', () => {
    expect(formatCount(0)).toBe('0');
    expect(formatCount(1234567)).toBe('1,234,567');
  });
});
