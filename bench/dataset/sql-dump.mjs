// A mysqldump-like SQL text: header, three tables, extended INSERT statements of 100
// rows each (one statement per line, like `mysqldump --extended-insert`). Compresses
// like a real dump (~3-4x with zstd) and, being one long text, is where an insertion in
// the middle (see mutate.mjs) tests content-defined chunking.
import { Rng } from './rng.mjs';
import { TextWriter } from './text-writer.mjs';
import { FAMILY, GIVEN, MAIL_DOMAINS, TOWNS, WORDS } from './words.mjs';

const ROWS_PER_INSERT = 100;
const ORDER_STATES = ['pending', 'paid', 'picking', 'shipped', 'delivered', 'returned', 'void'];
const EVENT_KINDS = ['view', 'cart_add', 'cart_remove', 'pay_start', 'pay_ok', 'pay_fail', 'ship_label', 'track'];

const TABLES = [
  {
    name: 'customers',
    share: 0.2,
    ddl: '`id` bigint unsigned NOT NULL,\n  `given_name` varchar(80) NOT NULL,\n  `family_name` varchar(80) NOT NULL,\n' +
      '  `email` varchar(254) NOT NULL,\n  `town` varchar(80) DEFAULT NULL,\n  `created_at` datetime NOT NULL,\n' +
      '  `credit` decimal(12,2) NOT NULL DEFAULT 0.00,\n  `state` enum(\'active\',\'dormant\') NOT NULL',
    row: (r, id) => {
      const g = r.pick(GIVEN);
      const f = r.pick(FAMILY);
      return `(${id},'${g}','${f}','${g.toLowerCase()}.${f.toLowerCase()}${r.int(1, 9999)}@${r.pick(MAIL_DOMAINS)}',` +
        `'${r.pick(TOWNS)}','${stamp(r)}',${r.int(0, 250000)}.${two(r.below(100))},'${r.chance(7, 8) ? 'active' : 'dormant'}')`;
    },
  },
  {
    name: 'orders',
    share: 0.45,
    ddl: '`id` bigint unsigned NOT NULL,\n  `customer_id` bigint unsigned NOT NULL,\n  `sku` char(10) NOT NULL,\n' +
      '  `quantity` smallint NOT NULL,\n  `unit_price` decimal(10,2) NOT NULL,\n  `state` varchar(12) NOT NULL,\n' +
      '  `placed_at` datetime NOT NULL,\n  `comment` text',
    row: orderRow,
  },
  {
    name: 'order_events',
    share: 0.35,
    ddl: '`id` bigint unsigned NOT NULL,\n  `order_id` bigint unsigned NOT NULL,\n  `at` datetime NOT NULL,\n' +
      '  `kind` varchar(16) NOT NULL,\n  `detail` json DEFAULT NULL',
    row: (r, id) =>
      `(${id},${r.int(1, 3000000)},'${stamp(r)}','${r.pick(EVENT_KINDS)}',` +
      `'{"trace":"${r.hex64()}","step":${r.below(12)},"latency_ms":${r.skewed(8000)},"ok":${r.chance(19, 20)}}')`,
  },
];

function orderRow(r, id) {
  const n = r.below(9);
  let comment = '';
  for (let i = 0; i < n; i++) comment += (i ? ' ' : '') + r.pick(WORDS);
  return `(${id},${r.int(1, 800000)},'SKU-${String(r.below(100000)).padStart(6, '0')}',${r.int(1, 12)},` +
    `${r.int(1, 4999)}.${two(r.below(100))},'${r.pick(ORDER_STATES)}','${stamp(r)}',${n ? `'${comment}'` : 'NULL'})`;
}

function two(n) {
  return n < 10 ? `0${n}` : String(n);
}

function stamp(r) {
  return `2023-${two(r.int(1, 12))}-${two(r.int(1, 28))} ${two(r.below(24))}:${two(r.below(60))}:${two(r.below(60))}`;
}

/**
 * Write a full dump of about `bytes` bytes (it stops after the statement that reaches
 * the size, so it overshoots by under one line, ~20 KiB).
 */
export function writeSqlDump(path, bytes, seed = 'sql') {
  const r = new Rng(seed);
  const w = new TextWriter(path);
  w.write('-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)\n--\n' +
    '-- Host: db-1.internal    Database: storefront\n' +
    '-- ------------------------------------------------------\n-- Server version\t10.11.6-MariaDB-0+deb12u1\n\n' +
    '/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n/*!40101 SET NAMES utf8mb4 */;\n' +
    '/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;\n/*!40103 SET TIME_ZONE=\'+00:00\' */;\n' +
    '/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;\n\n');
  let id = 1;
  for (const t of TABLES) {
    const end = w.bytes + Math.floor(bytes * t.share);
    w.write(`--\n-- Table structure for table \`${t.name}\`\n--\n\nDROP TABLE IF EXISTS \`${t.name}\`;\n` +
      `CREATE TABLE \`${t.name}\` (\n  ${t.ddl},\n  PRIMARY KEY (\`id\`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\n` +
      `--\n-- Dumping data for table \`${t.name}\`\n--\n\nLOCK TABLES \`${t.name}\` WRITE;\n` +
      `/*!40000 ALTER TABLE \`${t.name}\` DISABLE KEYS */;\n`);
    while (w.bytes < end) id = insertLine(w, t, r, id);
    w.write(`/*!40000 ALTER TABLE \`${t.name}\` ENABLE KEYS */;\nUNLOCK TABLES;\n\n`);
  }
  w.write('/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;\n\n' +
    '-- Dump completed on 2024-01-01  0:00:00\n');
  w.close();
  return w.bytes;
}

/**
 * INSERT lines only (into `orders`, ids from `firstId`), about `bytes` long: what
 * mutate.mjs splices into the middle of a dump, as if rows had been added to a table.
 */
export function sqlInsertBlock(bytes, seed, firstId) {
  const r = new Rng(seed);
  const parts = [];
  const sink = { bytes: 0, write: (s) => { parts.push(s); sink.bytes += s.length; } };
  let id = firstId;
  while (sink.bytes < bytes) id = insertLine(sink, TABLES[1], r, id);
  return parts.join('');
}

function insertLine(w, t, r, id) {
  const rows = new Array(ROWS_PER_INSERT);
  for (let i = 0; i < ROWS_PER_INSERT; i++) rows[i] = t.row(r, id++);
  w.write(`INSERT INTO \`${t.name}\` VALUES ${rows.join(',')};\n`);
  return id;
}
