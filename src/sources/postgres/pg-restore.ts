import { appendFile, chmod, chown, mkdir, readdir, writeFile, lstat, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { CairnError } from '../../core/errors/index.js';
import type { Repository } from '../../repository/repository.js';
import type { PgClient } from './pg-client.js';
import type { PitrAnalysis, PitrWindow } from './pitr-windows.js';
import { loadSegment, type CatalogSegment } from './wal-catalog.js';

/** The spool of prefetched segments inside the restored data directory. */
export const RESTORE_SPOOL = 'cairn_restore_wal';

export interface RestorePlan {
  window: PitrWindow;
  /** null: recover to the end of the chain (latest, or a time at/after its last commit). */
  targetTime: string | null;
  segments: CatalogSegment[];
}

/**
 * Chooses the base backup and the segments for a restore to `at` (a UTC ISO time with
 * microseconds, or 'latest'), before anything is written. The newest base whose
 * window holds the time wins. A time outside every window is refused: WAL_GAP when a
 * gap is what stops it, TIME_OUT_OF_RANGE otherwise. A target at or after the last
 * commit of the chain is dropped (recovery to the end of the WAL): PostgreSQL fails
 * with FATAL when the WAL ends before a recovery_target_time is passed.
 */
export function planRestore(name: string, analysis: PitrAnalysis, at: string | 'latest'): RestorePlan {
  const windows = analysis.windows;
  if (windows.length === 0) {
    throw new CairnError('SNAPSHOT_NOT_FOUND', `no base backup of postgres source "${name}"`, { hint: `take one with \`cairn backup postgres://… --name ${name}\`` });
  }
  const list = windows.map((w) => `${w.from} … ${w.to}`).join(', ');
  if (at === 'latest') {
    const w = [...windows].sort((a, b) => a.to.localeCompare(b.to) || a.from.localeCompare(b.from)).at(-1)!;
    if (w.gap || analysis.gapAfterNewestBase) {
      const g = w.gap ?? analysis.gaps.at(-1)!;
      throw new CairnError('WAL_GAP', `cannot restore "${name}" to the latest time: WAL segment${g.from === g.to ? ` ${g.from} is` : `s ${g.from}..${g.to} are`} ${g.reason === 'partial' ? 'only partially stored' : 'missing'}; restorable up to ${g.after}`, {
        hint: `restore with --at ${g.after} (or earlier), and take a new base backup now; see \`cairn pitr ${name}\``,
        details: { gap: g },
      });
    }
    return { window: w, targetTime: null, segments: w.chain };
  }
  const inside = windows.filter((w) => w.from <= at && at <= w.to).sort((a, b) => a.from.localeCompare(b.from));
  const w = inside.at(-1);
  if (!w) {
    const blocking = windows.filter((x) => x.from <= at && x.gap).sort((a, b) => a.to.localeCompare(b.to)).at(-1);
    if (blocking?.gap) {
      const g = blocking.gap;
      throw new CairnError('WAL_GAP', `cannot restore "${name}" to ${at}: WAL segment${g.from === g.to ? ` ${g.from} is` : `s ${g.from}..${g.to} are`} ${g.reason === 'partial' ? 'only partially stored' : 'missing'}; restorable up to ${g.after}`, {
        hint: `choose a time inside a window (${list}); see \`cairn pitr ${name}\``,
        details: { gap: g },
      });
    }
    throw new CairnError('TIME_OUT_OF_RANGE', `${at} is outside every restorable window of "${name}" (${list})`, {
      hint: `choose a time inside a window; see \`cairn pitr ${name}\``,
    });
  }
  const lastCommit = w.chain.reduce<string | undefined>((m, s) => (s.lastCommit && (!m || s.lastCommit > m) ? s.lastCommit : m), undefined);
  if (!lastCommit || at >= lastCommit) return { window: w, targetTime: null, segments: w.chain };
  // Recovery stops at the first commit after the target: fetch up to the segment holding it.
  const end = w.chain.findIndex((s) => s.lastCommit !== undefined && s.lastCommit > at);
  return { window: w, targetTime: at, segments: w.chain.slice(0, end + 1) };
}

/** The data directory must be new or empty: restoring into a live cluster would destroy it. */
export async function assertEmptyTarget(target: string): Promise<void> {
  try {
    const entries = await readdir(target);
    if (entries.length > 0) {
      throw new CairnError('USAGE', `--target ${target} is not empty`, { hint: 'restore a data directory into a new or empty directory' });
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * After the base backup's files are in `target`: prefetches the planned segments (in
 * parallel) into a spool inside it, writes recovery.signal and the recovery settings,
 * and hands the directory to the server's user. restore_command only copies from the
 * spool: the server never needs repository credentials (docs/sources/postgres.md).
 */
export async function prepareRecovery(
  repo: Repository,
  target: string,
  plan: RestorePlan,
  opts: { owner?: { uid: number; gid: number } | null; port?: number; parallel?: number },
): Promise<void> {
  const spool = join(target, RESTORE_SPOOL);
  await mkdir(spool, { recursive: true, mode: 0o700 });
  const limit = pLimit(opts.parallel ?? 4);
  const stopOffset = lsnOffset(plan.window.baseStopLsn, plan.window.segmentSize);
  await Promise.all(
    plan.segments.map((s) =>
      limit(async () => {
        const bytes = await loadSegment(repo, s);
        // A partial version of the base backup's stop segment that the streamer read
        // before the backup ended stops short of the backup's end LSN. Recovery prefers
        // restore_command over pg_wal/ and cannot reach consistency on it ("WAL ends
        // before end of online backup"): the base's own pg_wal copy reaches further then.
        if (s.partial && s === plan.window.chain[0] && partialExtent(bytes) < stopOffset) return;
        await writeFile(join(spool, s.name), bytes, { mode: 0o600 });
      }),
    ),
  );
  await writeFile(join(target, 'recovery.signal'), '');
  for (const f of ['postmaster.pid', 'postmaster.opts', 'standby.signal']) await rm(join(target, f), { force: true });
  const lines = [
    '',
    `# Written by cairn restore (${new Date().toISOString()}): point-in-time recovery.`,
    `restore_command = 'cp "${spool}/%f" "%p"'`,
    plan.targetTime ? `recovery_target_time = '${pgTimestamp(plan.targetTime)}'` : `# no recovery_target_time: recover to the end of the stored WAL`,
    `recovery_target_action = 'promote'`,
    `recovery_target_timeline = 'current'`,
    `archive_mode = 'off'`,
    ...(opts.port ? [`port = ${opts.port}`] : []),
    '',
  ];
  await appendFile(join(target, 'postgresql.auto.conf'), lines.join('\n'));
  await chmod(target, 0o700);
  if (opts.owner) await chownTree(target, opts.owner.uid, opts.owner.gid);
}

/** How far a zero-padded partial segment reaches: the offset just past its last non-zero byte. */
export function partialExtent(bytes: Uint8Array): number {
  let i = bytes.length;
  while (i > 0 && bytes[i - 1] === 0) i--;
  return i;
}

/** "0/3016610" → its byte offset inside its segment. */
export function lsnOffset(lsn: string, segmentSize: number): number {
  const m = /^([0-9A-Fa-f]+)\/([0-9A-Fa-f]+)$/.exec(lsn);
  if (!m) return 0;
  return Number((BigInt(`0x${m[1]}`) * 0x1_0000_0000n + BigInt(`0x${m[2]}`)) % BigInt(segmentSize));
}

/** "2026-11-27T03:56:41.804247Z" → "2026-11-27 03:56:41.804247+00" (always an explicit offset). */
export function pgTimestamp(iso: string): string {
  return iso.replace('T', ' ').replace(/Z$/, '+00');
}

/** uid/gid of a user from /etc/passwd (no extra dependency). */
export function lookupUser(name: string): { uid: number; gid: number } | null {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name) return { uid: Number(f[2]), gid: Number(f[3]) };
    }
  } catch {
    // no passwd file
  }
  return null;
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await chownTree(p, uid, gid);
    else if ((await lstat(p)).isSymbolicLink()) continue;
    else await chown(p, uid, gid);
  }
}

/**
 * Starts the restored cluster with pg_ctl (as its owner) and waits until recovery has
 * finished and the server is promoted (pg_is_in_recovery() false).
 */
export async function startAndWait(
  client: PgClient,
  target: string,
  opts: { port: number; owner: { uid: number; gid: number } | null; timeoutMs?: number; signal?: AbortSignal },
): Promise<void> {
  const as = opts.owner ? { uid: opts.owner.uid, gid: opts.owner.gid } : {};
  await client.run('pg_ctl', ['-D', target, '-l', join(target, 'cairn-restore.log'), '-o', `-p ${opts.port} -c unix_socket_directories=${target} -c listen_addresses=127.0.0.1`, '-w', '-t', '120', 'start'], as).catch((err) => {
    throw new CairnError('SOURCE_CONFIG', `the restored server did not start: ${(err as Error).message}`, {
      hint: `see ${join(target, 'cairn-restore.log')}`,
      cause: err,
    });
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 300_000);
  for (;;) {
    const r = await client
      .run('psql', ['-X', '-A', '-t', '-h', target, '-p', String(opts.port), '-U', 'postgres', '-d', 'postgres', '-c', 'SELECT pg_is_in_recovery()'], { ...as, timeoutMs: 10_000 })
      .catch(() => null);
    if (r && r.stdout.trim() === 'f') return;
    if (Date.now() > deadline || opts.signal?.aborted) {
      throw new CairnError('SOURCE_CONFIG', `the restored server did not finish recovery in time`, { hint: `see ${join(target, 'cairn-restore.log')}` });
    }
    if (!existsSync(join(target, 'postmaster.pid'))) {
      throw new CairnError('SOURCE_CONFIG', 'the restored server stopped during recovery', { hint: `see ${join(target, 'cairn-restore.log')}` });
    }
    await new Promise((r2) => setTimeout(r2, 200));
  }
}
