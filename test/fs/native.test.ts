import { closeSync, promises as fsp, mkdtempSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { native, nativeLoadError } from '../../src/util/native-addon.js';

// The addon is built by `npm install` (npm run build:native). CI must build it; this
// suite fails loudly rather than skipping when it is missing, unless the run is an
// explicit no-native run.
const dir = mkdtempSync(join(tmpdir(), 'cairn-native-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const p = (name: string | Buffer) => Buffer.concat([Buffer.from(dir + '/'), Buffer.from(name)]);

describe.skipIf(process.env['CAIRN_NO_NATIVE'] === '1')('native addon', () => {
  it('is loaded', () => {
    expect(nativeLoadError()).toBeUndefined();
    expect(native).not.toBeNull();
  });

  const nat = () => native!;

  it('sets, lists and gets xattrs with raw bytes, including empty values', async () => {
    const file = p(Buffer.from([0x78, 0xff])); // a name that is not UTF-8
    await fsp.writeFile(file, '');
    nat().lsetxattr(file, 'user.b', Buffer.from([0, 1, 2, 0xff]));
    nat().lsetxattr(file, 'user.a', Buffer.alloc(0));
    nat().lsetxattr(file, 'user.big', Buffer.alloc(3000, 7));
    expect(nat().llistxattr(file).sort()).toEqual(['user.a', 'user.b', 'user.big']);
    expect(nat().lgetxattr(file, 'user.b')).toEqual(Buffer.from([0, 1, 2, 0xff]));
    expect(nat().lgetxattr(file, 'user.a')).toEqual(Buffer.alloc(0));
    expect(nat().lgetxattr(file, 'user.big')).toEqual(Buffer.alloc(3000, 7));
    expect(nat().lgetxattr(file, 'user.missing')).toBeNull();
    expect(nat().llistxattr('/')).toEqual(expect.any(Array)); // strings work too
  });

  it('lists names longer than its first buffer in full', async () => {
    // llistxattr tries a 1 KiB buffer first and asks for the size only when that is short.
    const file = p('many-names');
    await fsp.writeFile(file, '');
    const names = Array.from({ length: 48 }, (_, i) => `user.${String(i).padStart(2, '0')}-${'n'.repeat(24)}`);
    for (const name of names) nat().lsetxattr(file, name, Buffer.from('v'));
    expect(names.join('\0').length).toBeGreaterThan(1024);
    expect(nat().llistxattr(file).sort()).toEqual(names);
  });

  it('readFileStart reads a file whole and closes it, or leaves it open when the buffer is full', async () => {
    const file = p('read-start');
    await fsp.writeFile(file, 'abcdefghij');
    const st = await fsp.stat(file, { bigint: true });
    const out = new BigInt64Array(5);
    const whole = Buffer.alloc(11);
    expect(nat().readFileStart!(file, whole, 0, out)).toBe(10);
    expect(whole.subarray(0, 10).toString()).toBe('abcdefghij');
    expect([...out]).toEqual([-1n, st.size, st.mtimeNs, st.ctimeNs, 0n]);
    // A full buffer leaves the file open, even when it ended right there.
    const exact = Buffer.alloc(10);
    expect(nat().readFileStart!(file, exact, 0, out)).toBe(10);
    expect(out[0]).toBeGreaterThanOrEqual(0n);
    expect(readSync(Number(out[0]), exact, 0, 10, null)).toBe(0);
    closeSync(Number(out[0]));
    const part = Buffer.alloc(4);
    expect(nat().readFileStart!(file, part, 0, out)).toBe(4);
    const fd = Number(out[0]);
    expect(fd).toBeGreaterThanOrEqual(0);
    const rest = Buffer.alloc(16);
    expect(readSync(fd, rest, 0, 16, null)).toBe(6);
    expect(part.toString() + rest.subarray(0, 6).toString()).toBe('abcdefghij');
    nat().closeFd!(fd);
    expect(catchError(() => nat().closeFd!(fd))).toMatchObject({ code: 'EBADF', syscall: 'close' });
    expect(() => nat().closeFd!(-1)).toThrow(RangeError);
    nat().lsetxattr(file, 'user.x', Buffer.from('1'));
    nat().readFileStart!(file, whole, 0, out);
    expect(out[4]).toBe(1n);
  });

  it('readFileStart throws fs-style errors and rejects bad arguments', async () => {
    const out = new BigInt64Array(5);
    const buf = Buffer.alloc(8);
    expect(catchError(() => nat().readFileStart!(p('nope'), buf, 0, out))).toMatchObject({ code: 'ENOENT', syscall: 'open' });
    await fsp.symlink('read-start', p('read-link'));
    expect(catchError(() => nat().readFileStart!(p('read-link'), buf, 0, out))).toMatchObject({ code: 'ELOOP' });
    expect(catchError(() => nat().readFileStart!(dir, buf, 0, out))).toMatchObject({ code: 'EISDIR', syscall: 'read' });
    expect(() => nat().readFileStart!(p('read-start'), buf, 9, out)).toThrow(RangeError);
    expect(() => nat().readFileStart!(p('read-start'), buf, 0, new BigInt64Array(4))).toThrow(TypeError);
    expect(() => nat().readFileStart!(p('read-start'), buf, 0, new Float64Array(5) as unknown as BigInt64Array)).toThrow(TypeError);
  });

  it('reads xattrs of a symlink itself, not of its target', async () => {
    await fsp.writeFile(p('target'), '');
    await fsp.symlink('target', p('link'));
    nat().lsetxattr(p('target'), 'user.on-target', Buffer.from('t'));
    expect(nat().llistxattr(p('link'))).not.toContain('user.on-target');
    expect(nat().lgetxattr(p('link'), 'user.on-target')).toBeNull();
  });

  it('throws fs-style errors with code, errno, syscall and path', () => {
    const err = catchError(() => nat().llistxattr(p('nope')));
    expect(err).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'llistxattr', path: join(dir, 'nope') });
    expect(err.message).toMatch(/^ENOENT: .*llistxattr/);
    expect(catchError(() => nat().lgetxattr(p('nope'), 'user.x'))).toMatchObject({ code: 'ENOENT' });
    expect(catchError(() => nat().lsetxattr(p('nope'), 'user.x', Buffer.from('')))).toMatchObject({ code: 'ENOENT' });
    // user.* attributes are not allowed on symlinks.
    expect(catchError(() => nat().lsetxattr(p('link'), 'user.x', Buffer.from('')))).toMatchObject({ code: 'EPERM' });
  });

  it('rejects bad arguments with TypeError/RangeError instead of crashing', () => {
    expect(() => nat().llistxattr(Buffer.from('/tmp\0/x'))).toThrow(TypeError);
    expect(() => (nat().llistxattr as (x: unknown) => unknown)(42)).toThrow(TypeError);
    expect(() => (nat().lgetxattr as (...x: unknown[]) => unknown)(p('target'))).toThrow(TypeError);
    expect(() => nat().utimensat(p('target'), 0, 1_000_000_000, 0, 0, false)).toThrow(RangeError);
    expect(() => nat().utimensat(p('target'), 0.5, 0, 0, 0, false)).toThrow(RangeError);
    expect(() => nat().utimensat(p('target'), 2n ** 64n, 0, 0, 0, false)).toThrow(RangeError);
    expect(() => nat().mknod(p('x'), 0o10644, -1)).toThrow(RangeError);
  });

  it('sets nanosecond times, before 1970 too, and on symlinks without following them', async () => {
    nat().utimensat(p('target'), -2n, 5, 1_234_567_890n, 123_456_789, false);
    let st = await fsp.lstat(p('target'), { bigint: true });
    expect(st.mtimeNs).toBe(1_234_567_890_123_456_789n);
    expect(st.atimeNs).toBe(-1_999_999_995n);
    nat().utimensat(p('link'), 1, 1, 2, 999_999_999, true);
    st = await fsp.lstat(p('link'), { bigint: true });
    expect(st.mtimeNs).toBe(2_999_999_999n);
    expect((await fsp.stat(p('link'), { bigint: true })).mtimeNs).toBe(1_234_567_890_123_456_789n);
  });

  it('creates fifos and, as root, devices with mknod', async () => {
    nat().mknod(p('fifo'), 0o10600, 0);
    expect((await fsp.lstat(p('fifo'))).isFIFO()).toBe(true);
    expect(catchError(() => nat().mknod(p('fifo'), 0o10600, 0))).toMatchObject({ code: 'EEXIST', syscall: 'mknod' });
    if (process.getuid?.() === 0) {
      const rdev = (await fsp.stat('/dev/null', { bigint: true })).rdev;
      nat().mknod(p('null'), 0o20600, rdev);
      const st = await fsp.lstat(p('null'), { bigint: true });
      expect(st.isCharacterDevice()).toBe(true);
      expect(st.rdev).toBe(rdev);
    }
  });
});

function catchError(fn: () => unknown): Error & Record<string, unknown> {
  try {
    fn();
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error('expected a throw');
}
