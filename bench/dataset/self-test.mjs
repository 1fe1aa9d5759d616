#!/usr/bin/env node
// Checks the dataset generator's promises on a small dataset (about 30 s):
// generating twice gives identical trees, mutating two copies gives identical trees,
// the mutation changes what it says, and the tar is readable by tar(1).
//   node bench/dataset/self-test.mjs [SIZE_MB=24]
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffManifests, generate, mutate } from './index.mjs';

const size = Number(process.argv[2] ?? 24);
const base = mkdtempSync(join(tmpdir(), 'cairn-bench-selftest-'));
const ok = (m) => console.log(`ok - ${m}`);
try {
  const a = await generate(join(base, 'a'), size);
  const b = await generate(join(base, 'b'), size);
  assert.equal(a.text, b.text, 'two generations differ');
  ok(`generate is deterministic (${a.files} files, ${a.bytes} bytes, manifest ${a.digest.slice(0, 12)})`);
  assert.ok(Math.abs(a.bytes - a.plan.total) < 2 * 2 ** 20, `size ${a.bytes} is far from the plan ${a.plan.total}`);
  ok('size matches the plan within 2 MiB');

  const tar = spawnSync('tar', ['-tf', join(base, 'a/archive/share-docs.tar')], { encoding: 'utf8' });
  assert.equal(tar.status, 0, tar.stderr);
  const members = tar.stdout.trim().split('\n');
  for (const m of members.slice(0, 50)) {
    assert.ok(existsSync(join(base, 'a/sys', m)), `tar member ${m} is not in the tree`);
  }
  mkdirSync(join(base, 't'));
  const x = spawnSync('tar', ['-xf', join(base, 'a/archive/share-docs.tar'), '-C', join(base, 't')], { encoding: 'utf8' });
  assert.equal(x.status, 0, x.stderr);
  for (const m of members) {
    assert.ok(readFileSync(join(base, 't', m)).equals(readFileSync(join(base, 'a/sys', m))), `tar member ${m} differs`);
  }
  ok(`tar is readable by tar(1): ${members.length} members, all duplicates of files in the tree`);

  const ma = await mutate(join(base, 'a'));
  const mb = await mutate(join(base, 'b'));
  assert.equal(ma.manifest.text, mb.manifest.text, 'two mutations differ');
  ok('mutate is deterministic');
  const d = diffManifests(a.text, ma.manifest.text, 0);
  assert.ok(d.count > 0);
  assert.equal(ma.stats.newFiles, 200);
  assert.ok(ma.stats.deletedFiles > 0 && ma.stats.deletedFiles <= 100);
  assert.equal(ma.manifest.files, a.files + ma.stats.newFiles - ma.stats.deletedFiles);
  const sql = readFileSync(join(base, 'a/db/dump.sql'), 'latin1');
  assert.ok(sql.includes('INSERT INTO `orders` VALUES (50000000,'), 'inserted rows missing');
  assert.ok(statSync(join(base, 'a/media/random.bin')).size === a.plan.random, 'random.bin changed size');
  await assert.rejects(mutate(join(base, 'a')), /already mutated/);
  ok(`mutate changed ${(ma.stats.changedOrNewBytes / 2 ** 20).toFixed(1)} MiB: ${JSON.stringify(ma.stats)}`);
} finally {
  rmSync(base, { recursive: true, force: true });
}
