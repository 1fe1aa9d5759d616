import { describe, expect, it } from 'vitest';
import { MemBackend } from '../../src/backend/mem-backend.js';
import { BackendNotFoundError, type Backend, type FileInfo } from '../../src/backend/types.js';
import { withFaults } from '../../src/backend/with-faults.js';
import { withRetry, type RetryInfo, type RetryOptions } from '../../src/backend/with-retry.js';
import { CairnError, fromSystemError } from '../../src/core/errors/index.js';

const bytes = (s: string) => new TextEncoder().encode(s);

function fakeTime(extra: RetryOptions = {}) {
  const slept: number[] = [];
  const retries: RetryInfo[] = [];
  const opts: RetryOptions = {
    sleep: async (ms) => {
      slept.push(ms);
    },
    random: () => 0.5,
    onRetry: (info) => retries.push(info),
    ...extra,
  };
  return { slept, retries, opts };
}

describe('withRetry', () => {
  it('retries transient failures with exponential backoff and full jitter', async () => {
    const mem = new MemBackend();
    await mem.save('config', bytes('c'));
    const faulty = withFaults(mem, [{ op: 'load', times: 3, fault: 'error' }]);
    const { slept, retries, opts } = fakeTime({ baseDelayMs: 100, maxDelayMs: 250 });
    const b = withRetry(faulty, opts);
    expect(new TextDecoder().decode(await b.load('config'))).toBe('c');
    // random 0.5 of windows 100, 200, min(400, 250)
    expect(slept).toEqual([50, 100, 125]);
    expect(retries.map((r) => [r.op, r.name, r.attempt])).toEqual([
      ['load', 'config', 1],
      ['load', 'config', 2],
      ['load', 'config', 3],
    ]);
    expect(faulty.calls.length).toBe(4);
  });

  it('uses the whole jitter window from 0 up to the cap', async () => {
    let r = 0;
    const randoms = [0, 0.999];
    const faulty = withFaults(new MemBackend(), [{ op: 'stat', times: 2, fault: 'error' }]);
    const { slept, opts } = fakeTime({ baseDelayMs: 1000, random: () => randoms[r++]! });
    await expect(withRetry(faulty, opts).stat('x')).rejects.toBeInstanceOf(BackendNotFoundError);
    expect(slept).toEqual([0, 1998]);
  });

  it('gives up after `attempts` tries and throws the last error unchanged', async () => {
    const faulty = withFaults(new MemBackend(), [{ op: 'save', fault: 'error' }]);
    const { slept, opts } = fakeTime({ attempts: 3 });
    const err = await withRetry(faulty, opts).save('config', bytes('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe('BACKEND_UNAVAILABLE');
    expect(faulty.calls.length).toBe(3);
    expect(slept.length).toBe(2);
  });

  it('never retries not-found, DISK_FULL or PERMISSION_DENIED', async () => {
    const { slept, opts } = fakeTime();
    const mem = new MemBackend();
    await expect(withRetry(mem, opts).load('missing')).rejects.toBeInstanceOf(BackendNotFoundError);
    const full = withFaults(mem, [{ op: 'save', fault: 'enospc' }]);
    await expect(withRetry(full, opts).save('a', bytes('x'))).rejects.toMatchObject({ code: 'DISK_FULL' });
    expect(full.calls.length).toBe(1);
    const denied = failing(() => fromSystemError(Object.assign(new Error('EACCES'), { code: 'EACCES' }), 'x'));
    await expect(withRetry(denied.backend, opts).stat('a')).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(denied.count()).toBe(1);
    expect(slept).toEqual([]);
  });

  it('retries IO_ERROR only with a transient cause, and raw ECONNRESET-like errors', async () => {
    const { opts } = fakeTime({ attempts: 2 });
    const transient = failing(() => new CairnError('IO_ERROR', 'read failed', { cause: Object.assign(new Error('x'), { code: 'ETIMEDOUT' }) }));
    await expect(withRetry(transient.backend, opts).load('a')).rejects.toMatchObject({ code: 'IO_ERROR' });
    expect(transient.count()).toBe(2);
    const disk = failing(() => fromSystemError(Object.assign(new Error('EIO'), { code: 'EIO' }), 'x'));
    await expect(withRetry(disk.backend, opts).load('a')).rejects.toMatchObject({ code: 'IO_ERROR' });
    expect(disk.count()).toBe(1);
    const reset = failing(() => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    await expect(withRetry(reset.backend, opts).load('a')).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(reset.count()).toBe(2);
    const bug = failing(() => new TypeError('x is undefined'));
    await expect(withRetry(bug.backend, opts).load('a')).rejects.toBeInstanceOf(TypeError);
    expect(bug.count()).toBe(1);
  });

  it('retries list() until the first entry arrives, not after', async () => {
    const mem = new MemBackend();
    await mem.save('data/ab/p1', bytes('1'));
    await mem.save('data/ab/p2', bytes('2'));
    const faulty = withFaults(mem, [{ op: 'list', times: 2, fault: 'error' }]);
    const { slept, opts } = fakeTime();
    const names: string[] = [];
    for await (const f of withRetry(faulty, opts).list('data/')) names.push(f.name);
    expect(names.sort()).toEqual(['data/ab/p1', 'data/ab/p2']);
    expect(slept.length).toBe(2);

    let calls = 0;
    const midway: Backend = {
      ...failing(() => new Error('unused')).backend,
      location: 'midway',
      async *list(): AsyncIterable<FileInfo> {
        calls++;
        yield { name: 'data/ab/p1', size: 1 };
        throw new CairnError('BACKEND_UNAVAILABLE', 'connection dropped');
      },
    };
    const seen: string[] = [];
    await expect(async () => {
      for await (const f of withRetry(midway, opts).list('data/')) seen.push(f.name);
    }).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    expect(seen).toEqual(['data/ab/p1']);
    expect(calls).toBe(1);
  });

  it('closes the inner listing when the caller stops early', async () => {
    let closed = false;
    const inner: Backend = {
      ...failing(() => new Error('unused')).backend,
      location: 'x',
      async *list(): AsyncIterable<FileInfo> {
        try {
          yield { name: 'a', size: 1 };
          yield { name: 'b', size: 1 };
        } finally {
          closed = true;
        }
      },
    };
    for await (const f of withRetry(inner, fakeTime().opts).list('')) {
      expect(f.name).toBe('a');
      break;
    }
    expect(closed).toBe(true);
  });
});

/** A backend whose every call fails with make(); counts the calls. */
function failing(make: () => unknown) {
  let n = 0;
  const fail = async (): Promise<never> => {
    n++;
    throw make();
  };
  const backend: Backend = {
    location: 'failing',
    save: fail,
    load: fail,
    stat: fail,
    remove: fail,
    async *list(): AsyncIterable<FileInfo> {
      await fail();
    },
    close: async () => {},
  };
  return { backend, count: () => n };
}

describe('wrappers pass optional Backend members through', () => {
  // Bug found wiring retry into the engine: withRetry and withFaults dropped the optional
  // cleanup(), so prune (`repo.backend.cleanup?.()`) silently stopped removing temp files.
  it('cleanup() reaches the inner backend through withRetry(withFaults(...)), and stays absent when absent', async () => {
    const seen: number[] = [];
    const inner: Backend = Object.assign(new MemBackend(), {
      cleanup: async (olderThanMs: number) => {
        seen.push(olderThanMs);
        return 3;
      },
    });
    const wrapped = withRetry(withFaults(inner, []));
    expect(await wrapped.cleanup?.(1234)).toBe(3);
    expect(seen).toEqual([1234]);
    expect(withRetry(withFaults(new MemBackend(), [])).cleanup).toBeUndefined();
  });
});
