import { describe, expect, it } from 'vitest';
import { WorkSet } from '../../src/util/work-set.js';
import { abortableSleep, settledSignal } from '../../src/util/abortable-sleep.js';

/** A promise that counts how often something attaches to it. */
function watched<T>(): { p: Promise<T>; resolve: (v: T) => void; thens: () => number } {
  let n = 0;
  let resolve!: (v: T) => void;
  const p = new Promise<T>((r) => (resolve = r));
  const orig = p.then.bind(p);
  (p as { then: unknown }).then = (...args: Parameters<typeof orig>) => {
    n++;
    return orig(...args);
  };
  return { p, resolve, thens: () => n };
}

describe('WorkSet', () => {
  it('waits for room, wakes as tasks settle, and drains without rejecting', async () => {
    const w = new WorkSet();
    const gates: (() => void)[] = [];
    const task = () => new Promise<void>((resolve) => gates.push(resolve));
    w.add(task());
    w.add(task());
    w.add(Promise.reject(new Error('handled by the caller')).catch(() => undefined));
    let roomed = false;
    const waiting = w.room(2).then(() => (roomed = true));
    await new Promise((r) => setImmediate(r));
    expect(w.size).toBe(2); // the rejected one settled
    expect(roomed).toBe(false);
    gates.shift()!();
    await waiting;
    expect(w.size).toBe(1);
    w.add(Promise.reject(new Error('x')).then(() => undefined, () => undefined));
    gates.shift()!();
    await w.drained();
    expect(w.size).toBe(0);
  });

  it('wakes every waiter when a task settles: one that goes on without adding work does not strand the others', async () => {
    const w = new WorkSet();
    let release!: () => void;
    w.add(new Promise<void>((r) => (release = r)));
    const done: string[] = [];
    // Both wait for room with max 1; neither adds a task afterwards.
    const a = w.room(1).then(() => done.push('a'));
    const b = w.room(1).then(() => done.push('b'));
    release();
    await Promise.race([Promise.all([a, b]), new Promise((r) => setTimeout(r, 1000))]);
    expect(done.sort()).toEqual(['a', 'b']);
  });

  it('attaches to a long task once, however many waits pass while it runs', async () => {
    const w = new WorkSet();
    const long = watched<void>();
    w.add(long.p);
    for (let i = 0; i < 1000; i++) {
      await w.room(2);
      w.add(new Promise<void>((r) => setImmediate(r)));
    }
    expect(long.thens()).toBe(1);
    long.resolve();
    await w.drained();
  });
});

describe('abortableSleep and settledSignal', () => {
  it('a sleep ends at its time, at any signal, or at once when one already fired', async () => {
    const t0 = Date.now();
    await abortableSleep(30);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    const a = new AbortController();
    const b = new AbortController();
    const s = abortableSleep(60_000, a.signal, b.signal);
    b.abort();
    await s;
    await abortableSleep(60_000, b.signal);
  });

  it('settledSignal attaches once to the promise it watches', async () => {
    const exited = watched<void>();
    const done = settledSignal(exited.p);
    for (let i = 0; i < 200; i++) await abortableSleep(0, done);
    expect(exited.thens()).toBe(1);
    expect(done.aborted).toBe(false);
    exited.resolve();
    await new Promise((r) => setImmediate(r));
    expect(done.aborted).toBe(true);
  });
});
