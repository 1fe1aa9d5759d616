import { describe, expect, it } from 'vitest';
import { MemBackend } from '../../src/backend/mem-backend.js';
import { isNotFound } from '../../src/backend/types.js';
import { withFaults } from '../../src/backend/with-faults.js';
import { isCairnError } from '../../src/core/errors/index.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function seeded() {
  const mem = new MemBackend();
  await mem.save('config', bytes('config'));
  await mem.save('data/ab/p1', bytes('0123456789'));
  await mem.save('data/cd/p2', bytes('abcdef'));
  return mem;
}

describe('withFaults', () => {
  it('passes calls through and records them', async () => {
    const b = withFaults(await seeded(), []);
    await b.save('index/i1', bytes('x'));
    expect(text(await b.load('config'))).toBe('config');
    expect((await b.stat('data/ab/p1')).size).toBe(10);
    await b.remove('index/i1');
    const listed = [];
    for await (const f of b.list('data/')) listed.push(f.name);
    expect(listed.sort()).toEqual(['data/ab/p1', 'data/cd/p2']);
    expect(b.calls).toEqual([
      { op: 'save', name: 'index/i1' },
      { op: 'load', name: 'config' },
      { op: 'stat', name: 'data/ab/p1' },
      { op: 'remove', name: 'index/i1' },
      { op: 'list', name: 'data/' },
    ]);
  });

  it('error throws BACKEND_UNAVAILABLE for matching names only, `times` times', async () => {
    const b = withFaults(await seeded(), [{ op: 'load', match: /^data\//, times: 2, fault: 'error' }]);
    expect(text(await b.load('config'))).toBe('config');
    for (let i = 0; i < 2; i++) {
      const err = await b.load('data/ab/p1').catch((e: unknown) => e);
      expect(isCairnError(err, 'BACKEND_UNAVAILABLE')).toBe(true);
    }
    expect(text(await b.load('data/ab/p1'))).toBe('0123456789');
  });

  it('after skips the first n matching calls; a function can match', async () => {
    const b = withFaults(await seeded(), [{ op: 'stat', match: (n) => n.endsWith('p2'), after: 1, times: 1, fault: 'error' }]);
    await b.stat('data/ab/p1');
    await b.stat('data/cd/p2');
    await expect(b.stat('data/cd/p2')).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    await b.stat('data/cd/p2');
  });

  it('a /g RegExp matches every time despite its lastIndex', async () => {
    const b = withFaults(await seeded(), [{ op: 'load', match: /p1/g, fault: 'error' }]);
    for (let i = 0; i < 3; i++) await expect(b.load('data/ab/p1')).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
  });

  it('enospc throws DISK_FULL with an ENOSPC cause and stores nothing', async () => {
    const mem = await seeded();
    const b = withFaults(mem, [{ op: 'save', fault: 'enospc' }]);
    const err = await b.save('data/ef/p3', bytes('new')).catch((e: unknown) => e);
    expect(isCairnError(err, 'DISK_FULL')).toBe(true);
    expect(((err as Error).cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
    await expect(mem.stat('data/ef/p3')).rejects.toSatisfy(isNotFound);
  });

  it('truncate returns a prefix on load and stores a prefix on save', async () => {
    const mem = await seeded();
    const b = withFaults(mem, [
      { op: 'load', match: /p1/, fault: 'truncate' },
      { op: 'save', fault: 'truncate', times: 1 },
    ]);
    expect(text(await b.load('data/ab/p1'))).toBe('01234');
    expect(text(await b.load('data/ab/p1', { offset: 2, length: 4 }))).toBe('23');
    await b.save('snapshots/s1', bytes('abcdefgh'));
    expect(text(await mem.load('snapshots/s1'))).toBe('abcd');
  });

  it('corrupt flips one byte of loaded or saved data', async () => {
    const mem = await seeded();
    const b = withFaults(mem, [
      { op: 'load', fault: 'corrupt' },
      { op: 'save', fault: 'corrupt' },
    ]);
    const got = await b.load('data/ab/p1');
    const want = Buffer.from('0123456789');
    expect(got.length).toBe(want.length);
    expect([...got].filter((v, i) => v !== want[i]).length).toBe(1);
    expect(text(await mem.load('data/ab/p1'))).toBe('0123456789');
    await b.save('data/ef/x', bytes('xyz'));
    expect(text(await mem.load('data/ef/x'))).not.toBe('xyz');
  });

  it('stall hangs until release(), then proceeds', async () => {
    const b = withFaults(await seeded(), [{ op: 'load', match: /config/, fault: 'stall', times: 1 }]);
    let done = false;
    const p = b.load('config').then((v) => {
      done = true;
      return v;
    });
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    expect(text(await b.load('data/ab/p1'))).toBe('0123456789');
    b.release();
    expect(text(await p)).toBe('config');
    expect(text(await b.load('config'))).toBe('config');
  });

  it('faults list() calls, recording them when called rather than when iterated', async () => {
    const b = withFaults(await seeded(), [{ op: 'list', fault: 'error', times: 1 }]);
    const it1 = b.list('data/');
    expect(b.calls).toEqual([{ op: 'list', name: 'data/' }]);
    await expect(async () => {
      for await (const _ of it1) void _;
    }).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    const names = [];
    for await (const f of b.list('')) names.push(f.name);
    expect(names.length).toBe(3);
  });

  it('rejects data faults on ops without data', async () => {
    expect(() => withFaults(new MemBackend(), [{ op: 'stat', fault: 'corrupt' }])).toThrow(TypeError);
    expect(() => withFaults(new MemBackend(), [{ op: 'list', fault: 'truncate' }])).toThrow(TypeError);
  });
});
