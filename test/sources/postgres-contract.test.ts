import { describe } from 'vitest';
import { freePort, pgUnavailable, psqlAt, startPgCluster, stopDataDir, type PgCluster } from '../helpers/pg-cluster.js';
import { sourceSuite } from './testing/source-suite.js';

/**
 * The shared source suite against a private PostgreSQL cluster (track_commit_timestamp
 * on, so T is chosen between exact commit times); a restore is started on a free port
 * (`--start --port`) and queried. Units are rows of t.
 */
const skip = pgUnavailable();
let pg: PgCluster | null = null;
const ports = new Map<string, number>();

describe.skipIf(skip !== null)('postgres', () => {
  sourceSuite({
    type: 'postgres',
    name: 'db1',
    hasLog: true,
    streamFirst: true,
    async start(_dir, fillerBytes) {
      pg = await startPgCluster({ track_commit_timestamp: 'on' });
      const row = Array.from({ length: 6 }, (_, k) => `md5((g * 7 + ${k})::text)`).join(' || ');
      await pg.sql(`CREATE TABLE t (id int PRIMARY KEY); CREATE TABLE f (id int PRIMARY KEY, v text); INSERT INTO f SELECT g, ${row} FROM generate_series(1, ${Math.ceil(fillerBytes / 230)}) g`);
    },
    async stop() {
      await pg?.stop();
    },
    url: () => pg!.url,
    async write(i) {
      await pg!.sql(`INSERT INTO t VALUES (${i})`);
    },
    async commitTime(i) {
      return pg!.sql(`SELECT to_char(pg_xact_commit_timestamp(xmin) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM t WHERE id = ${i}`);
    },
    async restoreArgs(target) {
      const port = await freePort();
      ports.set(target, port);
      return ['--target', target, '--start', '--port', String(port)];
    },
    async read(target) {
      const rows = await psqlAt(ports.get(target)!, 'SELECT id FROM t ORDER BY id', target);
      return rows === '' ? [] : rows.split('\n').map(Number);
    },
    async cleanupRestore(target) {
      await stopDataDir(target);
    },
  });
});
