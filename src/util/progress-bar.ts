import { formatBytes } from './format-bytes.js';
import { formatDuration } from './format-duration.js';

/** What the bar needs of a stream; a tty.WriteStream has it all. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressBarOptions {
  stream: ProgressStream;
  /** Default: stream.isTTY. Pass false for --quiet, --json or a non-terminal. */
  enabled?: boolean;
  /** Milliseconds now; a core Clock is accepted too. Default Date.now. */
  clock?: (() => number) | { now(): Date };
  /** Least time between redraws; default 100 ms (10 per second). */
  minIntervalMs?: number;
}

export interface ProgressState {
  phase: string;
  files: number;
  totalFiles?: number;
  bytes: number;
  totalBytes?: number;
  currentPath?: string;
}

/** The rate is measured over this recent window so it follows speed changes. */
const RATE_WINDOW_MS = 5000;
/** No rate (nor ETA) until this much time has passed: early rates are noise. */
const MIN_RATE_SPAN_MS = 500;
const BAR_WIDTH = 20;
const CLEAR = '\r\x1b[K';

/**
 * One self-overwriting status line on a terminal:
 *
 *   backup  1,204/5,000 files  1.5 GiB/3.0 GiB  52.0 MiB/s  [=========>          ] 50%  ETA 29.5s  home/me/file.txt
 *
 * Each redraw is "\r" + line + clear-to-end-of-line, cut to the terminal width so it
 * never wraps (a wrapped line can't be overwritten). Updates may arrive per chunk; the
 * bar redraws at most every minIntervalMs and at once when the phase changes. When not
 * enabled it writes nothing at all, so --json output and logs stay clean.
 */
export class ProgressBar {
  private readonly stream: ProgressStream;
  private readonly enabled: boolean;
  private readonly now: () => number;
  private readonly minIntervalMs: number;
  private lastDraw = -Infinity;
  private drawn = false;
  private finished = false;
  private phase: string | undefined;
  private samples: { t: number; bytes: number }[] = [];

  constructor(opts: ProgressBarOptions) {
    this.stream = opts.stream;
    this.enabled = opts.enabled ?? opts.stream.isTTY === true;
    const clock = opts.clock;
    this.now = clock === undefined ? Date.now : typeof clock === 'function' ? clock : () => clock.now().getTime();
    this.minIntervalMs = opts.minIntervalMs ?? 100;
  }

  update(p: ProgressState): void {
    if (!this.enabled || this.finished) return;
    const t = this.now();
    const phaseChanged = p.phase !== this.phase;
    if (!phaseChanged && t - this.lastDraw < this.minIntervalMs) return;
    if (phaseChanged) {
      // A new phase counts different things (scanning vs. uploading): restart the rate.
      this.phase = p.phase;
      this.samples = [];
    }
    this.samples.push({ t, bytes: p.bytes });
    while (this.samples.length > 2 && t - this.samples[1]!.t >= RATE_WINDOW_MS) this.samples.shift();
    this.lastDraw = t;
    this.drawn = true;
    this.stream.write(CLEAR + this.render(p, t));
  }

  /** Clears the bar and prints finalLine in its place, if given. Idempotent. */
  done(finalLine?: string): void {
    if (!this.enabled || this.finished) return;
    this.finished = true;
    let out = this.drawn ? CLEAR : '';
    if (finalLine !== undefined) out += `${finalLine}\n`;
    if (out) this.stream.write(out);
  }

  private render(p: ProgressState, t: number): string {
    const width = Math.max(20, (this.stream.columns ?? 80) - 1); // the last column may wrap
    const rate = this.rate(t);
    const head = [
      clean(p.phase),
      p.totalFiles !== undefined ? `${count(p.files)}/${count(p.totalFiles)} files` : `${count(p.files)} files`,
      p.totalBytes !== undefined ? `${formatBytes(p.bytes)}/${formatBytes(p.totalBytes)}` : formatBytes(p.bytes),
      ...(rate !== undefined ? [`${formatBytes(rate)}/s`] : []),
    ];
    // Percent by bytes when known (files vary wildly in size), else by files.
    const fraction =
      p.totalBytes !== undefined && p.totalBytes > 0
        ? p.bytes / p.totalBytes
        : p.totalFiles !== undefined && p.totalFiles > 0
          ? p.files / p.totalFiles
          : undefined;
    let line = head.join('  ');
    if (fraction !== undefined) {
      const f = Math.min(1, Math.max(0, fraction));
      const percent = `${Math.floor(f * 100)}%`;
      const eta =
        p.totalBytes !== undefined && rate !== undefined && rate > 0
          ? [`ETA ${formatDuration((Math.max(0, p.totalBytes - p.bytes) / rate) * 1000)}`]
          : [];
      // The bar is the first thing to go on a narrow terminal; the numbers matter more.
      const withBar = [...head, `${drawBar(f)} ${percent}`, ...eta].join('  ');
      line = length(withBar) <= width ? withBar : [...head, percent, ...eta].join('  ');
    }
    if (p.currentPath !== undefined) {
      const room = width - length(line) - 2;
      if (room >= 10) line += `  ${cutLeft(clean(p.currentPath), room)}`;
    }
    return cutRight(line, width);
  }

  /** Bytes per second over the recent window, or undefined while too early to tell. */
  private rate(t: number): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || t - first.t < MIN_RATE_SPAN_MS) return undefined;
    return ((last.bytes - first.bytes) / (last.t - first.t)) * 1000;
  }
}

function drawBar(f: number): string {
  const full = Math.floor(f * BAR_WIDTH);
  if (full >= BAR_WIDTH) return `[${'='.repeat(BAR_WIDTH)}]`;
  return `[${'='.repeat(full)}>${' '.repeat(BAR_WIDTH - full - 1)}]`;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** File names may hold newlines or escape sequences; they must not drive the terminal. */
function clean(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

// Lengths count code points: close enough for a status line (wide CJK glyphs may still
// overflow by a few columns, which is cosmetic).
function length(s: string): number {
  return Array.from(s).length;
}

/** Keeps the end of a path, where the file name is. */
function cutLeft(s: string, max: number): string {
  const chars = Array.from(s);
  return chars.length <= max ? s : `…${chars.slice(chars.length - max + 1).join('')}`;
}

function cutRight(s: string, max: number): string {
  const chars = Array.from(s);
  return chars.length <= max ? s : chars.slice(0, max).join('');
}
