import { CairnError } from '../../core/errors/index.js';
import type { Repository } from '../../repository/repository.js';
import { loadBinlog, type BinlogCatalog } from './binlog-catalog.js';
import { binlogNumber, checkCut, scanBinlog } from './binlog-events.js';
import type { MyTarget } from './binlog-target.js';
import { analyseMyPitr, chooseWindow, chooseWindowAtPosition, gapError, outOfRange, type MyBase, type MyWindow } from './mariadb-pitr.js';

/**
 * What a restore does, decided before anything is written: the base, its binlog chain,
 * and where the replay stops — the first transaction after a second (`cutSec`, --at),
 * or an exact position (`stopAt`, from --at-position, or the end of the --at-gtid
 * transaction). A position is checked against the stored bytes here, so a bad one is
 * refused before a dump is loaded or a data directory built.
 */
export interface RestorePlan {
  window: MyWindow;
  base: MyBase;
  cutSec: number | null;
  stopAt: { file: string; pos: number } | null;
}

export async function planRestore(repo: Repository, name: string, bases: MyBase[], catalog: BinlogCatalog, target: MyTarget): Promise<RestorePlan> {
  const a = analyseMyPitr(bases, catalog);
  const baseOf = (w: MyWindow) => bases.find((b) => b.snapshotId === w.snapshot)!;
  if (target.kind === 'time') {
    const w = chooseWindow(name, a, target.at);
    return { window: w, base: baseOf(w), cutSec: target.at === 'latest' ? null : Math.floor(Date.parse(target.at) / 1000), stopAt: null };
  }
  let stopAt: { file: string; pos: number };
  let shown: string;
  if (target.kind === 'gtid') {
    if (a.windows.length === 0) chooseWindow(name, a, 'latest'); // SNAPSHOT_NOT_FOUND
    stopAt = await locateGtid(repo, name, a, bases, catalog, target.gtid);
    shown = `GTID ${target.gtid}`;
  } else {
    stopAt = { file: target.file, pos: target.pos };
    shown = `${target.file}:${target.pos}`;
  }
  const w = chooseWindowAtPosition(name, a, bases, stopAt, shown);
  if (target.kind === 'position') {
    const entry = w.chain.find((f) => f.name === stopAt.file)!;
    const bytes = await loadBinlog(repo, entry);
    const cut = checkCut(bytes, scanBinlog(bytes), stopAt.pos);
    if (!cut.ok) {
      if (cut.reason === 'past-end') {
        if (w.gap) throw gapError(name, w.gap);
        throw outOfRange(name, a, bases, `${shown} is past the binlog stored for "${name}" (${stopAt.file} is replayable up to ${cut.safeEnd})`);
      }
      if (cut.reason === 'inside-transaction') {
        const g = cut.group;
        throw new CairnError('USAGE', `--at-position ${shown} is inside transaction ${g.gtid} (${stopAt.file}:${g.start}..${g.end}); a restore never cuts a transaction`, {
          hint: `use --at-position ${stopAt.file}:${g.start} (without it) or ${stopAt.file}:${g.end} (with it), or --at-gtid ${g.gtid}`,
        });
      }
      throw new CairnError('USAGE', `--at-position ${shown} is not the start of a binlog event (the nearest are ${cut.before} and ${cut.after})`, {
        hint: 'take positions from SHOW MASTER STATUS, SHOW BINLOG EVENTS (Pos, End_log_pos) or the "# at" lines of mariadb-binlog',
      });
    }
  }
  return { window: w, base: baseOf(w), cutSec: null, stopAt };
}

/**
 * The end of the transaction with this GTID in the stored binlog (scanned from the
 * oldest base's file on). Not there: TIME_OUT_OF_RANGE naming the GTIDs of that domain
 * that are stored.
 */
async function locateGtid(repo: Repository, name: string, a: ReturnType<typeof analyseMyPitr>, bases: MyBase[], catalog: BinlogCatalog, gtid: string): Promise<{ file: string; pos: number }> {
  const from = Math.min(...bases.map((b) => binlogNumber(b.meta.binlogFile) ?? Infinity));
  const domain = gtid.split('-')[0]!;
  let first: string | null = null;
  let last: string | null = null;
  for (const [n, entry] of [...catalog.byNumber().entries()].sort((x, y) => x[0] - y[0])) {
    if (n < from) continue;
    const bytes = await loadBinlog(repo, entry);
    const scan = scanBinlog(bytes);
    const g = scan.groups.find((x) => x.gtid === gtid);
    if (g) return { file: entry.name, pos: g.end };
    for (const x of scan.groups) {
      if (x.gtid.split('-')[0] !== domain) continue;
      first ??= x.gtid;
      last = x.gtid;
    }
  }
  const stored = first ? `domain ${domain} holds ${first} .. ${last}` : `no transaction of domain ${domain}`;
  return Promise.reject(outOfRange(name, a, bases, `GTID ${gtid} is not in the binlog stored for "${name}" (${stored})`));
}
