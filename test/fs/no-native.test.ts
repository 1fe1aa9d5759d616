import { promises as fsp, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// CAIRN_NO_NATIVE=1 makes src/util/native-addon.ts behave as if the addon were not built. The
// flag is read once at import, so the modules are imported afresh under it.
type Mods = {
  native: typeof import('../../src/util/native-addon.js');
  read: typeof import('../../src/fs/read-entry-meta.js');
  apply: typeof import('../../src/fs/apply-entry-meta.js');
  special: typeof import('../../src/fs/create-special.js');
  times: typeof import('../../src/fs/set-times.js');
};
let m: Mods;
const dir = mkdtempSync(join(tmpdir(), 'cairn-nonative-'));
const p = (name: string | Buffer) => Buffer.concat([Buffer.from(dir + '/'), Buffer.from(name)]);

beforeAll(async () => {
  vi.resetModules();
  vi.stubEnv('CAIRN_NO_NATIVE', '1');
  m = {
    native: await import('../../src/util/native-addon.js'),
    read: await import('../../src/fs/read-entry-meta.js'),
    apply: await import('../../src/fs/apply-entry-meta.js'),
    special: await import('../../src/fs/create-special.js'),
    times: await import('../../src/fs/set-times.js'),
  };
});
afterAll(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
  rmSync(dir, { recursive: true, force: true });
});

describe('without the native addon (CAIRN_NO_NATIVE=1)', () => {
  it('reports why the addon is not there', () => {
    expect(m.native.native).toBeNull();
    expect(m.native.nativeLoadError()).toMatch(/CAIRN_NO_NATIVE/);
  });

  it('reads metadata without xattrs and without errors', async () => {
    await fsp.writeFile(p('file'), 'x');
    await fsp.symlink('file', p('link'));
    const meta = await m.read.readEntryMeta(p('file'));
    expect(meta.type).toBe('file');
    expect(meta.xattrs).toBeUndefined();
    expect(meta.xattrErrors).toBeUndefined();
    expect((await m.read.readEntryMeta(p('link'))).linkTarget).toEqual(Buffer.from('file'));
  });

  it.each([
    ['an ordinary time', 1_234_567_890_123_456_789n, 1_234_567_890_123_456_000n],
    ['an exact microsecond', 1_234_567_890_000_001_000n, 1_234_567_890_000_001_000n],
    ['a time before 1970', -123_456_789_987_654_321n, -123_456_789_987_655_000n],
    ['just before 1970', -1_000n, -1_000n],
    ['the epoch', 0n, 0n],
    ['far in the future', 4_102_444_800_999_999_999n, 4_102_444_800_999_999_000n],
  ])('sets %s to the microsecond (floor), never to "now"', async (_what, ns, want) => {
    m.times.setTimesSync(p('file'), ns, ns, false);
    const st = await fsp.stat(p('file'), { bigint: true });
    expect(st.mtimeNs).toBe(want);
    expect(st.atimeNs).toBe(want);
  });

  it('sets the times of a symlink itself (lutimes)', async () => {
    const target = (await fsp.stat(p('file'), { bigint: true })).mtimeNs;
    m.times.setTimesSync(p('link'), 2_000_000_000_000_000n, 2_000_000_000_000_000n, true);
    expect((await fsp.lstat(p('link'), { bigint: true })).mtimeNs).toBe(2_000_000_000_000_000n);
    expect((await fsp.stat(p('file'), { bigint: true })).mtimeNs).toBe(target);
  });

  it('applies metadata, skipping xattrs silently (the caller warns once)', async () => {
    const warnings = await m.apply.applyEntryMeta(p('file'), {
      type: 'file',
      mode: 0o604,
      uid: 0,
      gid: 0,
      mtimeNs: 7_000_000_123_456n,
      atimeNs: 7_000_000_000_000n,
      xattrs: [{ name: 'user.x', value: Buffer.from('v') }],
    });
    expect(warnings).toEqual([]);
    const st = await fsp.stat(p('file'), { bigint: true });
    expect(st.mode & 0o7777n).toBe(0o604n);
    expect(st.mtimeNs).toBe(7_000_000_123_000n);
  });

  it('makes fifos with mkfifo, skips names that are not UTF-8', async () => {
    expect(await m.special.createSpecial(p('fifo'), 'fifo', 0o640)).toEqual({ created: true });
    const st = await fsp.lstat(p('fifo'));
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o7777).toBe(0o640);
    const odd = await m.special.createSpecial(p(Buffer.from([0x66, 0xff])), 'fifo', 0o640);
    expect(odd.created).toBe(false);
    expect(odd.warning).toMatch(/not UTF-8/);
    await expect(m.special.createSpecial(p('fifo'), 'fifo', 0o640)).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(m.special.createSpecial(p('no/dir/fifo'), 'fifo', 0o640)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it.runIf(process.getuid?.() === 0)('makes devices with mknod as root, with the right numbers', async () => {
    const rdev = (await fsp.stat('/dev/null', { bigint: true })).rdev;
    expect(m.special.majorMinor(rdev)).toEqual(['1', '3']);
    // Major and minor past 8 bits use glibc's split encoding (gnu_dev_makedev). The mknod
    // command encodes independently, so the lstat below checks majorMinor too. (The
    // kernel's limits are 12 bits of major and 20 of minor.)
    const makedev = (major: bigint, minor: bigint) =>
      ((major & 0xfffff000n) << 32n) | ((major & 0xfffn) << 8n) | ((minor & 0xffffff00n) << 12n) | (minor & 0xffn);
    const big = makedev(0xabcn, 0x6789an);
    expect(m.special.majorMinor(big)).toEqual([String(0xabc), String(0x6789a)]);
    expect(m.special.majorMinor(makedev(0x12345n, 0x87654321n))).toEqual([String(0x12345), String(0x87654321)]);
    expect(await m.special.createSpecial(p('null'), 'chardev', 0o600, rdev)).toEqual({ created: true });
    expect((await fsp.lstat(p('null'), { bigint: true })).rdev).toBe(rdev);
    expect(await m.special.createSpecial(p('blk'), 'blockdev', 0o600, big)).toEqual({ created: true });
    expect((await fsp.lstat(p('blk'), { bigint: true })).rdev).toBe(big);
  });
});
