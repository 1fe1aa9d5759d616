import { describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/core/errors/index.js';
import { parseKeepPolicy, parseKeepCount } from '../../src/cli/parse-keep-policy.js';
import { parseTags, parseTagFilter } from '../../src/cli/parse-tags.js';
import { formatSubset, parseSubset } from '../../src/cli/parse-subset.js';
import { durationToMs, parseDuration } from '../../src/cli/parse-duration.js';
import { parseMaxUnused } from '../../src/cli/commands/prune-command.js';
import { parseSize } from '../../src/cli/parse-size.js';
import { parseGroupBy } from '../../src/cli/parse-group-by.js';
import { parseSnapshotFilter } from '../../src/cli/snapshot-filter-options.js';
import { resolveGlobalOptions, defaultCacheDir } from '../../src/cli/global-options.js';
import { toBackupOptions } from '../../src/cli/commands/backup-command.js';
import { toRestoreOptions } from '../../src/cli/commands/restore-command.js';
import { toForgetOptions } from '../../src/cli/commands/forget-command.js';
import { toCheckOptions } from '../../src/cli/commands/check-command.js';
import { toPruneOptions } from '../../src/cli/commands/prune-command.js';
import { toFindOptions } from '../../src/cli/commands/find-command.js';
import { checkCatRef } from '../../src/cli/commands/cat-command.js';
import { kdfFromEnv } from '../../src/cli/commands/init-command.js';

/** Asserts fn throws a USAGE CairnError (exit 2) and returns it. */
function usage(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    expect(isCairnError(err, 'USAGE')).toBe(true);
    expect((err as { exitCode: number }).exitCode).toBe(2);
    return err as Error;
  }
  throw new Error('expected a USAGE error');
}

describe('parseTags', () => {
  it('flattens repeated and comma-separated tags, trimmed, without duplicates', () => {
    expect(parseTags(['a,b', ' c ', 'a'])).toEqual(['a', 'b', 'c']);
    expect(parseTags(undefined)).toEqual([]);
  });
  it('rejects empty tags', () => {
    usage(() => parseTags(['a,,b']));
    usage(() => parseTags(['']));
  });
  it('keeps filter entries as AND-groups', () => {
    expect(parseTagFilter(['a, b', 'c'])).toEqual(['a,b', 'c']);
  });
});

describe('parseKeepPolicy', () => {
  it('maps every keep flag', () => {
    expect(
      parseKeepPolicy({
        keepLast: '3',
        keepHourly: '24',
        keepDaily: '7',
        keepWeekly: '4',
        keepMonthly: '-1',
        keepYearly: '0',
        keepWithin: '1y2w',
        keepTag: ['release', 'a,b'],
      }),
    ).toEqual({
      keepLast: 3,
      keepHourly: 24,
      keepDaily: 7,
      keepWeekly: 4,
      keepMonthly: -1,
      keepYearly: 0,
      keepWithin: '1y14d',
      keepTags: ['release', 'a,b'],
    });
  });
  it('is undefined without keep flags', () => {
    expect(parseKeepPolicy({})).toBeUndefined();
    expect(parseKeepPolicy({ keepTag: [] })).toBeUndefined();
  });
  it.each(['x', '1.5', '-2', '', '1e3', '3 days'])('rejects count %j', (v) => {
    const err = usage(() => parseKeepPolicy({ keepDaily: v }));
    expect(err.message).toContain('--keep-daily');
  });
  it('accepts -1 as unlimited', () => {
    expect(parseKeepCount('-1', '--keep-last')).toBe(-1);
  });
  it('rejects a bad --keep-within', () => {
    usage(() => parseKeepPolicy({ keepWithin: '30' }));
    usage(() => parseKeepPolicy({ keepWithin: '30min' }));
    usage(() => parseKeepPolicy({ keepWithin: '1d1d' }));
  });
});

describe('parseDuration', () => {
  it('parses combined units; m is months, min minutes', () => {
    expect(parseDuration('1y2m3d4h', 'x')).toMatchObject({ y: 1, m: 2, d: 3, h: 4 });
    expect(durationToMs(parseDuration('90min', 'x'))).toBe(90 * 60_000);
    expect(durationToMs(parseDuration('1h30s', 'x'))).toBe(3_630_000);
    expect(durationToMs(parseDuration('0', 'x'))).toBe(0);
  });
  it.each(['', 'h', '5', '5x', '-1h', '1.5h', '1000001d', '99999999999999y'])('rejects %j', (v) => {
    usage(() => parseDuration(v, '--gc-delay'));
  });
  it('names a number too large as written, not as Number() rounds it', () => {
    expect(() => parseDuration('99999999999999999999999d', '--keep-within')).toThrow(/"99999999999999999999999 is too large|99999999999999999999999 is too large/);
    expect(durationToMs(parseDuration('1000000y', 'x'))).toBe(1_000_000 * 365 * 86_400_000);
  });
});

describe('parseSubset', () => {
  it('parses percentages and slices', () => {
    expect(parseSubset('10%')).toEqual({ kind: 'percent', percent: 10 });
    expect(parseSubset('2.5%')).toEqual({ kind: 'percent', percent: 2.5 });
    expect(parseSubset('2/5')).toEqual({ kind: 'slice', n: 2, m: 5 });
    expect(formatSubset(parseSubset(' 3/7 '))).toBe('3/7');
  });
  it.each(['0%', '101%', '10', '0/5', '6/5', '1/0', 'a/b', '%', '-5%'])('rejects %j', (v) => {
    usage(() => parseSubset(v));
  });
});

describe('parseGroupBy', () => {
  it('defaults to host,paths', () => {
    expect(parseGroupBy(undefined)).toEqual({ host: true, paths: true, tags: false });
  });
  it('parses lists and none', () => {
    expect(parseGroupBy('tags,host')).toEqual({ host: true, paths: false, tags: true });
    expect(parseGroupBy('none')).toEqual({ host: false, paths: false, tags: false });
    expect(parseGroupBy('')).toEqual({ host: false, paths: false, tags: false });
  });
  it('rejects unknown fields', () => {
    usage(() => parseGroupBy('host,user'));
  });
});

describe('global options', () => {
  const home = '/home/alice';
  it('flags beat env, env beats defaults', () => {
    const g = resolveGlobalOptions(
      { repo: '/flag', passwordFile: '/pf' },
      { CAIRN_REPO: '/env', CAIRN_PASSWORD_FILE: '/envpf', CAIRN_PASSWORD: 'pw', CAIRN_CACHE_DIR: '/cache' },
      home,
    );
    expect(g).toMatchObject({ repo: '/flag', passwordFile: '/pf', password: 'pw', cacheDir: '/cache', cacheDirExplicit: true });
    expect(resolveGlobalOptions({}, { CAIRN_REPO: '/env' }, home).repo).toBe('/env');
  });
  it('defaults the cache to XDG, then ~/.cache', () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x' }, home)).toBe('/x/cairn');
    expect(defaultCacheDir({}, home)).toBe('/home/alice/.cache/cairn');
    expect(resolveGlobalOptions({}, {}, home)).toMatchObject({ cacheDirExplicit: false, progress: true, json: false });
  });
  it('--threads takes decimal digits only, 0 to 256', () => {
    expect(resolveGlobalOptions({ threads: '4' }, {}, home).threads).toBe(4);
    expect(resolveGlobalOptions({ threads: '0' }, {}, home).threads).toBe(0);
    expect(resolveGlobalOptions({}, { CAIRN_THREADS: '2' }, home).threads).toBe(2);
    for (const bad of ['0x10', '1e1', '-1', '2.5', '257', ' 2', 'two']) usage(() => resolveGlobalOptions({ threads: bad }, {}, home));
  });

  it('--no-progress turns progress off', () => {
    expect(resolveGlobalOptions({ progress: false }, {}, home).progress).toBe(false);
  });
});

describe('command option mapping', () => {
  it('backup', () => {
    expect(
      toBackupOptions(
        ['src', '/etc'],
        {
          mode: 'incremental',
          tag: ['a,b', 'c'],
          host: 'h',
          exclude: ['*.tmp'],
          excludeFile: ['ex.txt'],
          oneFileSystem: true,
          atime: true,
          parent: 'abcd',
          dryRun: true,
        },
        '/work',
      ),
    ).toEqual({
      paths: ['/work/src', '/etc'],
      mode: 'incremental',
      tags: ['a', 'b', 'c'],
      host: 'h',
      excludes: ['*.tmp'],
      excludeFiles: ['/work/ex.txt'],
      oneFileSystem: true,
      atime: true,
      parent: 'abcd',
      dryRun: true,
    });
    expect(toBackupOptions(['x'], {}, '/w')).toEqual({ paths: ['/w/x'] });
    usage(() => toBackupOptions(['x'], { host: ' ' }, '/w'));
    // An unset shell variable (`cairn backup "$DIR"`) is refused, not the working directory.
    usage(() => toBackupOptions([''], {}, '/w'));
    usage(() => toBackupOptions(['/etc', ''], {}, '/w'));
  });

  it('restore', () => {
    expect(toRestoreOptions('latest', { target: 'out', include: ['/etc'], verify: true, host: ['h'] }, '/w')).toEqual({
      snapshot: 'latest',
      target: '/w/out',
      include: ['/etc'],
      verify: true,
      filter: { host: ['h'] },
    });
    expect(toRestoreOptions(undefined, { target: '/t', at: '2026-03-01T12:00' }, '/w')).toMatchObject({
      at: '2026-03-01T12:00',
    });
    usage(() => toRestoreOptions(undefined, { target: '/t' }, '/w'));
    usage(() => toRestoreOptions('latest', { target: '/t', at: '2026-01-01' }, '/w'));
    usage(() => toRestoreOptions(undefined, { target: '/t', at: 'yesterday-ish' }, '/w'));
    usage(() => toRestoreOptions('latest', {}, '/w'));
  });

  it('forget', () => {
    expect(toForgetOptions([], { keepLast: '2', groupBy: 'host', dryRun: true, prune: true, tag: ['x'] }, '/w')).toEqual({
      policy: { keepLast: 2 },
      groupBy: { host: true, paths: false, tags: false },
      filter: { tags: ['x'] },
      dryRun: true,
      prune: true,
    });
    expect(toForgetOptions(['abcd'], {}, '/w')).toMatchObject({ ids: ['abcd'] });
    usage(() => toForgetOptions([], {}, '/w'));
    usage(() => toForgetOptions([], { keepLast: 'lots' }, '/w'));
  });

  it('check, prune, find, filters', () => {
    expect(toCheckOptions({})).toEqual({});
    expect(toCheckOptions({ readData: true })).toEqual({ readData: true });
    expect(toCheckOptions({ readDataSubset: '1/5' })).toEqual({ readData: true, readDataSubset: '1/5' });
    usage(() => toCheckOptions({ readDataSubset: '200%' }));
    expect(toPruneOptions({ dryRun: true, gcDelay: '2h' })).toEqual({ dryRun: true, gcDelayMs: 7_200_000 });
    usage(() => toPruneOptions({ gcDelay: 'soon' }));
    expect(toFindOptions(['*.txt'], { snapshot: ['ab'], path: ['data'] }, '/w')).toEqual({
      patterns: ['*.txt'],
      snapshots: ['ab'],
      filter: { paths: ['/w/data'] },
    });
    expect(parseSnapshotFilter({}, '/w')).toBeUndefined();
  });

  it('cat refs', () => {
    expect(checkCatRef('config', undefined)).toBe('');
    expect(checkCatRef('file', 'latest:/etc/hosts')).toBe('latest:/etc/hosts');
    usage(() => checkCatRef('config', 'abc'));
    usage(() => checkCatRef('snapshot', undefined));
    usage(() => checkCatRef('file', '/etc/hosts'));
  });

  it('CAIRN_KDF_N (tests only)', () => {
    expect(kdfFromEnv({})).toBeUndefined();
    expect(kdfFromEnv({ CAIRN_KDF_N: '1024' })).toEqual({ N: 1024, r: 8, p: 1 });
    expect(() => kdfFromEnv({ CAIRN_KDF_N: '1000' })).toThrow(/power of two/);
  });
});

describe('parseMaxUnused (prune --max-unused)', () => {
  it('takes a percentage, 0 or unlimited', () => {
    expect(parseMaxUnused('30%')).toBe(0.3);
    expect(parseMaxUnused('0')).toBe(0);
    expect(parseMaxUnused('0%')).toBe(0);
    expect(parseMaxUnused('2.5%')).toBe(0.025);
    expect(parseMaxUnused('unlimited')).toBe(1);
  });
  it.each(['', '5', '101%', '-1%', 'half', '5 %%'])('rejects %j', (v) => {
    usage(() => parseMaxUnused(v));
  });
});

describe('parseSize', () => {
  it('reads binary units', () => {
    expect(parseSize('512', 'x')).toBe(512);
    expect(parseSize('1K', 'x')).toBe(1024);
    expect(parseSize('2MiB', 'x')).toBe(2 * 1024 ** 2);
    expect(parseSize('3g', 'x')).toBe(3 * 1024 ** 3);
  });
  it.each(['', 'big', '1.5M', '-1', '99999999999T'])('rejects %j', (v) => {
    usage(() => parseSize(v, '--exclude-larger-than'));
  });
});
