import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CairnError } from '../../core/errors/index.js';
import { BackendNotFoundError, isNotFound, type Backend, type FileInfo } from '../types.js';

export type MakeBackend = () => Promise<{ backend: Backend; cleanup: () => Promise<void> }>;

export interface BackendSuiteOptions {
  /**
   * Set (to the reason) when the store under test is a stand-in that cannot show what
   * the real store guarantees, e.g. s3rver, which writes objects in place while S3
   * makes them visible only when complete. The atomic-visibility test is then skipped.
   */
  notAtomic?: string;
}

/**
 * The Backend contract (see ../types.ts) as tests. Every implementation runs it:
 *
 *   backendSuite('LocalBackend', async () => ({ backend, cleanup }));
 *
 * Each test gets a fresh, empty backend from `make`.
 */
export function backendSuite(name: string, make: MakeBackend, options: BackendSuiteOptions = {}): void {
  describe(`Backend contract: ${name}`, () => {
    let b: Backend;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ backend: b, cleanup } = await make());
    });
    afterEach(async () => {
      await b.close();
      await cleanup();
    });

    it('has a location for messages', () => {
      expect(typeof b.location).toBe('string');
      expect(b.location.length).toBeGreaterThan(0);
    });

    it('saves and loads a file', async () => {
      await b.save('config', bytes('hello'));
      expect(text(await b.load('config'))).toBe('hello');
      expect(await b.stat('config')).toEqual({ name: 'config', size: 5 });
    });

    it('round-trips binary data with every byte value', async () => {
      const data = new Uint8Array(256 * 4);
      for (let i = 0; i < data.length; i++) data[i] = i % 256;
      await b.save('data/00/all-bytes', data);
      const got = await b.load('data/00/all-bytes');
      expect(Buffer.isBuffer(got)).toBe(true);
      expect(got.equals(data)).toBe(true);
    });

    it('stores 0-byte files', async () => {
      await b.save('locks/empty', new Uint8Array(0));
      expect((await b.load('locks/empty')).length).toBe(0);
      expect(await b.stat('locks/empty')).toEqual({ name: 'locks/empty', size: 0 });
      expect(await collect(b, 'locks/')).toEqual([{ name: 'locks/empty', size: 0 }]);
      expect((await b.load('locks/empty', { offset: 0, length: 0 })).length).toBe(0);
    });

    it('stores a 20 MiB file', async () => {
      const data = randomBytes(20 * 1024 * 1024);
      await b.save('data/ff/big', data);
      expect((await b.stat('data/ff/big')).size).toBe(data.length);
      expect(sha256(await b.load('data/ff/big'))).toBe(sha256(data));
      const tail = await b.load('data/ff/big', { offset: data.length - 1000, length: 1000 });
      expect(tail.equals(data.subarray(data.length - 1000))).toBe(true);
    });

    it('copies bytes in and out, so callers cannot change stored data', async () => {
      const data = bytes('immutable');
      await b.save('snapshots/s1', data);
      data[0] = 0x58;
      const first = await b.load('snapshots/s1');
      first[1] = 0x58;
      expect(text(await b.load('snapshots/s1'))).toBe('immutable');
    });

    describe('ranges', () => {
      const content = bytes('0123456789abcdef');
      beforeEach(async () => {
        await b.save('data/ab/pack', content);
      });

      it('loads a byte range', async () => {
        expect(text(await b.load('data/ab/pack', { offset: 3, length: 4 }))).toBe('3456');
        expect(text(await b.load('data/ab/pack', { offset: 0, length: 16 }))).toBe('0123456789abcdef');
      });

      it('loads into a caller\'s buffer when asked: same bytes, and nothing written past them', async () => {
        const into = Buffer.alloc(20, 0xee);
        const got = await b.load('data/ab/pack', { offset: 3, length: 4 }, into);
        expect(text(got)).toBe('3456');
        // A backend may use `into` or ignore it; if it used it, the view starts at its start.
        if (got.buffer === into.buffer) expect(got.byteOffset).toBe(into.byteOffset);
        expect(into.subarray(4).every((x) => x === 0xee)).toBe(true);
        expect(text(await b.load('data/ab/pack', undefined, into))).toBe('0123456789abcdef');
        // Too small a buffer is not an error: the bytes come in a new one.
        expect(text(await b.load('data/ab/pack', undefined, Buffer.alloc(3)))).toBe('0123456789abcdef');
      });

      it('loads a range ending exactly at the end, and an empty range', async () => {
        expect(text(await b.load('data/ab/pack', { offset: 10, length: 6 }))).toBe('abcdef');
        expect((await b.load('data/ab/pack', { offset: 16, length: 0 })).length).toBe(0);
      });

      it('rejects a range past the end as an error, not as not-found', async () => {
        for (const range of [
          { offset: 10, length: 7 },
          { offset: 16, length: 1 },
          { offset: 100, length: 1 },
        ]) {
          const err = await b.load('data/ab/pack', range).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(CairnError);
          expect(isNotFound(err)).toBe(false);
        }
      });

      it('rejects a negative or fractional range', async () => {
        await expect(b.load('data/ab/pack', { offset: -1, length: 2 })).rejects.toBeInstanceOf(CairnError);
        await expect(b.load('data/ab/pack', { offset: 0, length: -2 })).rejects.toBeInstanceOf(CairnError);
        await expect(b.load('data/ab/pack', { offset: 0.5, length: 2 })).rejects.toBeInstanceOf(CairnError);
      });

      it('reports a range of a missing file as not found', async () => {
        await expect(b.load('data/ab/missing', { offset: 0, length: 1 })).rejects.toBeInstanceOf(BackendNotFoundError);
      });
    });

    describe('list', () => {
      const names = ['config', 'keys/k1', 'keys/k2', 'data/ab/p1', 'data/ab/p2', 'data/ac/p3', 'data/b0/p4', 'index/i1', 'snapshots/s1'];
      beforeEach(async () => {
        for (const [i, n] of names.entries()) await b.save(n, new Uint8Array(i + 1).fill(i));
      });

      it('lists everything with sizes for the empty prefix', async () => {
        expect(await collect(b, '')).toEqual(names.map((n, i) => ({ name: n, size: i + 1 })).sort(byName));
      });

      it('lists nested names under a folder prefix', async () => {
        expect(await listNames(b, 'data/')).toEqual(['data/ab/p1', 'data/ab/p2', 'data/ac/p3', 'data/b0/p4']);
        expect(await listNames(b, 'keys/')).toEqual(['keys/k1', 'keys/k2']);
      });

      it('filters by a prefix that ends mid-segment', async () => {
        expect(await listNames(b, 'data/a')).toEqual(['data/ab/p1', 'data/ab/p2', 'data/ac/p3']);
        expect(await listNames(b, 'data/ab')).toEqual(['data/ab/p1', 'data/ab/p2']);
        expect(await listNames(b, 'data/ab/p')).toEqual(['data/ab/p1', 'data/ab/p2']);
        expect(await listNames(b, 'data/ab/p2')).toEqual(['data/ab/p2']);
        expect(await listNames(b, 'snap')).toEqual(['snapshots/s1']);
        expect(await listNames(b, 'conf')).toEqual(['config']);
      });

      it('lists nothing for a prefix nothing starts with', async () => {
        expect(await listNames(b, 'locks/')).toEqual([]);
        expect(await listNames(b, 'data/zz/')).toEqual([]);
        expect(await listNames(b, 'config/')).toEqual([]);
      });

      it('lists a tree of many names', async () => {
        const many = Array.from({ length: 300 }, (_, i) => `data/${(i % 16).toString(16).padStart(2, '0')}/${i}`);
        await Promise.all(many.map((n) => b.save(n, bytes(n))));
        const listed = await collect(b, 'data/');
        expect(listed.length).toBe(many.length + 4);
        for (const n of many) expect(listed).toContainEqual({ name: n, size: n.length });
      });
    });

    it('treats folders as not stored files', async () => {
      await b.save('data/ab/p1', bytes('x'));
      await expect(b.stat('data')).rejects.toBeInstanceOf(BackendNotFoundError);
      await expect(b.stat('data/ab')).rejects.toBeInstanceOf(BackendNotFoundError);
      await expect(b.load('data/ab')).rejects.toBeInstanceOf(BackendNotFoundError);
    });

    it('reports missing names as BackendNotFoundError from load and stat', async () => {
      // Handlers attached at once: a networked backend rejects the later ones while the first is awaited.
      const settled = [b.load('config'), b.stat('config'), b.load('data/00/nothing'), b.stat('keys/none')].map((p) => p.catch((e: unknown) => e));
      for (const p of settled) {
        const err = await p;
        expect(isNotFound(err)).toBe(true);
        expect((err as BackendNotFoundError).fileName).toMatch(/config|nothing|none/);
      }
    });

    it('removes files, and removing a missing name is not an error', async () => {
      await b.save('locks/l1', bytes('lock'));
      await b.remove('locks/l1');
      await expect(b.load('locks/l1')).rejects.toBeInstanceOf(BackendNotFoundError);
      await expect(b.stat('locks/l1')).rejects.toBeInstanceOf(BackendNotFoundError);
      expect(await listNames(b, '')).toEqual([]);
      await b.remove('locks/l1');
      await b.remove('data/ab/never-existed');
    });

    it('replaces content when saving with overwrite (config, key slots, locks)', async () => {
      await b.save('config', bytes('version one, long'));
      await b.save('config', bytes('v2'), { overwrite: true });
      expect(text(await b.load('config'))).toBe('v2');
      expect((await b.stat('config')).size).toBe(2);
      await b.save('keys/k1', bytes('slot-a'), { overwrite: true });
      await b.save('keys/k1', bytes('slot-b'), { overwrite: true });
      expect(text(await b.load('keys/k1'))).toBe('slot-b');
      expect(await listNames(b, '')).toEqual(['config', 'keys/k1']);
    });

    it('accepts saving the same bytes under the same name again', async () => {
      await b.save('data/cd/p', bytes('same'));
      await b.save('data/cd/p', bytes('same'));
      await Promise.all(Array.from({ length: 8 }, () => b.save('data/cd/p', bytes('same'))));
      expect(text(await b.load('data/cd/p'))).toBe('same');
      expect(await listNames(b, '')).toEqual(['data/cd/p']);
    });

    it('saves many different names concurrently', async () => {
      const files = Array.from({ length: 64 }, (_, i) => {
        const data = randomBytes(1000 + i * 37);
        return { name: `data/${sha256(data).slice(0, 2)}/${sha256(data)}`, data };
      });
      await Promise.all(files.map((f) => b.save(f.name, f.data)));
      const listed = await collect(b, 'data/');
      expect(listed).toEqual(files.map((f) => ({ name: f.name, size: f.data.length })).sort(byName));
      for (const f of files) expect((await b.load(f.name)).equals(f.data)).toBe(true);
    });

    it.skipIf(options.notAtomic !== undefined)('never lists an in-flight save as a partial file', async () => {
      const files = Array.from({ length: 6 }, (_, i) => ({ name: `data/ee/big${i}`, data: randomBytes(4 * 1024 * 1024) }));
      const sizes = new Map(files.map((f) => [f.name, f.data.length]));
      let finished = false;
      const saving = Promise.all(files.map((f) => b.save(f.name, f.data))).finally(() => {
        finished = true;
      });
      let rounds = 0;
      while (!finished || rounds === 0) {
        for (const info of await collect(b, '')) {
          expect(sizes.get(info.name), `unexpected name ${info.name}`).toBe(info.size);
        }
        rounds++;
        await new Promise((r) => setImmediate(r));
      }
      await saving;
      expect(await listNames(b, '')).toEqual([...sizes.keys()].sort());
    });

    it('rejects names that are not relative slash-separated paths', async () => {
      for (const bad of ['', '/abs', '../escape', 'data/../../escape', 'a//b', 'data/ab/', './x']) {
        await expect(b.save(bad, bytes('x')), `save ${JSON.stringify(bad)}`).rejects.toThrow();
        await expect(b.load(bad), `load ${JSON.stringify(bad)}`).rejects.toThrow();
      }
    });

    it('closes idempotently', async () => {
      await b.close();
      await b.close();
    });
  });
}

async function collect(b: Backend, prefix: string): Promise<FileInfo[]> {
  const out: FileInfo[] = [];
  for await (const info of b.list(prefix)) out.push(info);
  return out.sort(byName);
}

async function listNames(b: Backend, prefix: string): Promise<string[]> {
  return (await collect(b, prefix)).map((f) => f.name);
}

function byName(a: FileInfo, b: FileInfo): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
