import { promises as fsp, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/core/errors/index.js';
import { compileExcludes } from '../../src/fs/exclude-matcher.js';
import { walk, walkEvents, type WalkDirEvent, type WalkEntry, type WalkOptions } from '../../src/fs/walker.js';
import { ScanDirLister } from '../../src/fs/dir-lister.js';
import { makeTortureTree, manifest, type Manifest } from '../helpers/manifest.js';

const base = mkdtempSync(join(tmpdir(), 'cairn-walk-'));
const root = join(base, 'tree');
const rootBytes = Buffer.from(root);
let expected: Manifest;
let events: WalkEntry[];

async function collect(start: Buffer, opts?: WalkOptions): Promise<WalkEntry[]> {
  const out: WalkEntry[] = [];
  for await (const ev of walk(start, opts)) out.push(ev);
  return out;
}

const rel = (path: Buffer): string => (path.length === rootBytes.length ? '' : path.subarray(rootBytes.length + 1).toString('hex'));

beforeAll(async () => {
  await makeTortureTree(root);
  expected = await manifest(root);
  events = await collect(rootBytes);
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('walk on the torture tree', () => {
  it('visits every entry exactly once (enter or entry), as the python manifest lists them', () => {
    const seen = events.filter((e) => e.kind !== 'leave').map((e) => rel(e.path));
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort()).toEqual(expected.entries.map((e) => e.path).sort());
    const types = new Map(expected.entries.map((e) => [e.path, e.type]));
    for (const ev of events) {
      if (ev.kind === 'enter') expect(types.get(rel(ev.path))).toBe('dir');
      if (ev.kind === 'entry') expect(types.get(rel(ev.path))).not.toBe('dir');
    }
  });

  it('balances enter/leave, nests correctly and reports depth and name', () => {
    const stack: Buffer[] = [];
    for (const ev of events) {
      if (ev.kind === 'enter') {
        if (stack.length > 0) expect(isChild(stack.at(-1)!, ev.path)).toBe(true);
        expect(ev.depth).toBe(stack.length);
        stack.push(ev.path);
      } else if (ev.kind === 'leave') {
        expect(stack.pop()!.equals(ev.path)).toBe(true);
        expect(ev.depth).toBe(stack.length);
        expect(ev.meta.type).toBe('dir');
      } else {
        expect(isChild(stack.at(-1)!, ev.path)).toBe(true);
        expect(ev.depth).toBe(stack.length);
      }
      const cut = ev.path.lastIndexOf(0x2f);
      expect(ev.name.equals(ev.path.subarray(cut + 1))).toBe(true);
    }
    expect(stack).toEqual([]);
    expect(events[0]).toMatchObject({ kind: 'enter', depth: 0 });
    expect(events.at(-1)).toMatchObject({ kind: 'leave', depth: 0 });
    expect(events[0]!.name.toString()).toBe('tree');
  });

  it('orders the children of each directory by raw name bytes', () => {
    const children = new Map<string, Buffer[]>();
    for (const ev of events) {
      if (ev.kind === 'leave' || ev.depth === 0) continue;
      const parent = ev.path.subarray(0, ev.path.lastIndexOf(0x2f)).toString('hex');
      children.set(parent, [...(children.get(parent) ?? []), ev.name]);
    }
    for (const names of children.values()) {
      expect(names).toEqual([...names].sort(Buffer.compare));
    }
    // Byte order, not JS string order: "E" (0x45) < "e" (0x65) < "é" (0xc3 0xa9) < 0xff.
    const names = children.get(Buffer.from(join(root, 'names')).toString('hex'))!.map((n) => n.toString('hex'));
    expect(names.indexOf(Buffer.from('e\u0301').toString('hex'))).toBeLessThan(names.indexOf(Buffer.from('\u00e9').toString('hex')));
    expect(names.at(-1)).toBe('ff646972'); // the non-UTF-8 directory sorts last
  });

  it('passes the non-UTF-8 and 255-byte names through as raw bytes', () => {
    const all = events.map((e) => e.name.toString('hex'));
    expect(all).toContain('66fffe');
    expect(events.some((e) => e.name.length === 255)).toBe(true);
  });

  it.runIf(ScanDirLister.available())('gives the same walk with the native scan as with readdir and lstat', async () => {
    const scanned = await collect(rootBytes);
    const listed = await collect(rootBytes, { readdir: async (path) => fsp.readdir(path, { encoding: 'buffer' }) });
    expect(scanned.map((e) => [e.kind, e.path.toString('hex')])).toEqual(listed.map((e) => [e.kind, e.path.toString('hex')]));
    // Only the native scan has the raw listing (the directory memo's key).
    expect(scanned.filter((e) => e.kind === 'enter').every((e) => Array.isArray((e as WalkDirEvent).rawListing?.()))).toBe(true);
    expect(scanned.map(({ rawListing: _, ...e }: WalkEntry & { rawListing?: () => Buffer[] }) => e)).toEqual(listed);
  });

  it('never follows symlinks, to directories included', () => {
    const link = events.find((e) => e.name.toString() === 'link-to-dir')!;
    expect(link).toMatchObject({ kind: 'entry' });
    expect(link.meta.type).toBe('symlink');
  });
});

describe('walk options', () => {
  it('prunes excluded directories and skips excluded files', async () => {
    const exclude = compileExcludes([root + '/dir/a', '*.txt', 'names/']);
    const asked: string[] = [];
    const evs = await collect(rootBytes, {
      exclude: (path, isDir) => {
        asked.push(rel(path));
        return exclude(path, isDir);
      },
    });
    const seen = evs.map((e) => Buffer.from(rel(e.path), 'hex').toString());
    expect(seen).toContain('dir');
    expect(seen).not.toContain('dir/a');
    expect(seen.some((s) => s.startsWith('dir/a/'))).toBe(false);
    expect(seen.some((s) => s.startsWith('names'))).toBe(false);
    expect(seen.some((s) => s.endsWith('.txt'))).toBe(false);
    expect(seen).toContain('sparse.bin');
    expect(asked).not.toContain(''); // never asked about the root
    expect(asked.map((h) => Buffer.from(h, 'hex').toString())).not.toContain('dir/a/b'); // pruned, not filtered
  });

  it('records an unreadable directory with error set, empty, and reports it once', async () => {
    const errors: Array<[string, unknown]> = [];
    const boom = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const evs = await collect(rootBytes, {
      onError: (path, err) => errors.push([rel(path), err]),
      readdir: async (path) => {
        if (path.toString().endsWith('/dir/a')) throw boom;
        return fsp.readdir(path, { encoding: 'buffer' });
      },
    });
    const a = evs.filter((e) => e.path.toString().endsWith('/dir/a'));
    expect(a.map((e) => e.kind)).toEqual(['enter', 'leave']);
    expect(a[0]).toMatchObject({ error: boom });
    expect(a[1]).toMatchObject({ error: boom });
    expect(a[0]!.meta.type).toBe('dir');
    expect(errors).toEqual([[Buffer.from(join(root, 'dir/a')).subarray(rootBytes.length + 1).toString('hex'), boom]]);
  });

  it('skips an entry that vanishes between listing and lstat, via onError', async () => {
    const errors: string[] = [];
    const evs = await collect(rootBytes, {
      onError: (path, err) => errors.push(`${path.toString().slice(root.length)}:${(err as NodeJS.ErrnoException).code}`),
      readdir: async (path) => {
        const names = await fsp.readdir(path, { encoding: 'buffer' });
        return path.equals(rootBytes) ? [...names, Buffer.from('ghost')] : names;
      },
    });
    expect(errors).toEqual(['/ghost:ENOENT']);
    expect(evs.some((e) => e.name.toString() === 'ghost')).toBe(false);
  });

  it('walkEvents puts each error in the stream where walk() reports it', async () => {
    const boom = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const opts = {
      readdir: async (path: Buffer) => {
        if (path.toString().endsWith('/dir/a')) throw boom;
        const names = await fsp.readdir(path, { encoding: 'buffer' });
        return path.equals(rootBytes) ? [...names, Buffer.from('ghost')] : names;
      },
    };
    const reported: string[] = [];
    const order: string[] = [];
    for await (const ev of walk(rootBytes, { ...opts, onError: (path) => order.push(`error ${rel(path)}`) })) {
      order.push(`${ev.kind} ${rel(ev.path)}`);
    }
    for await (const ev of walkEvents(rootBytes, opts)) {
      reported.push(ev.kind === 'error' ? `error ${rel(ev.path)}` : `${ev.kind} ${rel(ev.path)}`);
      if (ev.kind === 'error') expect((ev.error as NodeJS.ErrnoException).code).toMatch(/EACCES|ENOENT/);
    }
    expect(reported).toEqual(order);
    expect(reported.filter((r) => r.startsWith('error'))).toHaveLength(2);
  });

  it('throws walk errors when no onError is given', async () => {
    const walker = collect(rootBytes, {
      readdir: async () => {
        throw Object.assign(new Error('EIO'), { code: 'EIO' });
      },
    });
    await expect(walker).rejects.toMatchObject({ code: 'EIO' });
  });

  it('yields a single entry for a root that is not a directory, and strips trailing slashes', async () => {
    const evs = await collect(Buffer.from(join(root, 'file.txt')));
    expect(evs).toHaveLength(1);
    expect(evs[0]).toMatchObject({ kind: 'entry', depth: 0 });
    expect(evs[0]!.name.toString()).toBe('file.txt');
    const slashed = await collect(Buffer.from(root + '//'));
    expect(slashed[0]!.path.equals(rootBytes)).toBe(true);
    expect(slashed.length).toBe(events.length);
  });

  it('fails with SOURCE_NOT_FOUND for a missing root', async () => {
    let caught: unknown;
    try {
      await collect(Buffer.from(join(root, 'missing')));
    } catch (err) {
      caught = err;
    }
    expect(isCairnError(caught, 'SOURCE_NOT_FOUND')).toBe(true);
  });

  it('with oneFileSystem records a mount point empty and flagged, and does not enter it', async () => {
    // /dev is its own file system and /dev/pts (or /dev/shm) another on every Linux box
    // we run on; skip quietly elsewhere.
    const devDev = (await fsp.stat('/dev')).dev;
    const mounts: string[] = [];
    for (const m of ['/dev/pts', '/dev/shm']) {
      const st = await fsp.stat(m).catch(() => undefined);
      if (st?.isDirectory() && st.dev !== devDev) mounts.push(m);
    }
    if (mounts.length === 0) return;
    const evs = await collect(Buffer.from('/dev'), { oneFileSystem: true, xattrs: false, onError: () => {} });
    for (const m of mounts) {
      const at = evs.filter((e) => e.path.toString() === m);
      expect(at.map((e) => e.kind)).toEqual(['enter', 'leave']);
      expect(at[0]).toMatchObject({ otherFileSystem: true });
      expect(evs.some((e) => e.path.toString().startsWith(m + '/'))).toBe(false);
    }
    const all = await collect(Buffer.from('/dev'), { xattrs: false, onError: () => {} });
    expect(all.some((e) => e.path.toString().startsWith(mounts[0] + '/'))).toBe(true);
  });
});

function isChild(parent: Buffer, child: Buffer): boolean {
  return (
    child.length > parent.length + 1 &&
    child.subarray(0, parent.length).equals(parent) &&
    child[parent.length] === 0x2f &&
    child.indexOf(0x2f, parent.length + 1) === -1
  );
}
