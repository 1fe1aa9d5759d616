import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { systemRandom } from '../../src/core/random.js';
import type { BlobId, SnapshotId } from '../../src/core/ids.js';
import { openBackend } from '../../src/backend/open-backend.js';
import { Repository } from '../../src/repository/repository.js';
import type { SnapshotBody } from '../../src/snapshot/snapshot.js';
import type { PgBaseMeta } from '../../src/sources/postgres/base-backup.js';
import { storeSegments, WalCatalog } from '../../src/sources/postgres/wal-catalog.js';
import { segmentName } from '../../src/sources/postgres/wal-name.js';
import { analysePitr } from '../../src/sources/postgres/pitr-windows.js';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';

/**
 * `forget --keep-within` on a postgres source, with an injected clock: keeps exactly
 * the base backups and WAL a restore anywhere in the window needs, and prune then frees
 * the rest while keeping every blob of the WAL that stays (reachability counts WAL).
 *
 * Fixture (day n = 2026-01-01 + n days): base backups at days 0, 10, 20, 30, 40; base
 * k starts in segment 10k+1; one WAL record per segment 1..45, segment s written on day
 * s − 1 with a commit at that time. Now = day 45, window 30d → from day 15: the base of
 * day 10 is needed (the newest one ending before day 15), day 0 is not; WAL before
 * segment 11 (base 10's start) is needed by no kept base.
 */
const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const SEG = 16 * 1024 * 1024;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
const seg = (n: number) => segmentName(1, n, SEG);

let t: TempRepo;
let clock: FakeClock;
const bases: SnapshotId[] = [];
const recordOfSegment = new Map<number, string>();
const blobsOfSegment = new Map<number, BlobId[]>();

beforeAll(async () => {
  clock = new FakeClock(T0);
  t = await makeTempRepo({ clock });
  const src = join(t.dir, 'src');
  await fsp.mkdir(src);
  await fsp.writeFile(join(src, 'PG_VERSION'), '15\n');
  const s = await t.open();
  const { snapshot } = await s.backup({ paths: [src] });
  await s.forget({ ids: [snapshot.id] }); // only its tree is reused below
  await s.close();
  const repo = await Repository.open(openBackend(t.repo), t.password, { clock, random: systemRandom, cacheDir: ':memory:', threads: 0 });
  for (let k = 0; k <= 40; k += 10) {
    clock.set(T0 + k * DAY);
    const meta: PgBaseMeta = {
      kind: 'base', systemId: '42', timeline: 1, serverVersion: '15', segmentSize: SEG,
      startLsn: '0/0', stopLsn: '0/0', startSegment: seg(k + 1), stopSegment: seg(k + 1),
      startTime: iso(T0 + k * DAY), stopTime: iso(T0 + k * DAY + 1000), walIncluded: true,
    };
    const body: SnapshotBody = {
      version: 1, time: new Date(T0 + k * DAY).toISOString(), host: 'db1', user: 'root', uid: 0, gid: 0,
      source: { type: 'postgres', name: 'db' }, paths: ['postgres://db1/'], tags: [], mode: 'full', parent: null,
      tree: snapshot.tree, program: 'test', sourceMeta: { ...meta },
    };
    bases.push(await repo.saveSnapshot(body));
  }
  for (let n = 1; n <= 45; n++) {
    clock.set(T0 + (n - 1) * DAY + 5000);
    const rec = await storeSegments(repo, { name: 'db', systemId: '42', segmentSize: SEG }, [
      { name: seg(n), partial: false, bytes: randomBytes(64 * 1024), firstCommit: iso(T0 + (n - 1) * DAY + 5000), lastCommit: iso(T0 + (n - 1) * DAY + 5000) },
    ]);
    recordOfSegment.set(n, rec!.id);
    blobsOfSegment.set(n, rec!.body.segments[0]!.content);
  }
  await repo.close();
  clock.set(T0 + 45 * DAY);
});

afterAll(async () => {
  await t?.cleanup();
});

describe('forget --keep-within on a postgres source', () => {
  it('dry run: keeps the bases of days 10..40 (day 10 for the window start), drops day 0 and the WAL before segment 11', async () => {
    const s = await t.open();
    try {
      const r = await s.forget({ policy: { keepWithin: '30d' }, filter: { source: 'db' }, dryRun: true });
      expect(r.dryRun).toBe(true);
      expect(new Set(r.removed)).toEqual(new Set([bases[0]]));
      const kept = r.groups.flatMap((g) => g.keep.map((k) => k.snapshot.id));
      expect(new Set(kept)).toEqual(new Set(bases.slice(1)));
      const why = r.groups.flatMap((g) => g.keep).find((k) => k.snapshot.id === bases[1])!.reasons;
      expect(why.join(' ')).toMatch(/PITR/);
      expect(r.wal).toHaveLength(1);
      expect(new Set(r.wal![0]!.removed)).toEqual(new Set([...Array(10).keys()].map((i) => recordOfSegment.get(i + 1))));
      expect(r.wal![0]!.kept).toBe(35);
      expect(r.wal![0]!.keepFrom).toBe(seg(11));
      expect(await s.snapshots()).toHaveLength(5); // nothing removed
    } finally {
      await s.close();
    }
  });

  it('for real, then prune: the window stays restorable, removed WAL blobs are freed, kept WAL blobs survive prune', async () => {
    const s = await t.open();
    try {
      await s.forget({ policy: { keepWithin: '30d' }, filter: { source: 'db' } });
      expect((await s.snapshots()).map((x) => x.id).sort()).toEqual(bases.slice(1).sort());
      // Two-phase prune: mark, then sweep (gc delay 0 and the fake clock is not moved).
      await s.prune({ gcDelayMs: 0, maxUnused: 0 });
      await s.prune({ gcDelayMs: 0, maxUnused: 0 });
    } finally {
      await s.close();
    }
    const repo = await Repository.open(openBackend(t.repo), t.password, { clock, random: systemRandom, cacheDir: join(t.dir, 'check-cache'), threads: 0 });
    try {
      const { syncIndex } = await import('../../src/repository/index-sync.js');
      await syncIndex(repo);
      const catalog = await WalCatalog.load(repo, 'db');
      expect([...catalog.best.keys()].sort()).toEqual([...Array(35).keys()].map((i) => seg(i + 11)));
      for (let n = 1; n <= 10; n++) for (const b of blobsOfSegment.get(n)!) expect(repo.index.find('data', b), `segment ${n}`).toBeUndefined();
      for (let n = 11; n <= 45; n++) for (const b of blobsOfSegment.get(n)!) expect((await repo.loadBlob('data', b)).length).toBe(64 * 1024);
      // Every point of the last 30 days is inside a window.
      const snaps = (await repo.listSnapshots()).map((x) => ({ snapshotId: x.id, time: x.body.time, meta: x.body.sourceMeta as unknown as PgBaseMeta }));
      const a = analysePitr(snaps, catalog);
      expect(a.gaps).toEqual([]);
      const windowStart = iso(T0 + 15 * DAY);
      expect(a.windows.some((w) => w.from <= windowStart && w.to >= iso(T0 + 44 * DAY))).toBe(true);
    } finally {
      await repo.close();
    }
  });
});
