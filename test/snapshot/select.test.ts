import { describe, expect, it } from 'vitest';
import { latestPerSource } from '../../src/snapshot/select.js';
import { fakeSnapshot } from '../cli/helpers/fake-engine.js';

describe('latestPerSource (snapshots --latest N)', () => {
  const snap = (n: number, host: string, source: string, type = 'files') => fakeSnapshot(n, { host, source: { type, name: source } });

  it('keeps the newest n of each host and source, in the list order', () => {
    const list = [
      snap(1, 'a', '/srv'),
      snap(2, 'b', '/srv'),
      snap(3, 'a', '/srv'),
      snap(4, 'a', 'db1', 'postgres'),
      snap(5, 'a', '/srv'),
      snap(6, 'a', 'db1', 'postgres'),
    ];
    expect(latestPerSource(list, 1).map((s) => s.shortId[0])).toEqual(['2', '5', '6']);
    expect(latestPerSource(list, 2).map((s) => s.shortId[0])).toEqual(['2', '3', '4', '5', '6']);
    expect(latestPerSource(list, 10)).toEqual(list);
    expect(latestPerSource([], 1)).toEqual([]);
  });

  it('orders by time, not by the position in the list', () => {
    const list = [snap(3, 'a', '/srv'), snap(1, 'a', '/srv')];
    expect(latestPerSource(list, 1).map((s) => s.shortId[0])).toEqual(['3']);
  });
});
