import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { native } from '../../src/util/native-addon.js';
import { setTimesSync } from '../../src/fs/set-times.js';
import { runPython } from './python.js';

const run = promisify(execFile);

export interface TortureTreeInfo {
  /** Features this machine or file system refused, each with the reason. */
  skipped: string[];
  /** Relative path ("" = the root) -> the mtime in ns that was set and read back. */
  mtimes: Map<string, bigint>;
}

const MiB = 1024 * 1024;
/** Binds a unix socket and exits: the socket file stays (Node would unlink it on close). */
const SOCKET_PY = 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])';
export const SPARSE_SIZE = 64 * MiB;

/** Paths are Buffers so that names that are not UTF-8 can be made. */
const b = (...parts: Array<string | Buffer>): Buffer =>
  Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [Buffer.from(p)] : [Buffer.from('/'), Buffer.from(p)])));

export const NON_UTF8 = Buffer.from([0x66, 0xff, 0xfe]);
/** 255 bytes: 127 two-byte "é" and one "x", the longest name ext4 allows. */
export const LONG_NAME = 'é'.repeat(127) + 'x';

/**
 * Creates under `dir` (created if missing) a tree with every kind of entry Cairn must
 * back up and restore exactly: file kinds, sparse data, links, odd modes and owners,
 * nanosecond and extreme times, xattrs, hostile names and special files. What the
 * machine refuses (not root, no xattrs on this file system, ...) is listed in
 * `skipped` instead of failing, so tests can decide.
 */
export async function makeTortureTree(dir: string): Promise<TortureTreeInfo> {
  const skipped: string[] = [];
  const mtimes = new Map<string, bigint>();
  const root = Buffer.from(dir);
  const p = (...parts: Array<string | Buffer>): Buffer => b(root, ...parts);
  const isRoot = process.getuid?.() === 0;
  const tryTo = async (what: string, step: () => Promise<unknown> | unknown): Promise<boolean> => {
    try {
      await step();
      return true;
    } catch (err) {
      skipped.push(`${what}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return false;
    }
  };

  await fsp.mkdir(root, { recursive: true });
  for (const d of ['dir/a/b/c', 'emptydir', 'hardlinks', 'modes', 'owners', 'times', 'xattrs', 'names', 'special']) {
    await fsp.mkdir(p(d), { recursive: true });
  }

  // Plain files.
  await fsp.writeFile(p('file.txt'), 'hello cairn\n');
  await fsp.writeFile(p('empty'), '');
  await fsp.writeFile(p('dir/a/b/c/deep.txt'), 'deep inside\n');
  await fsp.writeFile(p('dir/a/mid.bin'), Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) & 0xff)));

  // A 64 MiB file of holes with two small data regions.
  const fh = await fsp.open(p('sparse.bin'), 'w');
  try {
    await fh.truncate(SPARSE_SIZE);
    await fh.write(Buffer.from('first data region'), 0, 17, MiB + 123);
    await fh.write(Buffer.alloc(4096, 0xab), 0, 4096, 40 * MiB);
  } finally {
    await fh.close();
  }

  // Symlinks: relative, absolute, dangling, to a directory, upwards.
  await fsp.symlink('file.txt', p('link-relative'));
  await fsp.symlink('/etc/passwd', p('link-absolute'));
  await fsp.symlink('no/such/target', p('link-dangling'));
  await fsp.symlink('dir', p('link-to-dir'));
  await fsp.symlink('../../file.txt', p('dir/a/link-up'));

  // One inode, three names, across directories.
  await fsp.writeFile(p('hardlinks/one'), 'linked content\n');
  await fsp.link(p('hardlinks/one'), p('hardlinks/two'));
  await fsp.link(p('hardlinks/one'), p('dir/a/three'));

  // Names: whitespace, control characters, NFC vs NFD, non-UTF-8, maximal length, glob
  // metacharacters, a leading dash.
  const names: Array<string | Buffer> = [
    'with space',
    'with\nnewline',
    'with\ttab',
    '\u00e9', // é, NFC
    'e\u0301', // é, NFD: a different name
    'emoji-\u{1F600}',
    NON_UTF8,
    LONG_NAME,
    '*glob?[chars]',
    'back\\slash',
    '-leading-dash',
  ];
  for (const name of names) await fsp.writeFile(p('names', name), `name test\n`);
  await fsp.mkdir(p('names', Buffer.from([0xff, 0x64, 0x69, 0x72])));
  await fsp.writeFile(p('names', Buffer.from([0xff, 0x64, 0x69, 0x72]), 'inner'), 'inside a non-UTF-8 dir\n');

  // Ownership (root only): files, a directory, a symlink itself.
  if (isRoot) {
    await fsp.writeFile(p('owners/user-1234'), 'owned\n');
    await fsp.chown(p('owners/user-1234'), 1234, 5678);
    await fsp.mkdir(p('owners/dir-4321'));
    await fsp.chown(p('owners/dir-4321'), 4321, 8765);
    await fsp.symlink('user-1234', p('owners/link'));
    await fsp.lchown(p('owners/link'), 2222, 3333);
    // setuid on a file owned by someone else: restore must chown before chmod.
    await fsp.writeFile(p('owners/setuid-other'), '#!/bin/sh\n');
    await fsp.chown(p('owners/setuid-other'), 1234, 5678);
    await fsp.chmod(p('owners/setuid-other'), 0o4755);
  } else {
    skipped.push('owners: not root');
  }

  // Modes, after ownership so that nothing clears them.
  const modes: Array<[string, number, 'file' | 'dir']> = [
    ['setuid', 0o4755, 'file'],
    ['setgid', 0o2750, 'file'],
    ['all-bits', 0o7777, 'file'],
    ['none', 0o000, 'file'],
    ['sticky-dir', 0o1777, 'dir'],
    ['setgid-dir', 0o2770, 'dir'],
    ['private-dir', 0o700, 'dir'],
  ];
  for (const [name, mode, kind] of modes) {
    if (kind === 'file') await fsp.writeFile(p('modes', name), `mode ${mode.toString(8)}\n`);
    else await fsp.mkdir(p('modes', name));
    await fsp.chmod(p('modes', name), mode);
  }

  // Extended attributes: user.* on a file and a directory, binary and empty values;
  // trusted.* and security.capability as root; trusted.* on a symlink (user.* is not
  // allowed on symlinks).
  await fsp.writeFile(p('xattrs/user'), 'xattrs\n');
  await fsp.writeFile(p('xattrs/trusted'), 'xattrs\n');
  await fsp.writeFile(p('xattrs/capability'), '#!/bin/sh\n');
  await fsp.symlink('user', p('xattrs/link'));
  if (native) {
    const nat = native;
    const set = (rel: string, name: string, value: Buffer) =>
      tryTo(`xattr ${name} on ${rel}`, () => nat.lsetxattr(p(rel), name, value));
    await set('xattrs/user', 'user.cairn.text', Buffer.from('a value'));
    await set('xattrs/user', 'user.cairn.binary', Buffer.from([0, 1, 2, 0xff, 0]));
    await set('xattrs/user', 'user.cairn.empty', Buffer.alloc(0));
    await set('file.txt', 'user.cairn.on-file', Buffer.from('x'));
    await set('dir', 'user.cairn.on-dir', Buffer.from('a directory attribute'));
    if (isRoot) {
      await set('xattrs/trusted', 'trusted.cairn', Buffer.from('root only'));
      await set('xattrs/link', 'trusted.cairn.link', Buffer.from('on the link itself'));
      // File capabilities (VFS_CAP_REVISION_2, cap_net_bind_service effective): the
      // kernel drops them on chown, which fixes the order of applyEntryMeta.
      const cap = Buffer.alloc(20);
      cap.writeUInt32LE(0x02000001, 0);
      cap.writeUInt32LE(1 << 10, 4);
      await set('xattrs/capability', 'security.capability', cap);
    }
  } else {
    skipped.push('xattrs: native addon not loaded');
  }

  // Special files, made by the system tools (not by Cairn's addon), concurrently.
  const specials = [
    tryTo('fifo', () => run('mkfifo', ['-m', '0640', '--', join(dir, 'special/fifo')])),
    tryTo('socket', () =>
      runPython(['-c', SOCKET_PY, join(dir, 'special/socket')]),
    ),
  ];
  if (isRoot) {
    specials.push(tryTo('chardev', () => run('mknod', ['-m', '0600', '--', join(dir, 'special/null'), 'c', '1', '3'])));
    specials.push(tryTo('blockdev', () => run('mknod', ['-m', '0660', '--', join(dir, 'special/loop'), 'b', '7', '200'])));
  } else {
    skipped.push('devices: not root');
  }
  await Promise.all(specials);

  // Times last: every creation above changed a directory's mtime. Files first, then
  // directories deepest first, the root at the very end.
  const times: Array<[string, bigint, boolean?]> = [
    ['times/nanos', 1_234_567_890_123_456_789n],
    ['times/before-1970', -123_456_789_987_654_321n],
    ['times/far-future', 4_102_444_800_999_999_999n], // 2100-01-01
    ['times/symlink', 1_500_000_000_000_000_001n, true],
    ['file.txt', 1_600_000_000_555_555_555n],
    ['dir/a/b/c/deep.txt', 1_000_000_000_000_000_999n],
    ['dir/a/b/c', 1_000_000_001_000_000_001n],
    ['dir/a/b', 1_000_000_002_000_000_002n],
    ['dir/a', 1_000_000_003_000_000_003n],
    ['dir', 1_000_000_004_000_000_004n],
    ['times', 1_700_000_000_000_000_007n],
    ['', 1_700_000_001_999_999_999n],
  ];
  await fsp.writeFile(p('times/nanos'), 'n\n');
  await fsp.writeFile(p('times/before-1970'), 'old\n');
  await fsp.writeFile(p('times/far-future'), 'new\n');
  await fsp.symlink('nanos', p('times/symlink'));
  for (const [rel, ns, isLink] of times) {
    const path = rel === '' ? root : p(rel);
    if (!(await tryTo(`mtime of ${rel || '.'}`, () => setNs(path, ns - 1_000_000_000n, ns, isLink === true)))) continue;
    const got = (await fsp.lstat(path, { bigint: true })).mtimeNs;
    if (got === ns) mtimes.set(rel, ns);
    else skipped.push(`mtime of ${rel || '.'}: file system stored ${got} for ${ns}`);
  }
  if (!native) skipped.push('nanosecond times: native addon not loaded (microseconds only)');
  return { skipped, mtimes };
}

async function setNs(path: Buffer, atimeNs: bigint, mtimeNs: bigint, nofollow: boolean): Promise<void> {
  if (!native) return setTimesSync(path, atimeNs, mtimeNs, nofollow);
  const split = (ns: bigint): [bigint, number] => {
    const sec = ns >= 0n ? ns / 1_000_000_000n : -((-ns + 999_999_999n) / 1_000_000_000n);
    return [sec, Number(ns - sec * 1_000_000_000n)];
  };
  const [as, an] = split(atimeNs);
  const [ms, mn] = split(mtimeNs);
  native.utimensat(path, as, an, ms, mn, nofollow);
}
