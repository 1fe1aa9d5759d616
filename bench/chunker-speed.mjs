// Measures the pure-JS FastCDC cut finder in MB/s on one core (random data, so the
// cut distribution is realistic). Runs against the compiled output: `npm run build`
// first, or point CAIRN_DIST at another tsc outDir.
//
//   node bench/chunker-speed.mjs [MiB=256] [rounds=5]
import { randomBytes } from 'node:crypto';

const dist = process.env.CAIRN_DIST ? new URL(`file://${process.env.CAIRN_DIST.replace(/\/?$/, '/')}`) : new URL('../dist/', import.meta.url);
let mod, gearMod;
try {
  mod = await import(new URL('chunker/fast-cdc.js', dist).href);
  gearMod = await import(new URL('chunker/gear-table.js', dist).href);
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
  process.stderr.write(`chunker-speed: no compiled chunker under ${dist.pathname}; run \`npm run build\` first\n`);
  process.exit(1);
}
const { FastCdc, DEFAULT_CHUNKER } = mod;

const mib = Number(process.argv[2] ?? 256);
const rounds = Number(process.argv[3] ?? 5);
const data = randomBytes(mib * 1024 * 1024);
const gear = gearMod.gearTable(randomBytes(32));
const PIECE = 1024 * 1024; // typical read size; also exercises state across update() calls

function run(params) {
  const finder = new FastCdc(params, gear);
  let chunks = 0;
  const t0 = process.hrtime.bigint();
  for (let off = 0; off < data.length; off += PIECE) chunks += finder.update(data.subarray(off, off + PIECE)).length;
  chunks += finder.finish().length;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { mbps: data.length / 1e6 / s, chunks };
}

for (const [name, params] of [
  ['default 256K/1M/4M', DEFAULT_CHUNKER],
  ['small 2K/8K/32K', { min: 2048, avg: 8192, max: 32768 }],
]) {
  run(params); // warm-up: let V8 optimise the loop before timing
  const results = Array.from({ length: rounds }, () => run(params));
  const best = Math.max(...results.map((r) => r.mbps));
  const median = results.map((r) => r.mbps).sort((a, b) => a - b)[Math.floor(rounds / 2)];
  const mean = data.length / results[0].chunks;
  console.log(`${name}: median ${median.toFixed(0)} MB/s, best ${best.toFixed(0)} MB/s, mean chunk ${(mean / 1024).toFixed(1)} KiB over ${mib} MiB`);
}
