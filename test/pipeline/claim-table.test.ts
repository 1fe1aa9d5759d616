import { describe, it, expect } from 'vitest';
import { Worker } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';
import { ClaimTable } from '../../src/pipeline/claim-table.js';

const ids = (n: number) => Array.from({ length: n }, () => randomBytes(32).toString('hex'));

describe('ClaimTable', () => {
  it('grants the first claim of an id and refuses later ones', () => {
    const t = ClaimTable.create(1024);
    const [a, b] = ids(2);
    expect(t.has(a!)).toBe(false);
    expect(t.claim(a!)).toBe(true);
    expect(t.claim(a!)).toBe(false);
    expect(t.has(a!)).toBe(true);
    expect(t.claim(b!)).toBe(true);
  });

  it('ids that collide on their slot are told apart by their full bytes', () => {
    const t = ClaimTable.create(16);
    // Same first 4 bytes, different rest: same home slot.
    const a = 'ab'.repeat(4) + '00'.repeat(28);
    const b = 'ab'.repeat(4) + '11'.repeat(28);
    expect(t.claim(a)).toBe(true);
    expect(t.claim(b)).toBe(true);
    expect(t.claim(a)).toBe(false);
    expect(t.claim(b)).toBe(false);
  });

  it('when full it grants claims (a duplicate costs space, a refusal would lose data)', () => {
    const t = ClaimTable.create(16);
    const all = ids(40);
    for (const id of all) expect(t.claim(id)).toBe(true);
  });

  it('across threads, each id is granted exactly once', async () => {
    const t = ClaimTable.create(1 << 16);
    const list = ids(20000);
    const src = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { ids } = workerData;
      import(${JSON.stringify(new URL('../../dist/pipeline/claim-table.js', import.meta.url).href)}).then(({ ClaimTable }) => {
        const t = new ClaimTable(workerData.sab);
        let granted = [];
        for (const id of ids) if (t.claim(id)) granted.push(id);
        parentPort.postMessage(granted);
      });`;
    const run = () =>
      new Promise<string[]>((resolve, reject) => {
        const w = new Worker(src, { eval: true, workerData: { sab: t.buffer, ids: list } });
        w.once('message', resolve);
        w.once('error', reject);
      });
    const results = await Promise.all([run(), run(), run()]);
    const granted = results.flat();
    expect(granted.length).toBe(list.length);
    expect(new Set(granted).size).toBe(list.length);
  });
});
