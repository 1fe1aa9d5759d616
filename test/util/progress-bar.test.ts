import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { ProgressBar, type ProgressBarOptions } from '../../src/util/progress-bar.js';

function fakeStream(columns = 120, isTTY = true) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns, write: (s: string) => writes.push(s) } };
}

function setup(opts: Partial<ProgressBarOptions> & { columns?: number } = {}) {
  let now = 1_000_000;
  const { writes, stream } = fakeStream(opts.columns ?? 120);
  const bar = new ProgressBar({ stream, clock: () => now, ...opts });
  return {
    bar,
    writes,
    advance: (ms: number) => {
      now += ms;
    },
    /** The visible text of the last redraw. */
    last: () => writes[writes.length - 1]!.replace('\r\x1b[K', ''),
  };
}

const MiB = 1024 * 1024;

describe('ProgressBar', () => {
  it('draws one overwriting line with phase, files and bytes', () => {
    const { bar, writes, last } = setup();
    bar.update({ phase: 'scan', files: 1234, bytes: 1.5 * MiB });
    expect(writes).toHaveLength(1);
    expect(writes[0]!.startsWith('\r\x1b[K')).toBe(true);
    expect(writes[0]).not.toContain('\n');
    expect(last()).toBe('scan  1,234 files  1.5 MiB');
  });

  it('shows rate, bar, percent and ETA when totals are known', () => {
    const { bar, advance, last } = setup();
    bar.update({ phase: 'backup', files: 0, totalFiles: 100, bytes: 0, totalBytes: 100 * MiB });
    advance(1000);
    bar.update({ phase: 'backup', files: 10, totalFiles: 100, bytes: 10 * MiB, totalBytes: 100 * MiB });
    expect(last()).toBe('backup  10/100 files  10.0 MiB/100.0 MiB  10.0 MiB/s  [==>                 ] 10%  ETA 9.0s');
    advance(8000);
    bar.update({ phase: 'backup', files: 90, totalFiles: 100, bytes: 90 * MiB, totalBytes: 100 * MiB });
    expect(last()).toContain('[==================> ] 90%');
    expect(last()).toContain('ETA 1.0s');
  });

  it('measures the rate over the recent window, so it follows a slowdown', () => {
    const { bar, advance, last } = setup();
    bar.update({ phase: 'backup', files: 0, bytes: 0 });
    for (let i = 1; i <= 10; i++) {
      advance(1000);
      bar.update({ phase: 'backup', files: 0, bytes: i * 100 * MiB });
    }
    for (let i = 1; i <= 10; i++) {
      advance(1000);
      bar.update({ phase: 'backup', files: 0, bytes: 1000 * MiB + i * MiB });
    }
    expect(last()).toMatch(/ 1\.0 MiB\/s/);
  });

  it('shows no rate or ETA in the first half second', () => {
    const { bar, advance, last } = setup();
    bar.update({ phase: 'backup', files: 0, bytes: 0, totalBytes: 10 * MiB });
    advance(200);
    bar.update({ phase: 'backup', files: 1, bytes: MiB, totalBytes: 10 * MiB });
    expect(last()).not.toContain('/s');
    expect(last()).not.toContain('ETA');
    expect(last()).toContain('10%');
  });

  it('uses files for the percentage when total bytes are unknown', () => {
    const { bar, last } = setup();
    bar.update({ phase: 'restore', files: 25, totalFiles: 50, bytes: 0 });
    expect(last()).toContain('50%');
    expect(last()).not.toContain('ETA');
  });

  it('redraws at most every minIntervalMs, but at once on a phase change', () => {
    const { bar, writes, advance } = setup();
    bar.update({ phase: 'scan', files: 1, bytes: 0 });
    for (let i = 0; i < 50; i++) {
      advance(1);
      bar.update({ phase: 'scan', files: i, bytes: 0 });
    }
    expect(writes).toHaveLength(1);
    advance(60);
    bar.update({ phase: 'scan', files: 99, bytes: 0 });
    expect(writes).toHaveLength(2);
    bar.update({ phase: 'backup', files: 0, bytes: 0 });
    expect(writes).toHaveLength(3);
  });

  it('fits the terminal width: drops the bar, then cuts the path from the left', () => {
    const { bar, last } = setup({ columns: 60 });
    bar.update({
      phase: 'backup',
      files: 5,
      totalFiles: 10,
      bytes: 5 * MiB,
      totalBytes: 10 * MiB,
      currentPath: 'home/someone/a/very/long/path/to/the-file.txt',
    });
    const line = last();
    expect(line.length).toBeLessThanOrEqual(59);
    expect(line).not.toContain('[');
    expect(line).toContain('50%');
    expect(line.endsWith('the-file.txt')).toBe(true);
    expect(line).toContain('…');
  });

  it('cuts an overlong line on a very narrow terminal', () => {
    const { bar, last } = setup({ columns: 25 });
    bar.update({ phase: 'backup', files: 123456, totalFiles: 999999, bytes: 5 * MiB, totalBytes: 10 * MiB });
    expect(Array.from(last()).length).toBeLessThanOrEqual(24);
  });

  it('shows the path when there is room, with control characters neutralised', () => {
    const { bar, last } = setup();
    bar.update({ phase: 'backup', files: 1, bytes: 1, currentPath: 'evil\nname\x1b[31m.txt' });
    expect(last()).toBe('backup  1 files  1 B  evil?name?[31m.txt');
  });

  it('done() clears the line and prints the final line once', () => {
    const { bar, writes } = setup();
    bar.update({ phase: 'scan', files: 1, bytes: 0 });
    bar.done('snapshot 1a2b3c saved');
    bar.done('again');
    bar.update({ phase: 'scan', files: 2, bytes: 0 });
    expect(writes.slice(1)).toEqual(['\r\x1b[Ksnapshot 1a2b3c saved\n']);
  });

  it('done() without anything drawn or a final line writes nothing', () => {
    const { bar, writes } = setup();
    bar.done();
    expect(writes).toEqual([]);
  });

  it('renders nothing when disabled, or by default on a non-TTY stream', () => {
    const off = setup({ enabled: false });
    off.bar.update({ phase: 'scan', files: 1, bytes: 0 });
    off.bar.done('final');
    expect(off.writes).toEqual([]);
    const { writes, stream } = fakeStream(80, false);
    const bar = new ProgressBar({ stream });
    bar.update({ phase: 'scan', files: 1, bytes: 0 });
    bar.done('final');
    expect(writes).toEqual([]);
  });

  it('accepts a core Clock and defaults to 80 columns', () => {
    const clock = new FakeClock();
    const writes: string[] = [];
    const bar = new ProgressBar({ stream: { isTTY: true, write: (s: string) => writes.push(s) }, clock });
    bar.update({ phase: 'scan', files: 1, bytes: 0, currentPath: 'x'.repeat(200) });
    expect(Array.from(writes[0]!.replace('\r\x1b[K', '')).length).toBe(79);
    clock.advance(50);
    bar.update({ phase: 'scan', files: 2, bytes: 0 });
    expect(writes).toHaveLength(1);
    clock.advance(50);
    bar.update({ phase: 'scan', files: 3, bytes: 0 });
    expect(writes).toHaveLength(2);
  });
});
