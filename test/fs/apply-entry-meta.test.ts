import { promises as fsp, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEntryMeta } from '../../src/fs/apply-entry-meta.js';
import { createSpecial } from '../../src/fs/create-special.js';
import { native } from '../../src/util/native-addon.js';
import { isAllZero } from '../../src/fs/sparse.js';
import type { EntryMeta } from '../../src/fs/types.js';
import { walk } from '../../src/fs/walker.js';
import { makeTortureTree, manifest, type Manifest, type ManifestEntry } from '../helpers/manifest.js';

const base = mkdtempSync(join(tmpdir(), 'cairn-apply-'));
const src = join(base, 'src');
const dst = join(base, 'dst');
const isRoot = process.getuid?.() === 0;
let warnings: string[];
let before: Manifest;
let after: Manifest;

/**
 * A miniature restorer: recreates every entry the walker yields under `to`, then
 * applies the source metadata with applyEntryMeta (directories at their leave, after
 * their children). Content is copied without writing zero blocks so holes stay holes.
 */
async function copyTree(from: string, to: string): Promise<string[]> {
  const out: string[] = [];
  const fromBytes = Buffer.from(from);
  const toBytes = Buffer.from(to);
  const target = (path: Buffer) => Buffer.concat([toBytes, path.subarray(fromBytes.length)]);
  const firstLink = new Map<string, Buffer>();
  for await (const ev of walk(fromBytes)) {
    const path = target(ev.path);
    const meta = ev.meta;
    if (ev.kind === 'enter') {
      await fsp.mkdir(path);
      continue;
    }
    if (ev.kind === 'entry') {
      const key = `${meta.dev}:${meta.inode}`;
      const earlier = meta.nlink > 1 ? firstLink.get(key) : undefined;
      if (earlier) {
        await fsp.link(earlier, path);
        continue; // the inode already has its metadata
      }
      if (meta.nlink > 1) firstLink.set(key, path);
      if (!(await create(ev.path, path, meta, out))) continue;
    }
    out.push(...(await applyEntryMeta(path, meta, { owner: isRoot })));
  }
  return out;
}

async function create(from: Buffer, path: Buffer, meta: EntryMeta, warnings: string[]): Promise<boolean> {
  switch (meta.type) {
    case 'file':
      await copySparse(from, path, meta.size);
      return true;
    case 'symlink':
      await fsp.symlink(meta.linkTarget!, path);
      return true;
    default: {
      const result = await createSpecial(path, meta.type, meta.mode, meta.rdev);
      if (result.warning) warnings.push(result.warning);
      return result.created;
    }
  }
}

async function copySparse(from: Buffer, to: Buffer, size: number): Promise<void> {
  const input = await fsp.open(from, 'r');
  const output = await fsp.open(to, 'w');
  try {
    const buf = Buffer.alloc(64 * 1024);
    for (let pos = 0; pos < size; ) {
      const { bytesRead } = await input.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      if (!isAllZero(chunk)) await output.write(chunk, 0, bytesRead, pos);
      pos += bytesRead;
    }
    await output.truncate(size);
  } finally {
    await input.close();
    await output.close();
  }
}

/** Without the addon times are restored to the microsecond only (documented loss). */
function fallbackPrecision(e: ManifestEntry): ManifestEntry {
  if (native || e.mtime_ns === undefined) return e;
  const ns = BigInt(e.mtime_ns);
  return { ...e, mtime_ns: (ns - (((ns % 1000n) + 1000n) % 1000n)).toString() };
}

beforeAll(async () => {
  await makeTortureTree(src);
  before = await manifest(src);
  warnings = await copyTree(src, dst);
  after = await manifest(dst);
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('applyEntryMeta round trip on a copy of the torture tree', () => {
  it('reproduces every entry bit for bit: modes, owners, ns times, xattrs, links, holes', () => {
    const socket = Buffer.from('special/socket').toString('hex');
    const expected = { ...before, entries: before.entries.filter((e) => e.path !== socket).map(fallbackPrecision) };
    // Compare entry by entry first, for a readable failure.
    const got = new Map(after.entries.map((e) => [e.path, fallbackPrecision(e)]));
    for (const e of expected.entries) expect(got.get(e.path), e.text).toEqual(e);
    expect({ ...after, entries: after.entries.map(fallbackPrecision) }).toEqual(expected);
  });

  it('keeps the holes of the sparse file and file capabilities despite chown', () => {
    const sparse = after.entries.find((e) => e.text === 'sparse.bin')!;
    expect(sparse.sparse).toBe(true);
    if (isRoot && native) {
      const cap = after.entries.find((e) => e.text === 'xattrs/capability')!;
      expect(Object.keys(cap.xattrs!)).toEqual(['security.capability']);
      const other = after.entries.find((e) => e.text === 'owners/setuid-other')!;
      expect([other.mode, other.uid]).toEqual(['0o4755', 1234]);
    }
  });

  it('warns only about the socket, which is not restored', () => {
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/special\/socket: socket not restored/);
  });
});

describe('applyEntryMeta failures', () => {
  it('returns warnings for what it cannot apply and throws when the entry is missing', async () => {
    const file = Buffer.from(join(base, 'plain'));
    await fsp.writeFile(file, 'x');
    const meta = {
      type: 'file' as const,
      mode: 0o640,
      uid: 0,
      gid: 0,
      mtimeNs: 5_000_000_007n,
      atimeNs: 6_000_000_000n,
      xattrs: [{ name: 'bogus.namespace', value: Buffer.from('v') }],
    };
    const out = await applyEntryMeta(file, meta, { owner: false });
    if (native) expect(out).toEqual([expect.stringMatching(/cannot set xattr bogus.namespace: (ENOTSUP|EOPNOTSUPP)/)]);
    const st = await fsp.stat(file, { bigint: true });
    expect(Number(st.mode & 0o7777n)).toBe(0o640);
    expect(st.mtimeNs).toBe(native ? 5_000_000_007n : 5_000_000_000n);
    await expect(applyEntryMeta(Buffer.from(join(base, 'missing')), meta)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('does not chmod symlinks (which would follow them) but sets their own times', async () => {
    const target = Buffer.from(join(base, 'link-target'));
    const link = Buffer.from(join(base, 'link'));
    await fsp.writeFile(target, 'x');
    await fsp.chmod(target, 0o600);
    await fsp.symlink('link-target', link);
    const meta = { type: 'symlink' as const, mode: 0o777, uid: 0, gid: 0, mtimeNs: 3_000_000_000n, atimeNs: 3_000_000_000n };
    expect(await applyEntryMeta(link, meta, { owner: false })).toEqual([]);
    expect((await fsp.stat(target)).mode & 0o7777).toBe(0o600);
    expect((await fsp.lstat(link, { bigint: true })).mtimeNs).toBe(3_000_000_000n);
  });

  it('createSpecial refuses regular types and skips sockets with a warning', async () => {
    await expect(createSpecial(Buffer.from(join(base, 'f')), 'file', 0o644)).rejects.toMatchObject({ code: 'INTERNAL' });
    expect(await createSpecial(Buffer.from(join(base, 's')), 'socket', 0o755)).toMatchObject({ created: false });
    await expect(createSpecial(Buffer.from(join(base, 'plain')), 'fifo', 0o644)).rejects.toMatchObject({ code: 'EEXIST' });
  });
});
