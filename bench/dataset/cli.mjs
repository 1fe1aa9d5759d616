#!/usr/bin/env node
// Standalone use of the dataset generator (npm run bench does this itself):
//   node bench/dataset/cli.mjs generate DIR [SIZE_MB=1500]
//   node bench/dataset/cli.mjs mutate DIR          (run it on a copy: it changes DIR in place)
//   node bench/dataset/cli.mjs manifest DIR        (print the sha256 manifest)
import { computeManifest, generate, mutate } from './index.mjs';

const [cmd, dir, size] = process.argv.slice(2);
const log = (m) => process.stderr.write(`${m}\n`);
const usage = 'usage: cli.mjs generate DIR [SIZE_MB] | mutate DIR | manifest DIR';
if (!dir) {
  log(usage);
  process.exit(2);
}
const t0 = Date.now();
if (cmd === 'generate') {
  const r = await generate(dir, size ? Number(size) : 1500, { log });
  console.log(`dataset ${r.dir}: ${r.files} files, ${r.bytes} bytes (${(r.bytes / 2 ** 20).toFixed(1)} MiB) ` +
    `in ${((Date.now() - t0) / 1000).toFixed(1)} s; manifest ${r.manifestPath} sha256 ${r.digest.slice(0, 16)}`);
} else if (cmd === 'mutate') {
  const { stats, manifest } = await mutate(dir, { log });
  console.log(`mutate: ${Object.entries(stats).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  console.log(`now ${manifest.files} files, ${manifest.bytes} bytes; manifest sha256 ${manifest.digest.slice(0, 16)}`);
} else if (cmd === 'manifest') {
  process.stdout.write((await computeManifest(dir)).text);
} else {
  log(usage);
  process.exit(2);
}
