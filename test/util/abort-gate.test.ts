import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { AbortGate } from '../../src/util/abort-gate.js';

const reason = () => new Error('cancelled');

describe('AbortGate', () => {
  it('passes results and failures through while the signal is quiet', async () => {
    const c = new AbortController();
    const gate = new AbortGate(c.signal, reason);
    await expect(gate.wrap(Promise.resolve(7))).resolves.toBe(7);
    await expect(gate.wrap(Promise.reject(new Error('own failure')))).rejects.toThrow('own failure');
    gate.close();
  });

  it('rejects every pending wait at once when the signal aborts, and later ones immediately', async () => {
    const c = new AbortController();
    const gate = new AbortGate(c.signal, reason);
    const never = new Promise<number>(() => undefined);
    const waits = [gate.wrap(never), gate.wrap(never)];
    c.abort();
    for (const w of waits) await expect(w).rejects.toThrow('cancelled');
    await expect(gate.wrap(Promise.resolve(1))).rejects.toThrow('cancelled');
    gate.close();
  });

  it('keeps nothing per settled wait: one listener on the signal, removed by close()', async () => {
    // The race it replaces left one reaction per call on a promise that lived as long as
    // the signal: ~125k of them, holding each file's result, in a backup of 200k files.
    const c = new AbortController();
    const gate = new AbortGate(c.signal, reason);
    for (let i = 0; i < 1000; i++) await gate.wrap(new Promise((r) => setImmediate(r)));
    expect(getEventListeners(c.signal, 'abort').length).toBe(1);
    expect(gate.waiting).toBe(0);
    gate.close();
    expect(getEventListeners(c.signal, 'abort').length).toBe(0);
  });

  it('without a signal returns the promise itself', () => {
    const gate = new AbortGate(undefined, reason);
    const p = Promise.resolve(1);
    expect(gate.wrap(p)).toBe(p);
    gate.close();
  });
});
