import { CairnError } from '../../core/errors/index.js';
import type { BinlogCatalog, CatalogBinlog } from './binlog-catalog.js';
import { binlogBase, binlogNumber, nextBinlog } from './binlog-events.js';
import { comparePosition } from './binlog-target.js';
import { mergeWindows } from '../merge-windows.js';

/**
 * What a mariadb snapshot records in `sourceMeta` (docs/sources/mariadb.md): a logical
 * dump (`dumpFile`) or a physical, already prepared mariadb-backup copy of the data
 * directory (`datadir` is where it came from).
 */
export interface MyDumpMeta {
  kind: 'logical' | 'physical';
  serverId: string;
  serverVersion: string;
  /** Binlog coordinates of the dump's consistent point (its CHANGE MASTER TO comment). */
  binlogFile: string;
  binlogPos: number;
  gtid: string | null;
  /** When mariadb-dump started / had returned (UTC): restorable from stopTime on. */
  startTime: string;
  stopTime: string;
  /** Databases in the dump (without the system schemas). */
  databases: string[];
  /** Logical: the dump file in the snapshot. */
  dumpFile?: string;
  /** Physical: the server's data directory, and the mariadb-backup that copied and prepared it. */
  datadir?: string;
  tool?: string;
}

/** The snapshots a mariadb source's restores start from. */
export function isMyBase(meta: unknown): meta is MyDumpMeta {
  const k = (meta as MyDumpMeta | undefined)?.kind;
  return k === 'logical' || k === 'physical';
}

export interface MyBase {
  snapshotId: string;
  time: string;
  meta: MyDumpMeta;
}

export interface MyWindow {
  snapshot: string;
  from: string;
  to: string;
  chain: CatalogBinlog[];
  gap: MyGap | null;
}

export interface MyGap {
  from: string;
  to: string;
  reason: 'missing' | 'partial';
  after: string;
}

/**
 * Windows and gaps from dumps and the binlog catalog. A dump's chain starts at the file
 * of its coordinates and runs over consecutive files; it breaks at a missing file, or
 * after a file stored only partly while later files exist (its tail is lost). Binlog
 * event times have one-second resolution: a window ends at the last second with an
 * event, .999999 (everything of that second is in the chain).
 */
export function analyseMyPitr(bases: MyBase[], catalog: BinlogCatalog): { windows: MyWindow[]; gaps: MyGap[]; gapAfterNewestBase: boolean } {
  const byNum = catalog.byNumber();
  const nums = [...byNum.keys()].sort((a, b) => a - b);
  const windows: MyWindow[] = [];
  const gaps = new Map<string, MyGap>();
  let gapAfterNewestBase = false;
  const sorted = [...bases].sort((a, b) => a.meta.stopTime.localeCompare(b.meta.stopTime));
  for (const [i, b] of sorted.entries()) {
    let n = binlogNumber(b.meta.binlogFile);
    let to = b.meta.stopTime;
    const chain: CatalogBinlog[] = [];
    let gap: MyGap | null = null;
    let name = b.meta.binlogFile;
    while (n !== null) {
      const s = byNum.get(n);
      if (!s) {
        const next = nums.find((k) => k > n!);
        if (next !== undefined) gap = { from: name, to: byNum.get(next)!.name.replace(/\d+$/, (d) => String(next - 1).padStart(d.length, '0')), reason: 'missing', after: to };
        break;
      }
      chain.push(s);
      if (s.lastCommit) {
        const end = s.lastCommit.replace(/\.\d+Z$/, '.999999Z');
        if (end > to) to = end;
      }
      if (s.partial && nums.some((k) => k > n!)) {
        gap = { from: s.name, to: s.name, reason: 'partial', after: to };
        break;
      }
      name = nextBinlog(name);
      n++;
    }
    if (gap) {
      gap.after = to;
      gaps.set(`${gap.from}-${gap.to}`, gap);
      if (i === sorted.length - 1) gapAfterNewestBase = true;
    }
    windows.push({ snapshot: b.snapshotId, from: b.meta.stopTime, to, chain, gap });
  }
  return { windows, gaps: [...gaps.values()], gapAfterNewestBase };
}

/** The window a restore to `at` uses: the newest dump whose window holds it; refuses gaps and times outside. */
export function chooseWindow(name: string, a: ReturnType<typeof analyseMyPitr>, at: string): MyWindow {
  if (a.windows.length === 0) throw new CairnError('SNAPSHOT_NOT_FOUND', `no mariadb dump of source "${name}" in this repository`, { hint: 'take one with `cairn backup mariadb://…`' });
  if (at === 'latest') {
    const w = a.windows.at(-1)!;
    if (w.gap) throw gapError(name, w.gap);
    return w;
  }
  const holding = a.windows.filter((w) => w.from <= at && at <= w.to);
  if (holding.length > 0) return holding.at(-1)!;
  const gapped = a.windows.filter((w) => w.from <= at && w.gap);
  if (gapped.length > 0) throw gapError(name, gapped.at(-1)!.gap!);
  const all = mergeWindows(a.windows);
  throw new CairnError('TIME_OUT_OF_RANGE', `${at} is outside every restorable window of "${name}" (${all.map((w) => `${w.from} .. ${w.to}`).join(', ')})`, {
    hint: 'see `cairn pitr ' + name + '`',
  });
}

/**
 * The window a restore to a binlog position uses: the newest base whose coordinates are
 * at or before it (a base after it already holds later transactions), provided its chain
 * reaches the position's file. Before every base, or after the stored binlog:
 * TIME_OUT_OF_RANGE with the restorable ranges; a hole in the chain first: WAL_GAP.
 */
export function chooseWindowAtPosition(name: string, a: ReturnType<typeof analyseMyPitr>, bases: MyBase[], target: { file: string; pos: number }, shown: string): MyWindow {
  if (a.windows.length === 0) throw new CairnError('SNAPSHOT_NOT_FOUND', `no mariadb dump of source "${name}" in this repository`, { hint: 'take one with `cairn backup mariadb://…`' });
  const coords = (w: MyWindow) => {
    const m = bases.find((b) => b.snapshotId === w.snapshot)!.meta;
    return { file: m.binlogFile, pos: m.binlogPos };
  };
  const eligible = a.windows.filter((w) => binlogBase(coords(w).file) === binlogBase(target.file) && comparePosition(coords(w), target) <= 0).sort((x, y) => comparePosition(coords(x), coords(y)));
  const w = eligible.at(-1);
  if (!w) throw outOfRange(name, a, bases, `${shown} is before the binlog coordinates of every base of "${name}"`);
  if (w.chain.some((f) => f.name === target.file)) return w;
  if (w.gap) throw gapError(name, w.gap);
  throw outOfRange(name, a, bases, `${shown} is past the binlog stored for "${name}"`);
}

/** TIME_OUT_OF_RANGE naming what can be restored, as binlog coordinates (each base's up to the end of its chain). */
export function outOfRange(name: string, a: ReturnType<typeof analyseMyPitr>, bases: MyBase[], what: string): CairnError {
  const ranges = a.windows.map((w) => {
    const m = bases.find((b) => b.snapshotId === w.snapshot)!.meta;
    const last = w.chain.at(-1);
    return `${m.binlogFile}:${m.binlogPos}${m.gtid ? ` (GTID ${m.gtid})` : ''} .. ${last ? `${last.name}:${last.size}` : `${m.binlogFile}:${m.binlogPos}`}`;
  });
  return new CairnError('TIME_OUT_OF_RANGE', `${what}; restorable: ${ranges.join(', ') || 'nothing'}`, { hint: 'see `cairn pitr ' + name + '`' });
}

export function gapError(name: string, g: MyGap): CairnError {
  return new CairnError('WAL_GAP', `the binlog chain of ${name} has a gap at ${g.from}${g.to !== g.from ? `..${g.to}` : ''}; restores past ${g.after} are impossible`, {
    hint: 'take a new dump now, and check that `cairn stream` runs (docs/runbooks/mariadb-pitr.md)',
  });
}
