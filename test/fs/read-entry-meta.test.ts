import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { majorMinor } from '../../src/fs/create-special.js';
import { parseIdNames } from '../../src/fs/id-names.js';
import { native } from '../../src/util/native-addon.js';
import { readEntryMeta } from '../../src/fs/read-entry-meta.js';
import type { EntryMeta } from '../../src/fs/types.js';
import { walk } from '../../src/fs/walker.js';
import { makeTortureTree, manifest, type Manifest, type TortureTreeInfo } from '../helpers/manifest.js';

const base = mkdtempSync(join(tmpdir(), 'cairn-meta-'));
const root = join(base, 'tree');
let info: TortureTreeInfo;
let expected: Manifest;
const metas = new Map<string, EntryMeta>(); // hex relative path -> meta

beforeAll(async () => {
  info = await makeTortureTree(root);
  expected = await manifest(root);
  const rootBytes = Buffer.from(root);
  for await (const ev of walk(rootBytes)) {
    if (ev.kind === 'leave') continue;
    metas.set(ev.path.subarray(rootBytes.length + 1).toString('hex'), ev.meta);
  }
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('readEntryMeta against the independent python manifest', () => {
  it('describes every entry exactly as lstat/getxattr in python do', () => {
    expect(metas.size).toBe(expected.entries.length);
    for (const m of expected.entries) {
      const meta = metas.get(m.path);
      const where = `entry ${JSON.stringify(m.text)}`;
      expect(meta, where).toBeDefined();
      expect(meta!.type, where).toBe(m.type);
      expect('0o' + meta!.mode.toString(8), where).toBe(m.mode);
      expect([meta!.uid, meta!.gid], where).toEqual([m.uid, m.gid]);
      expect(meta!.mtimeNs.toString(), where).toBe(m.mtime_ns);
      if (m.type === 'file') expect(meta!.size, where).toBe(m.size);
      if (m.type === 'symlink') expect(meta!.linkTarget?.toString('hex'), where).toBe(m.target);
      else expect(meta!.linkTarget, where).toBeUndefined();
      if (m.rdev !== undefined) {
        expect(majorMinor(meta!.rdev!).join(','), where).toBe(m.rdev);
      } else {
        expect(meta!.rdev, where).toBeUndefined();
      }
      const xattrs = Object.fromEntries((meta!.xattrs ?? []).map((x) => [x.name, x.value.toString('hex')]));
      expect(xattrs, where).toEqual(native ? m.xattrs : {});
      expect(meta!.xattrErrors, where).toBeUndefined();
    }
  });

  it('gives hard links the same dev and inode, and no one else', () => {
    const groups = new Map<string, string[]>();
    for (const [path, meta] of metas) {
      if (meta.type === 'dir' || meta.nlink < 2) continue;
      const key = `${meta.dev}:${meta.inode}`;
      groups.set(key, [...(groups.get(key) ?? []), path]);
    }
    const ours = [...groups.values()].filter((g) => g.length > 1).map((g) => g.sort());
    expect(ours.sort()).toEqual(expected.hardlinks);
    expect(expected.hardlinks).toHaveLength(1);
    expect(expected.hardlinks[0]).toHaveLength(3);
  });

  it('keeps nanoseconds, times before 1970 and far in the future', () => {
    const hex = (rel: string) => Buffer.from(rel).toString('hex');
    for (const [rel, ns] of info.mtimes) {
      if (rel === '') continue;
      expect(metas.get(hex(rel))!.mtimeNs, rel).toBe(ns);
    }
    if (native) {
      expect(info.mtimes.get('times/nanos')).toBe(1_234_567_890_123_456_789n);
      expect(info.mtimes.get('times/symlink')).toBe(1_500_000_000_000_000_001n);
    }
  });

  it('sorts xattrs by name bytes and keeps binary and empty values', () => {
    const meta = metas.get(Buffer.from('xattrs/user').toString('hex'))!;
    if (!native) return;
    expect(meta.xattrs?.map((x) => x.name)).toEqual(['user.cairn.binary', 'user.cairn.empty', 'user.cairn.text']);
    expect(meta.xattrs?.[0]?.value).toEqual(Buffer.from([0, 1, 2, 0xff, 0]));
    expect(meta.xattrs?.[1]?.value).toEqual(Buffer.alloc(0));
  });

  it('skips xattrs when asked to', async () => {
    const meta = await readEntryMeta(Buffer.from(join(root, 'xattrs/user')), { xattrs: false });
    expect(meta.xattrs).toBeUndefined();
  });

  it('resolves user and group names from /etc/passwd and /etc/group', async () => {
    const meta = await readEntryMeta(Buffer.from(root));
    if (meta.uid === 0) expect(meta.user).toBe('root');
    const owned = metas.get(Buffer.from('owners/user-1234').toString('hex'));
    if (owned) expect(owned.user).toBeUndefined(); // 1234 has no name on this machine
  });

  it('throws the lstat error for a missing entry', async () => {
    await expect(readEntryMeta(Buffer.from(join(root, 'missing')))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('parseIdNames', () => {
  it('maps ids and names both ways; the first line wins; junk is ignored', () => {
    const names = parseIdNames(
      'root:x:0:0:root:/root:/bin/bash\n# comment\n+nis\nbad line\nalice:x:1000:1000::/home/alice:/bin/sh\nalias:x:1000:1000::/:/bin/sh\n',
      'root:x:0:\nstaff:x:50:alice\n',
    );
    expect(names.userName(0)).toBe('root');
    expect(names.userName(1000)).toBe('alice');
    expect(names.uidOf('alias')).toBe(1000);
    expect(names.userName(4242)).toBeUndefined();
    expect(names.groupName(50)).toBe('staff');
    expect(names.gidOf('root')).toBe(0);
  });
});
