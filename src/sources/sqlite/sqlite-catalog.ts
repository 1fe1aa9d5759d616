import type { SnapshotInfo } from '../../engine/types.js';
import type { Repository } from '../../repository/repository.js';
import type { WalSegmentEntry } from '../../snapshot/wal-record.js';
import { isoMicros } from '../../util/iso-micros.js';
import { loadLogEntry, storeLogEntries, type LogRecord } from '../log-catalog.js';
import { mergeWindows } from '../merge-windows.js';

export const SQLITE = 'sqlite';

/** A WAL generation: the header salts (a WAL reset changes them; salt1 grows by one). */
export interface Gen {
  salt1: number;
  salt2: number;
}

/** sourceMeta of a base snapshot (docs/repository-format.md, "SQLite sources"). */
export interface SqliteBaseMeta {
  kind: 'base';
  format: 1;
  path: string;
  pageSize: number;
  journalMode: string;
  /** When the copy was taken (under the write lock): the base holds every commit seen before. */
  capturedAt: string;
  /** WAL position the copy equals (wal mode): generation, last frame included, running checksum there. */
  gen: Gen | null;
  frame: number;
  chk: [number, number] | null;
  dbPages: number;
}

/** `meta.sqlite` of a stored frame batch. */
export interface FrameBatchMeta {
  gen: Gen;
  pageSize: number;
  /** First and last frame index (1-based, inclusive). */
  first: number;
  last: number;
  /** Running checksum after `last` (where a restarted streamer resumes). */
  chk: [number, number];
  /** Commit frames: [frame index, arrival time (UTC, microseconds), db size in pages]. */
  commits: [number, string, number][];
  /** For the first batch of a generation the streamer started itself: the generation before and its last frame. */
  prev?: { gen: Gen; last: number };
}

export interface Batch extends WalSegmentEntry {
  recordId: string;
  sq: FrameBatchMeta;
}

export function genKey(g: Gen): string {
  return `${hex8(g.salt1)}${hex8(g.salt2)}`;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** Every stored frame batch of one sqlite source, oldest first. */
export async function loadBatches(repo: Repository, name: string): Promise<{ records: number; batches: Batch[] }> {
  const recs = (await repo.listWalRecords()).filter((r) => r.body.source.type === SQLITE && r.body.source.name === name);
  return { records: recs.length, batches: batchesOf(recs) };
}

/** The frame batches the records name, oldest first. */
export function batchesOf(records: LogRecord[]): Batch[] {
  const batches: Batch[] = [];
  for (const r of records) for (const s of r.body.segments) if (s.meta?.sqlite) batches.push({ ...s, recordId: r.id, sq: s.meta.sqlite as FrameBatchMeta });
  batches.sort((a, b) => a.received.localeCompare(b.received) || a.sq.first - b.sq.first);
  return batches;
}

export interface PendingBatch {
  sq: FrameBatchMeta;
  bytes: Buffer;
}

/** Stores frame batches as data blobs and then one WAL record naming them (after the index file). */
export async function storeBatches(repo: Repository, source: { name: string; path: string; pageSize: number }, batches: PendingBatch[]): Promise<string | null> {
  const rec = await storeLogEntries(
    repo,
    { type: SQLITE, name: source.name, systemId: source.path, segmentSize: source.pageSize },
    batches.map((b) => ({
      name: `${genKey(b.sq.gen)}-${String(b.sq.first).padStart(10, '0')}`,
      partial: false,
      bytes: b.bytes,
      received: isoMicros(repo.deps.clock.now()),
      ...(b.sq.commits.length > 0 ? { firstCommit: b.sq.commits[0]![1], lastCommit: b.sq.commits.at(-1)![1] } : {}),
      meta: { sqlite: b.sq },
    })),
  );
  return rec?.id ?? null;
}

export function loadBatchBytes(repo: Repository, b: Batch): Promise<Buffer> {
  return loadLogEntry(repo, b, 'SQLite frame batch');
}

// ---- windows -----------------------------------------------------------------------

export interface SqliteBase {
  snapshot: SnapshotInfo;
  meta: SqliteBaseMeta;
}

export interface SqliteWindow {
  base: SqliteBase;
  from: string;
  to: string;
  /** Batches applied after the base, in order (frames ≤ the base's frame are skipped within the first). */
  chain: Batch[];
  commits: number;
}

export function sqliteBases(all: SnapshotInfo[], name: string): SqliteBase[] {
  return all
    .filter((s) => s.source.type === SQLITE && s.source.name === name && (s.sourceMeta as SqliteBaseMeta | undefined)?.kind === 'base')
    .map((s) => ({ snapshot: s, meta: s.sourceMeta as unknown as SqliteBaseMeta }))
    .sort((a, b) => a.meta.capturedAt.localeCompare(b.meta.capturedAt));
}

/**
 * The chain of one base: batches of its WAL generation that continue its frame
 * contiguously, then — through a batch whose `prev` names the generation and the last
 * frame reached — the next generation from frame 1, and so on. A missing frame range
 * ends the chain: continuity is computed from what is stored, never assumed.
 */
export function chainOf(base: SqliteBase, batches: Batch[]): SqliteWindow {
  const from = base.meta.capturedAt;
  const chain: Batch[] = [];
  let to = from;
  let commits = 0;
  if (base.meta.gen) {
    let gen = base.meta.gen;
    let pos = base.meta.frame;
    for (let guard = 0; guard < 1_000_000; guard++) {
      const k = genKey(gen);
      const next = batches.find((b) => genKey(b.sq.gen) === k && b.sq.first <= pos + 1 && b.sq.last > pos);
      if (next) {
        chain.push(next);
        for (const c of next.sq.commits) {
          if (c[0] > pos) {
            commits++;
            if (c[1] > to) to = c[1];
          }
        }
        pos = next.sq.last;
        continue;
      }
      const step = batches.find((b) => b.sq.prev && genKey(b.sq.prev.gen) === k && b.sq.prev.last === pos && b.sq.first === 1);
      if (!step) break;
      gen = step.sq.gen;
      pos = 0;
    }
  }
  return { base, from, to, chain, commits };
}

export interface SqliteAnalysis {
  windows: SqliteWindow[];
  merged: { from: string; to: string }[];
  gaps: { from: string; to: string }[];
  gapAfterNewestBase: boolean;
}

export function analyseSqlite(bases: SqliteBase[], batches: Batch[]): SqliteAnalysis {
  const windows = bases.map((b) => chainOf(b, batches));
  const merged = mergeWindows(windows);
  const continuous = bases.some((b) => b.meta.gen !== null) || batches.length > 0;
  const gaps: { from: string; to: string }[] = [];
  if (continuous) for (let i = 1; i < merged.length; i++) gaps.push({ from: merged[i - 1]!.to, to: merged[i]!.from });
  // The newest base's chain should reach the newest stored commit.
  const newest = windows.at(-1);
  const lastStored = batches.reduce((m, b) => (b.lastCommit && b.lastCommit > m ? b.lastCommit : m), '');
  const gapAfterNewestBase = !!newest && lastStored > newest.to;
  if (gapAfterNewestBase) gaps.push({ from: newest!.to, to: lastStored });
  return { windows, merged, gaps, gapAfterNewestBase };
}
