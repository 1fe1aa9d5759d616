import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { systemRandom } from '../../src/core/random.js';
import type { SnapshotId } from '../../src/core/ids.js';
import { openBackend } from '../../src/backend/open-backend.js';
import { Repository } from '../../src/repository/repository.js';
import type { SnapshotBody } from '../../src/snapshot/snapshot.js';
import { analyseSqlite, loadBatches, sqliteBases, storeBatches, type SqliteBaseMeta } from '../../src/sources/sqlite/sqlite-catalog.js';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';

/**
 * `forget --keep-within` on a sqlite source, with an injected clock: keeps every base and
 * frame record a restore anywhere in the window needs.
 *
 * Fixture (day n = 2026-01-01 + n days): bases at days 0, 10, 20, 30, 40, base k in WAL
 * generation k at frame 0; one frame record per day d = 0..44, continuing the generation
 * of base ⌊d/10⌋·10 with frame d − k + 1 and a commit at day d + 1 h. Now = day 45, window
 * 30d → from day 15: the base of day 10 is needed (the newest captured before day 15),
 * day 0 is not, nor the records of days 0..9 (generation 0).
 */
const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const PS = 4096;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

let t: TempRepo;
let clock: FakeClock;
const bases: SnapshotId[] = [];
const recordOfDay = new Map<number, string>();

beforeAll(async () => {
  clock = new FakeClock(T0);
  t = await makeTempRepo({ clock });
  const src = join(t.dir, 'src');
  await fsp.mkdir(src);
  await fsp.writeFile(join(src, 'db.sqlite'), 'x');
  const s = await t.open();
  const { snapshot } = await s.backup({ paths: [src] });
  await s.forget({ ids: [snapshot.id] }); // only its tree is reused below
  await s.close();
  const repo = await Repository.open(openBackend(t.repo), t.password, { clock, random: systemRandom, cacheDir: ':memory:', threads: 0 });
  for (let k = 0; k <= 40; k += 10) {
    clock.set(T0 + k * DAY);
    const meta: SqliteBaseMeta = { kind: 'base', format: 1, path: '/srv/app.db', pageSize: PS, journalMode: 'wal', capturedAt: iso(T0 + k * DAY), gen: { salt1: k, salt2: 7 }, frame: 0, chk: [1, 2], dbPages: 1 };
    const body: SnapshotBody = {
      version: 1, time: new Date(T0 + k * DAY).toISOString(), host: 'h', user: 'root', uid: 0, gid: 0,
      source: { type: 'sqlite', name: 'app' }, paths: ['/srv/app.db'], tags: [], mode: 'full', parent: null,
      tree: snapshot.tree, program: 'test', sourceMeta: { ...meta },
    };
    bases.push(await repo.saveSnapshot(body));
  }
  for (let d = 0; d <= 44; d++) {
    const k = Math.floor(d / 10) * 10;
    const f = d - k + 1;
    clock.set(T0 + d * DAY + 3_600_000);
    const id = await storeBatches(repo, { name: 'app', path: '/srv/app.db', pageSize: PS }, [
      { sq: { gen: { salt1: k, salt2: 7 }, pageSize: PS, first: f, last: f, chk: [d, d], commits: [[f, iso(T0 + d * DAY + 3_600_000), 1]] }, bytes: randomBytes(24 + PS) },
    ]);
    recordOfDay.set(d, id!);
  }
  await repo.close();
  clock.set(T0 + 45 * DAY);
});

afterAll(async () => {
  await t?.cleanup();
});

describe('forget --keep-within on a sqlite source', () => {
  it('dry run: keeps the bases of days 10..40 (day 10 for the window start), drops day 0 and its frame records', async () => {
    const s = await t.open();
    try {
      const r = await s.forget({ policy: { keepWithin: '30d' }, filter: { source: 'app' }, dryRun: true });
      expect(new Set(r.removed)).toEqual(new Set([bases[0]]));
      const kept = r.groups.flatMap((g) => g.keep.map((k) => k.snapshot.id));
      expect(new Set(kept)).toEqual(new Set(bases.slice(1)));
      expect(r.wal).toHaveLength(1);
      expect(new Set(r.wal![0]!.removed)).toEqual(new Set([...Array(10).keys()].map((d) => recordOfDay.get(d))));
      expect(r.wal![0]!.kept).toBe(35);
      expect(await s.snapshots()).toHaveLength(5);
    } finally {
      await s.close();
    }
  });

  it('a policy that alone would drop the anchor base keeps it (reason PITR), and the window stays whole', async () => {
    const s = await t.open();
    try {
      // keep-last 1 alone keeps day 40 only; with keep-within 30d the bases of days 10..40 and their frames stay.
      const r = await s.forget({ policy: { keepLast: 1, keepWithin: '30d' }, filter: { source: 'app' } });
      const why = r.groups.flatMap((g) => g.keep).find((k) => k.snapshot.id === bases[1]);
      expect(why!.reasons.join(' ')).toMatch(/PITR/);
      const all = await s.snapshots();
      expect(all.map((x) => x.id).sort()).toEqual(bases.slice(1).sort());
    } finally {
      await s.close();
    }
    const repo = await Repository.open(openBackend(t.repo), t.password, { clock, random: systemRandom, cacheDir: join(t.dir, 'check-cache'), threads: 0 });
    try {
      const snaps = (await repo.listSnapshots()).map((x) => ({ id: x.id, time: x.body.time, source: x.body.source, sourceMeta: x.body.sourceMeta }));
      const { batches } = await loadBatches(repo, 'app');
      expect(batches).toHaveLength(35);
      const a = analyseSqlite(sqliteBases(snaps as never, 'app'), batches);
      // Every commit time of the window (day d + 1 h, d = 15..44) lies in the window of a kept base.
      for (let d = 15; d <= 44; d++) {
        const at = iso(T0 + d * DAY + 3_600_000);
        expect(a.windows.some((w) => w.from <= at && at <= w.to), `day ${d}`).toBe(true);
      }
      expect(a.windows.map((w) => w.from)[0]).toBe(iso(T0 + 10 * DAY));
    } finally {
      await repo.close();
    }
  });
});
