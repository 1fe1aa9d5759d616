import { describe } from 'vitest';
import { mariadbUnavailable, startMariadb, type MariadbServer } from '../helpers/mariadb-server.js';
import { sourceSuite } from './testing/source-suite.js';

/**
 * The shared source suite against a private mariadbd (binlog on, free port); restores
 * go `--to` a second private server, emptied before each. Units are rows of shop.t.
 */
const skip = mariadbUnavailable();
let a: MariadbServer | null = null;
let b: MariadbServer | null = null;

const ids = async (server: MariadbServer) => (await server.sql('SELECT id FROM shop.t ORDER BY id')).split('\n').filter(Boolean).map(Number);

describe.skipIf(skip !== null)('mariadb', () => {
  sourceSuite({
    type: 'mariadb',
    name: 'db1',
    hasLog: true,
    async start(_dir, fillerBytes) {
      [a, b] = await Promise.all([startMariadb(), startMariadb()]);
      // ~1 KiB of distinct text per filler row.
      const row = Array.from({ length: 8 }, (_, k) => `SHA2(CONCAT(seq, '/${k}'), 512)`).join(', ');
      await a.sql(
        `CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY, at DATETIME(6)); CREATE TABLE shop.f (id INT PRIMARY KEY, v TEXT);` +
          ` INSERT INTO shop.f SELECT seq, CONCAT(${row}) FROM shop.seq_1_to_${Math.ceil(fillerBytes / 1024)}`,
      );
    },
    async stop() {
      await Promise.all([a?.stop(), b?.stop()]);
    },
    url: () => a!.url,
    async write(i) {
      await a!.sql(`INSERT INTO shop.t VALUES (${i}, NOW(6))`);
    },
    async restoreArgs() {
      await b!.sql('DROP DATABASE IF EXISTS shop');
      return ['--to', b!.url];
    },
    read: () => ids(b!),
  });
});
