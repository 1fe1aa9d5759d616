import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FastCdc } from '../../src/chunker/fast-cdc.js';
import { asBlobId } from '../../src/core/ids.js';
import { gearTable } from '../../src/chunker/gear-table.js';
import { backupFile, nativeFileAddon, type FileAddon, type FileTaskDeps } from '../../src/pipeline/file-task.js';
import { native } from '../../src/util/native-addon.js';
import { pseudoRandomBytes } from '../chunker/pseudo-random.js';

/**
 * backupFile reads a file on a worker either through the addon's readFileStart (one
 * call for open, read, fstat and close when the file fits in the buffer) or through
 * node:fs. Both must cut, hash and report the same, whatever the file's size against
 * the buffer, and both must report a change seen while reading and a file that cannot
 * be opened.
 */
const dir = mkdtempSync(join(tmpdir(), 'cairn-file-task-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const params = { min: 64, avg: 256, max: 1024 };
const gear = gearTable(new Uint8Array(32).fill(3));
// Room for one unfinished chunk plus one read, as the worker sizes it (small here so
// that files cross the buffer's end).
const BUFFER = params.max + 1536;

function deps(addon?: FileAddon): FileTaskDeps & { stored: Map<string, Buffer> } {
  const stored = new Map<string, Buffer>();
  return {
    finder: () => new FastCdc(params, gear),
    id: (chunk) => asBlobId(createHash('sha256').update(chunk).digest('hex')),
    claimNew: (id) => !stored.has(id),
    store: (id, chunk) => void stored.set(id, Buffer.from(chunk)),
    buffer: Buffer.alloc(BUFFER),
    ...(addon ? { addon } : {}),
    stored,
  };
}

const seenOf = (path: string) => {
  const st = statSync(path, { bigint: true });
  return { size: Number(st.size), mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
};

/** The ids of the chunks FastCdc cuts the whole content into, in one piece. */
function expectedIds(content: Buffer): string[] {
  const f = new FastCdc(params, gear);
  const cuts = [...f.update(content), ...f.finish()];
  let at = 0;
  return cuts.map((cut) => {
    const id = createHash('sha256').update(content.subarray(at, cut)).digest('hex');
    at = cut;
    return id;
  });
}

const addon = nativeFileAddon ?? undefined;
const ways: [string, FileAddon | undefined][] = [['node:fs', undefined]];
if (addon) ways.push(['the addon', addon]);

describe.each(ways)('backupFile through %s', (_name, start) => {
  it.each([0, 1, 63, 1000, BUFFER - 1, BUFFER, BUFFER + 1, 3 * BUFFER + 17, 40_000])('cuts a file of %i bytes as one stream would', (size) => {
    const path = join(dir, `f-${_name}-${size}`);
    const content = pseudoRandomBytes(size, `file ${size}`);
    writeFileSync(path, content);
    const d = deps(start);
    const r = backupFile(Buffer.from(path), seenOf(path), d);
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ read: size, changed: false });
    expect(r.ids).toEqual(expectedIds(content));
    expect(Buffer.concat(r.ids.map((id) => d.stored.get(id)!))).toEqual(content);
    expect(r.newBlobs).toBe(new Set(r.ids).size);
  });

  it('reports a file whose size or times differ from what the walk saw as changed', () => {
    const path = join(dir, `changed-${_name}`);
    writeFileSync(path, 'now longer than the walk saw');
    const seen = seenOf(path);
    expect(backupFile(Buffer.from(path), { ...seen, size: 5 }, deps(start)).changed).toBe(true);
    expect(backupFile(Buffer.from(path), { ...seen, mtimeNs: seen.mtimeNs - 1n }, deps(start)).changed).toBe(true);
    expect(backupFile(Buffer.from(path), { ...seen, ctimeNs: seen.ctimeNs + 1n }, deps(start)).changed).toBe(true);
    expect(backupFile(Buffer.from(path), seen, deps(start)).changed).toBe(false);
  });

  it('does not wait for a writer of a fifo swapped in for the file: nothing read, reported changed', () => {
    const fifo = join(dir, `fifo-${_name}`);
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const r = backupFile(Buffer.from(fifo), { size: 5, mtimeNs: 1n, ctimeNs: 1n }, deps(start));
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ ids: [], read: 0, changed: true });
  });

  it('returns errno-style errors for a missing file, a symlink and a directory', () => {
    const seen = { size: 1, mtimeNs: 0n, ctimeNs: 0n };
    expect(backupFile(Buffer.from(join(dir, 'missing')), seen, deps(start)).error?.code).toBe('ENOENT');
    const link = join(dir, `link-${_name}`);
    symlinkSync(join(dir, 'missing'), link);
    expect(backupFile(Buffer.from(link), seen, deps(start)).error?.code).toBe('ELOOP');
    const sub = join(dir, `dir-${_name}`);
    mkdirSync(sub);
    const r = backupFile(Buffer.from(sub), seen, deps(start));
    expect(r.error?.code).toBe('EISDIR');
    expect(r.ids).toEqual([]);
  });
});

describe.skipIf(!addon)('backupFile with the addon', () => {
  it('says whether the open file has xattrs; node:fs cannot tell', () => {
    const plain = join(dir, 'plain');
    const tagged = join(dir, 'tagged');
    writeFileSync(plain, 'x');
    writeFileSync(tagged, 'x');
    native!.lsetxattr(tagged, 'user.tag', Buffer.from('1'));
    expect(backupFile(Buffer.from(plain), seenOf(plain), deps(addon)).hasXattrs).toBe(false);
    expect(backupFile(Buffer.from(tagged), seenOf(tagged), deps(addon)).hasXattrs).toBe(true);
    expect(backupFile(Buffer.from(tagged), seenOf(tagged), deps()).hasXattrs).toBeUndefined();
  });

  it('reads what was written whole, however the buffer is offset', () => {
    const path = join(dir, 'offset');
    writeFileSync(path, 'hello world');
    const buf = Buffer.alloc(32, 0);
    const out = new BigInt64Array(5);
    expect(addon!.readFileStart(Buffer.from(path), buf, 5, out)).toBe(11);
    expect(buf.subarray(5, 16).toString()).toBe('hello world');
    expect(buf[4]).toBe(0);
    const st = statSync(path, { bigint: true });
    expect([...out.subarray(0, 4)]).toEqual([-1n, st.size, st.mtimeNs, st.ctimeNs]);
    expect(readFileSync(path).toString()).toBe('hello world');
  });
});
