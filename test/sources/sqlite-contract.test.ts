import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sourceSuite } from './testing/source-suite.js';

/**
 * The shared source suite against a real SQLite file in WAL mode, written by this
 * process's own connection (the application) while `cairn stream` captures frames in
 * another process.
 */
let path = '';
let app: Database.Database | null = null;

sourceSuite({
  type: 'sqlite',
  name: 'app',
  hasLog: true,
  async start(dir, fillerBytes) {
    await mkdir(dir, { recursive: true });
    path = join(dir, 'app.db');
    app = new Database(path);
    app.pragma('journal_mode = WAL');
    app.pragma('busy_timeout = 10000');
    app.exec('CREATE TABLE u (id INTEGER PRIMARY KEY, pad TEXT); CREATE TABLE filler (id INTEGER PRIMARY KEY, b BLOB)');
    const ins = app.prepare('INSERT INTO filler (b) SELECT randomblob(4096) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT x FROM c)');
    ins.run(Math.ceil(fillerBytes / 4096));
    app.pragma('wal_checkpoint(TRUNCATE)');
  },
  async stop() {
    app?.close();
    app = null;
  },
  url: () => `sqlite://${path}`,
  async write(i) {
    app!.prepare('INSERT INTO u (id, pad) VALUES (?, ?)').run(i, 'x'.repeat(100));
  },
  async restoreArgs(target) {
    return ['--target', join(target, 'app.db')];
  },
  async read(target) {
    const d = new Database(join(target, 'app.db'), { readonly: true });
    try {
      return (d.prepare('SELECT id FROM u ORDER BY id').all() as { id: number }[]).map((r) => r.id);
    } finally {
      d.close();
    }
  },
});
