// Measures the FastCDC cut finders in MB/s on one core (random data, so the cut
// distribution is realistic): the pure-JS FastCdc (the reference and fallback) and the
// native Chunker of the C addon (native/src/chunker.c), on the same data in the same
// run, and checks that both find the same cuts.
//
// The JS chunker runs from the compiled output: `npm run build` first, or point
// CAIRN_DIST at another tsc outDir. The native one is loaded straight from
// native/build/Release (`npm run build:native`); without it only JS is measured.
//
//   node bench/chunker-speed.mjs [MiB=256] [rounds=5]
//
// "MB/s" is wall-clock time; "cpu" divides by the process's CPU time instead, which is
// steadier on a shared machine (a descheduled process does not burn CPU time).
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';

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

let Chunker;
let nativeMissing;
if (process.env.CAIRN_NO_NATIVE && process.env.CAIRN_NO_NATIVE !== '0') {
  nativeMissing = 'disabled by CAIRN_NO_NATIVE';
} else {
  try {
    Chunker = createRequire(import.meta.url)('../native/build/Release/cairn_native.node').Chunker;
    if (typeof Chunker !== 'function') nativeMissing = 'the addon has no Chunker (rebuild: npm run build:native)';
  } catch (err) {
    nativeMissing = `cannot load the addon: ${String(err.message).split('\n')[0]}`;
  }
}

const mib = Number(process.argv[2] ?? 256);
const rounds = Number(process.argv[3] ?? 5);
const data = randomBytes(mib * 1024 * 1024);
const gear = gearMod.gearTable(randomBytes(32));
const PIECE = 1024 * 1024; // typical read size; also exercises state across update() calls

const finders = {
  js: (p) => new FastCdc(p, gear),
  native: Chunker ? (p) => new Chunker(p.min, p.avg, p.max, gear) : undefined,
};

function run(make, params) {
  const finder = make(params);
  const cuts = [];
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let off = 0; off < data.length; off += PIECE) {
    for (const c of finder.update(data.subarray(off, off + PIECE))) cuts.push(c);
  }
  for (const c of finder.finish()) cuts.push(c);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  return { mbps: data.length / 1e6 / s, cpuMbps: data.length / ((cpu.user + cpu.system) / 1e6) / 1e6, cuts };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
if (nativeMissing) console.log(`native chunker not measured: ${nativeMissing}`);

for (const [name, params] of [
  ['default 256K/1M/4M', DEFAULT_CHUNKER],
  ['small 2K/8K/32K', { min: 2048, avg: 8192, max: 32768 }],
]) {
  const kinds = Object.entries(finders).filter(([, make]) => make);
  const results = Object.fromEntries(kinds.map(([kind]) => [kind, []]));
  for (const [kind, make] of kinds) run(make, params); // warm-up: let V8 optimise the loop before timing
  // Interleaved, so a noisy neighbour slows both alike.
  for (let r = 0; r < rounds; r++) for (const [kind, make] of kinds) results[kind].push(run(make, params));
  const ref = results.js[0].cuts;
  for (const [kind, rs] of Object.entries(results)) {
    for (const r of rs) {
      if (r.cuts.length !== ref.length || r.cuts.some((c, i) => c !== ref[i])) {
        console.error(`${name}: ${kind} found different cuts than js`);
        process.exitCode = 1;
      }
    }
    const mbps = rs.map((r) => r.mbps);
    const cpu = rs.map((r) => r.cpuMbps);
    const mean = data.length / ref.length;
    console.log(
      `${name} ${kind.padEnd(6)}: median ${median(mbps).toFixed(0)} MB/s, best ${Math.max(...mbps).toFixed(0)} MB/s` +
        ` (cpu: median ${median(cpu).toFixed(0)}, best ${Math.max(...cpu).toFixed(0)}), mean chunk ${(mean / 1024).toFixed(1)} KiB over ${mib} MiB`,
    );
  }
  if (results.native) {
    const ratio = median(results.native.map((r) => r.mbps)) / median(results.js.map((r) => r.mbps));
    console.log(`${name}: native/js = ${ratio.toFixed(1)}x (median)`);
  }
}
