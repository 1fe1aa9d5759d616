import { describe, expect, it } from 'vitest';
import { applyPolicy, type KeepPolicy, type PolicySnapshot, validateKeepPolicy } from '../../src/snapshot/forget-policy.js';
import { isCairnError } from '../../src/core/errors/index.js';

const NOW = new Date('2030-01-01T00:00:00Z');

function snap(time: string, tags: string[] = [], id = time): PolicySnapshot {
  return { id, time: new Date(time.endsWith('Z') ? time : `${time}Z`), host: 'h', paths: ['/data'], tags };
}

/** Kept snapshot times (ISO, without the ms) with reasons, and removed times. */
function run(snaps: PolicySnapshot[], policy: KeepPolicy, now = NOW) {
  const r = applyPolicy(snaps, policy, now);
  const t = (s: PolicySnapshot) => s.time.toISOString().replace('.000Z', 'Z');
  return {
    keep: Object.fromEntries(r.keep.map((k) => [t(k.snapshot), k.reasons])),
    kept: r.keep.map((k) => t(k.snapshot)),
    removed: r.remove.map(t),
  };
}

function usageError(fn: () => unknown): boolean {
  try {
    fn();
  } catch (e) {
    return isCairnError(e, 'USAGE');
  }
  return false;
}

/** n snapshots a day at the given hours, for `days` days from `start` (UTC). */
function daily(start: string, days: number, hours: number[]): PolicySnapshot[] {
  const out: PolicySnapshot[] = [];
  const t0 = new Date(`${start}T00:00:00Z`).getTime();
  for (let d = 0; d < days; d++) for (const h of hours) out.push(snap(new Date(t0 + d * 86_400_000 + h * 3_600_000).toISOString()));
  return out;
}

describe('applyPolicy: safety and validation', () => {
  it.each([
    ['empty', {}],
    ['only zero counts', { last: 0, daily: 0 }],
    ['zero within', { within: '0d' }],
    ['no tag lists', { tags: [] }],
  ])('refuses a policy with no keep rule (%s)', (_n, policy) => {
    expect(usageError(() => applyPolicy([snap('2026-01-01T00:00:00')], policy as KeepPolicy, NOW))).toBe(true);
    expect(usageError(() => applyPolicy([], policy as KeepPolicy, NOW))).toBe(true);
    expect(() => applyPolicy([], policy as KeepPolicy, NOW)).toThrow(/refusing to forget with no keep rule/);
  });

  it.each([
    ['count below -1', { daily: -2 }],
    ['fractional count', { daily: 1.5 }],
    ['NaN count', { last: NaN }],
    ['string count', { last: '3' }],
    ['bad duration', { within: '30 days' }],
    ['empty tag', { tags: [''] }],
    ['only commas', { tags: [',,'] }],
    ['tags not a list', { tags: 'a' }],
    ['misspelt rule', { keepDaily: 7 }],
    ['misspelt rule beside a valid one', { daily: 7, montly: 12 }],
  ])('rejects %s with USAGE', (_n, policy) => {
    expect(usageError(() => validateKeepPolicy(policy as unknown as KeepPolicy))).toBe(true);
    expect(usageError(() => applyPolicy([snap('2026-01-01T00:00:00')], policy as unknown as KeepPolicy, NOW))).toBe(true);
  });

  it('an empty list with a valid policy keeps and removes nothing', () => {
    expect(applyPolicy([], { last: 1 }, NOW)).toEqual({ keep: [], remove: [] });
  });

  it('does not depend on input order; equal times are ordered by id', () => {
    const snaps = [...daily('2026-01-01', 5, [3, 9, 15]), snap('2026-01-05T15:00:00', [], 'b-twin'), snap('2026-01-05T15:00:00', [], 'a-twin')];
    const a = applyPolicy(snaps, { last: 2, daily: 3 }, NOW);
    const b = applyPolicy([...snaps].reverse(), { last: 2, daily: 3 }, NOW);
    expect(b).toEqual(a);
    expect(a.keep.slice(0, 2).map((k) => k.snapshot.id)).toEqual(['2026-01-05T15:00:00.000Z', 'a-twin']);
  });

  it('keeps the snapshots it is given (same objects) and partitions them', () => {
    const snaps = daily('2026-01-01', 4, [1, 2]);
    const r = applyPolicy(snaps, { daily: 2 }, NOW);
    expect(r.keep.length + r.remove.length).toBe(snaps.length);
    for (const s of [...r.keep.map((k) => k.snapshot), ...r.remove]) expect(snaps).toContain(s);
  });
});

describe('applyPolicy: calendar boundaries (UTC)', () => {
  it('year end: Dec 31 23:59 and Jan 1 00:00 are different years, days and hours', () => {
    const snaps = [snap('2025-06-01T00:00:00'), snap('2025-12-31T12:00:00'), snap('2025-12-31T23:59:00'), snap('2026-01-01T00:00:00')];
    expect(run(snaps, { yearly: 2 }).kept).toEqual(['2026-01-01T00:00:00Z', '2025-12-31T23:59:00Z']);
    expect(run(snaps, { daily: 2 }).kept).toEqual(['2026-01-01T00:00:00Z', '2025-12-31T23:59:00Z']);
    expect(run(snaps, { hourly: 2 }).kept).toEqual(['2026-01-01T00:00:00Z', '2025-12-31T23:59:00Z']);
    expect(run(snaps, { monthly: 3 }).kept).toEqual(['2026-01-01T00:00:00Z', '2025-12-31T23:59:00Z', '2025-06-01T00:00:00Z']);
  });

  it('ISO week 53 and week 1 across a year change', () => {
    // 2026-12-28 (Mon) .. 2027-01-03 (Sun) is 2026-W53; 2027-01-04 (Mon) starts 2027-W01.
    const snaps = [
      snap('2026-12-20T10:00:00'),
      snap('2026-12-28T10:00:00'),
      snap('2026-12-31T23:59:00'),
      snap('2027-01-03T23:59:00'),
      snap('2027-01-04T00:00:00'),
    ];
    const r = run(snaps, { weekly: 2 });
    expect(r.kept).toEqual(['2027-01-04T00:00:00Z', '2027-01-03T23:59:00Z']);
    expect(r.removed).toEqual(['2026-12-31T23:59:00Z', '2026-12-28T10:00:00Z', '2026-12-20T10:00:00Z']);
  });

  it('ISO week 1 that starts in the old year', () => {
    // 2025-12-29 (Mon) is 2026-W01, the same week as 2026-01-02; 2025-12-28 (Sun) is 2025-W52.
    const snaps = [snap('2025-12-20T10:00:00'), snap('2025-12-28T23:00:00'), snap('2025-12-29T01:00:00'), snap('2026-01-02T10:00:00')];
    expect(run(snaps, { weekly: 2 }).kept).toEqual(['2026-01-02T10:00:00Z', '2025-12-28T23:00:00Z']);
  });

  it('month ends and the leap day', () => {
    const snaps = [
      snap('2028-01-31T23:59:59'),
      snap('2028-02-01T00:00:00'),
      snap('2028-02-28T12:00:00'),
      snap('2028-02-29T23:00:00'),
      snap('2028-03-01T00:00:00'),
    ];
    expect(run(snaps, { monthly: 3 }).kept).toEqual(['2028-03-01T00:00:00Z', '2028-02-29T23:00:00Z', '2028-01-31T23:59:59Z']);
    expect(run(snaps, { daily: 4 }).kept).toEqual(['2028-03-01T00:00:00Z', '2028-02-29T23:00:00Z', '2028-02-28T12:00:00Z', '2028-02-01T00:00:00Z']);
  });

  it('hourly across midnight', () => {
    const snaps = [snap('2026-05-01T22:30:00'), snap('2026-05-01T23:10:00'), snap('2026-05-01T23:50:00'), snap('2026-05-02T00:05:00'), snap('2026-05-02T00:40:00')];
    const r = run(snaps, { hourly: 2 });
    expect(r.kept).toEqual(['2026-05-02T00:40:00Z', '2026-05-01T23:50:00Z']);
    expect(r.keep['2026-05-02T00:40:00Z']).toEqual(['hourly snapshot']);
  });

  it('buckets are UTC even when the process runs in a European time zone across DST', () => {
    // Europe/Berlin switches to summer time on 2026-03-29 at 01:00 UTC. 23:30 UTC on the
    // 28th is already the 29th in Berlin, so local days would merge these two snapshots.
    const saved = process.env.TZ;
    process.env.TZ = 'Europe/Berlin';
    try {
      const probe = new Date('2026-03-28T23:30:00Z');
      expect(probe.getDate()).toBe(29); // the time zone really is in effect
      const snaps = [snap('2026-03-28T12:00:00'), snap('2026-03-28T23:30:00'), snap('2026-03-29T00:30:00'), snap('2026-03-29T01:30:00')];
      expect(run(snaps, { daily: 2 }).kept).toEqual(['2026-03-29T01:30:00Z', '2026-03-28T23:30:00Z']);
      // Around the switch, UTC hours stay distinct and 24 h apart from the day before.
      expect(run(snaps, { hourly: 3 }).kept).toEqual(['2026-03-29T01:30:00Z', '2026-03-29T00:30:00Z', '2026-03-28T23:30:00Z']);
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});

describe('applyPolicy: rule semantics (restic)', () => {
  it('keep-last 3 + keep-daily 7: overlaps use up both counts', () => {
    const snaps = daily('2026-01-01', 10, [8, 12, 18]); // Jan 1..10, three a day
    const r = run(snaps, { last: 3, daily: 7 });
    // last takes the three of Jan 10; daily takes the newest of Jan 10 (also a "last"),
    // then Jan 9..4: seven days in all, not seven besides the last three.
    expect(r.kept).toEqual([
      '2026-01-10T18:00:00Z',
      '2026-01-10T12:00:00Z',
      '2026-01-10T08:00:00Z',
      '2026-01-09T18:00:00Z',
      '2026-01-08T18:00:00Z',
      '2026-01-07T18:00:00Z',
      '2026-01-06T18:00:00Z',
      '2026-01-05T18:00:00Z',
      '2026-01-04T18:00:00Z',
    ]);
    expect(r.keep['2026-01-10T18:00:00Z']).toEqual(['last snapshot', 'daily snapshot']);
    expect(r.keep['2026-01-10T12:00:00Z']).toEqual(['last snapshot']);
    expect(r.keep['2026-01-04T18:00:00Z']).toEqual(['daily snapshot']);
    expect(r.removed).toHaveLength(21);
    expect(r.removed).toContain('2026-01-01T08:00:00Z'); // counts used up: the oldest is not kept
  });

  it('a rule with count left also keeps the oldest snapshot', () => {
    const snaps = daily('2026-01-01', 3, [8, 18]);
    const r = run(snaps, { daily: 7 });
    expect(r.kept).toEqual(['2026-01-03T18:00:00Z', '2026-01-02T18:00:00Z', '2026-01-01T18:00:00Z', '2026-01-01T08:00:00Z']);
    expect(r.keep['2026-01-01T08:00:00Z']).toEqual(['daily snapshot (oldest)']);
  });

  it('-1 means unlimited', () => {
    const snaps = daily('2026-01-01', 10, [8, 12, 18]);
    const r = run(snaps, { daily: -1 });
    // the newest of each of the 10 days, plus the oldest overall (count never runs out)
    expect(r.kept).toHaveLength(11);
    expect(r.kept.at(-1)).toBe('2026-01-01T08:00:00Z');
    expect(run(snaps, { last: -1 }).removed).toEqual([]);
    expect(run(snaps, { weekly: 1, monthly: -1 }).kept).toEqual(['2026-01-10T18:00:00Z', '2026-01-01T08:00:00Z']);
  });

  it('weekly, monthly and yearly together, restic reasons', () => {
    const snaps = [snap('2024-07-01T00:00:00'), snap('2025-11-15T00:00:00'), snap('2025-12-20T00:00:00'), snap('2026-01-05T00:00:00'), snap('2026-01-06T00:00:00')];
    const r = run(snaps, { weekly: 1, monthly: 2, yearly: 3 });
    expect(r.keep).toEqual({
      '2026-01-06T00:00:00Z': ['weekly snapshot', 'monthly snapshot', 'yearly snapshot'],
      '2025-12-20T00:00:00Z': ['monthly snapshot', 'yearly snapshot'],
      '2024-07-01T00:00:00Z': ['yearly snapshot'],
    });
    expect(r.removed).toEqual(['2026-01-05T00:00:00Z', '2025-11-15T00:00:00Z']);
  });

  it('within counts back from the newest snapshot, not from now', () => {
    const snaps = daily('2026-01-01', 20, [12]); // newest 2026-01-20T12:00
    const r = run(snaps, { within: '7d' }, new Date('2031-01-01T00:00:00Z'));
    // strictly after 2026-01-13T12:00: Jan 14..20
    expect(r.kept).toHaveLength(7);
    expect(r.kept.at(-1)).toBe('2026-01-14T12:00:00Z');
    expect(r.keep['2026-01-20T12:00:00Z']).toEqual(['within 7d']);
    expect(r.removed[0]).toBe('2026-01-13T12:00:00Z');
  });

  it('within a span longer than dates reach keeps everything', () => {
    // 300000y from 2026 lies before the earliest Date; the cut-off was an invalid Date
    // that no snapshot time compared after, and every snapshot was removed.
    const snaps = [snap('2026-01-20T12:00:00'), snap('1970-01-01T00:00:00'), snap('1900-06-01T00:00:00')];
    for (const within of ['300000y', '1000000y1000000m', '1000000w']) {
      const r = run(snaps, { within });
      expect(r.removed).toEqual([]);
      expect(r.kept).toHaveLength(3);
    }
  });

  it('within 1m from Mar 31 clamps to the end of February', () => {
    const snaps = [
      snap('2026-02-28T11:59:59'),
      snap('2026-02-28T12:00:00'), // exactly on the threshold: not within (strictly after)
      snap('2026-02-28T12:00:01'),
      snap('2026-03-01T00:00:00'), // Go's AddDate would put the threshold at Mar 3 and drop this
      snap('2026-03-31T12:00:00'),
    ];
    expect(run(snaps, { within: '1m' }).kept).toEqual(['2026-03-31T12:00:00Z', '2026-03-01T00:00:00Z', '2026-02-28T12:00:01Z']);
    const leap = [snap('2028-02-28T23:00:00'), snap('2028-02-29T12:00:01'), snap('2028-03-31T12:00:00')];
    expect(run(leap, { within: '1m' }).kept).toEqual(['2028-03-31T12:00:00Z', '2028-02-29T12:00:01Z']);
  });

  it('within ignores snapshots dated in the future as the anchor (clock skew)', () => {
    const now = new Date('2026-02-01T00:00:00Z');
    const snaps = [...daily('2026-01-01', 31, [12]), snap('2027-06-01T00:00:00')];
    const r = run(snaps, { within: '2d' }, now);
    // anchor = 2026-01-31T12:00; the future one is newer than the threshold, so kept too
    expect(r.kept).toEqual(['2027-06-01T00:00:00Z', '2026-01-31T12:00:00Z', '2026-01-30T12:00:00Z']);
    // nothing in the past at all: within keeps everything (restic does the same)
    expect(run([snap('2027-06-01T00:00:00'), snap('2027-05-01T00:00:00')], { within: '1d' }, now).removed).toEqual([]);
  });

  it('keep-tag: an entry "a,b" needs all its tags; several entries are alternatives', () => {
    const snaps = [
      snap('2026-01-05T00:00:00', ['a', 'b']),
      snap('2026-01-04T00:00:00', ['a']),
      snap('2026-01-03T00:00:00', ['b', 'c', 'a']),
      snap('2026-01-02T00:00:00', ['c']),
      snap('2026-01-01T00:00:00', []),
    ];
    const both = run(snaps, { tags: ['a,b'] });
    expect(both.kept).toEqual(['2026-01-05T00:00:00Z', '2026-01-03T00:00:00Z']);
    expect(both.keep['2026-01-05T00:00:00Z']).toEqual(['has tags a,b']);
    const either = run(snaps, { tags: ['a', ' c '] });
    expect(either.kept).toEqual(['2026-01-05T00:00:00Z', '2026-01-04T00:00:00Z', '2026-01-03T00:00:00Z', '2026-01-02T00:00:00Z']);
    expect(either.keep['2026-01-03T00:00:00Z']).toEqual(['has tags a', 'has tags c']);
    // tags do not use up counts
    const mixed = run(snaps, { tags: ['c'], last: 1 });
    expect(mixed.keep).toEqual({
      '2026-01-05T00:00:00Z': ['last snapshot'],
      '2026-01-03T00:00:00Z': ['has tags c'],
      '2026-01-02T00:00:00Z': ['has tags c'],
    });
  });

  it('reasons list every matching rule in restic order: tags, within, last, hourly .. yearly', () => {
    const r = run([snap('2026-01-01T00:00:00', ['x'])], { yearly: 1, hourly: 1, last: 1, within: '1d', tags: ['x'] });
    expect(r.keep['2026-01-01T00:00:00Z']).toEqual(['has tags x', 'within 1d', 'last snapshot', 'hourly snapshot', 'yearly snapshot']);
  });
});
