#!/usr/bin/env node
// `npm run bench`: Cairn against restic and borg on one deterministic dataset, in one
// run, on this machine. See docs/benchmarks.md for what each figure means.
//
//   npm run bench [-- options]
//     --quick          ~150 MB dataset (143 MiB), finishes in under 2 minutes (development)
//     --size MB        dataset size in MiB (default 1500, or 143 with --quick)
//     --tools LIST     comma list of cairn,restic,borg (default all three)
//     --dir DIR        work directory (default bench/.data, git-ignored)
//     --keep           keep the work directory (dataset, repositories) afterwards
//     --no-write       print the table only; leave docs/benchmarks.md alone
//     --json FILE      also write the raw measurements as JSON
//     --build          run `npm run build` first (otherwise the current dist/ is measured)
//
// Cairn is a black box here: only `node bin/cairn.js` and its --json output are used.
import { spawnSync } from 'node:child_process';
import {
  chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, statfsSync, symlinkSync, writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { computeManifest, diffManifests, generate, mutate } from './dataset/index.mjs';
import { updateDocs } from './lib/docs.mjs';
import { describeMachine, machineInfo } from './lib/machine.mjs';
import { GNU_TIME, dropCaches, duBytes, run, tail } from './lib/proc.mjs';
import { buildTable, historyLine, metricsOf, tableMarkdown } from './lib/report.mjs';
import { borgTool, cairnTool, ensureInstalled, resticTool, toolVersion } from './lib/tools.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const ALL_TOOLS = ['cairn', 'restic', 'borg'];
const MARKER = '.cairn-bench-workdir';
const QUICK_LIMIT_S = 120;

const log = (msg = '') => process.stderr.write(`${msg}\n`);
const die = (msg, code = 2) => {
  log(`bench: ${msg}`);
  process.exit(code);
};

function parseArgs(argv) {
  const o = { quick: false, size: null, tools: ALL_TOOLS, keep: false, dir: null, write: true, json: null, build: false };
  const base = process.env.INIT_CWD ?? process.cwd(); // npm runs scripts from the package root
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v == null || v === '') die(`${a} needs a value`);
      return v;
    };
    const name = a.split('=')[0];
    if (name === '--quick') o.quick = true;
    else if (name === '--size') o.size = Number(val());
    else if (name === '--tools') o.tools = val().split(',').map((s) => s.trim()).filter(Boolean);
    else if (name === '--keep') o.keep = true;
    else if (name === '--dir') o.dir = resolve(base, val());
    else if (name === '--no-write') o.write = false;
    else if (name === '--json') o.json = resolve(base, val());
    else if (name === '--build') o.build = true;
    else if (name === '--help' || name === '-h') {
      process.stdout.write(`${readHeader()}\n`);
      process.exit(0);
    } else die(`unknown option ${a} (see --help)`);
  }
  if (o.size != null && !(o.size > 0)) die('--size must be a positive number of MiB');
  o.size ??= o.quick ? 143 : 1500; // 143 MiB ≈ 150 MB
  for (const t of o.tools) if (!ALL_TOOLS.includes(t)) die(`unknown tool "${t}" in --tools (choose from ${ALL_TOOLS.join(',')})`);
  o.tools = ALL_TOOLS.filter((t) => o.tools.includes(t));
  o.dir ??= join(HERE, '.data');
  return o;
}

function readHeader() {
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  return lines.slice(1, lines.findIndex((l) => l.startsWith('import'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n').trimEnd();
}

/** An empty work dir of ours: refuses to clear a directory that the bench did not create. */
function prepareWorkDir(dir) {
  if (existsSync(dir)) {
    const entries = readdirSync(dir);
    if (entries.length && !entries.includes(MARKER)) die(`${dir} exists, is not empty and is not a bench work dir; choose another --dir`);
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, MARKER), 'work directory of `npm run bench`; deleted and recreated by every run\n');
}

/**
 * Copy the built CLI (bin/, dist/, package.json, the native addon; node_modules linked)
 * into the work dir and run that copy for the whole run: other people rebuilding dist/
 * in this checkout mid-run must not change what is measured between two steps.
 * Falls back to the live checkout if the copy does not start.
 */
function snapshotBuild(dest) {
  mkdirSync(join(dest, 'native/build'), { recursive: true });
  const cp = (from, to) => spawnSync('cp', ['-a', from, to]).status === 0;
  let ok = cp(join(ROOT, 'bin'), dest) && cp(join(ROOT, 'dist'), dest) && cp(join(ROOT, 'package.json'), dest);
  if (ok && existsSync(join(ROOT, 'native/build/Release'))) ok = cp(join(ROOT, 'native/build/Release'), join(dest, 'native/build'));
  if (ok) {
    symlinkSync(join(ROOT, 'node_modules'), join(dest, 'node_modules'));
    ok = spawnSync(process.execPath, [join(dest, 'bin/cairn.js'), '--version']).status === 0;
  }
  if (ok) return dest;
  log('bench: warning: could not run a private copy of the cairn build; measuring the live checkout');
  return ROOT;
}

function newestMtime(dir, ext) {
  let newest = 0;
  if (!existsSync(dir)) return 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith(ext)) newest = Math.max(newest, statSync(join(e.parentPath ?? e.path, e.name)).mtimeMs);
  }
  return newest;
}

const fmtS = (s) => `${s.toFixed(2)} s`;
const fmtMB = (bytes, s) => `${(bytes / 1e6 / s).toFixed(1)} MB/s`;

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const started = new Date();

  // --- tools ------------------------------------------------------------------------
  if (opt.tools.includes('cairn')) {
    if (opt.build) {
      log('bench: npm run build');
      if (spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 2, 2] }).status !== 0) die('npm run build failed', 1);
    }
    if (!existsSync(join(ROOT, 'dist/bundle/main.js'))) die('cairn is not built (no dist/bundle/main.js): run `npm run build` or pass --build');
    if (newestMtime(join(ROOT, 'src'), '.ts') > newestMtime(join(ROOT, 'dist'), '.js')) {
      log('bench: warning: src/ has changes newer than dist/: this measures the last build (pass --build to rebuild first)');
    }
  }
  const { missing } = ensureInstalled([...opt.tools, ...(existsSync(GNU_TIME) ? [] : [GNU_TIME])], log);
  const notes = [];
  for (const [name, why] of missing) {
    if (name === GNU_TIME) {
      notes.push(`${GNU_TIME} is missing (${why}): peak RSS not measured`);
    } else {
      notes.push(`${name} skipped: not installed, and installing it failed (${why})`);
      log(`bench: SKIPPING ${name}: not installed, and \`apt-get install -y ${name === 'borg' ? 'borgbackup' : name}\` failed (${why})`);
    }
  }
  const tools = opt.tools.filter((t) => !missing.has(t));
  if (tools.length === 0) die('no tool left to measure', 1);

  // --- work dir, a private copy of the cairn build, machine -------------------------
  prepareWorkDir(opt.dir);
  const cairnRoot = tools.includes('cairn') ? snapshotBuild(join(opt.dir, 'cairn-build')) : ROOT;
  const versions = { node: process.version };
  for (const t of ALL_TOOLS) versions[t] = tools.includes(t) ? toolVersion(t, { bin: join(cairnRoot, 'bin/cairn.js'), git: ROOT }) : null;
  if (versions.restic && /^0\.(\d|1[0-3])\./.test(versions.restic)) {
    notes.push(`restic ${versions.restic} predates compression (0.14): its repository size is not comparable to the reference`);
  }

  const machine = machineInfo(opt.dir);
  const free = statfsSync(opt.dir);
  const need = opt.size * 2 ** 20 * 3.5; // dataset + three repositories + one restore at a time
  if (free.bavail * free.bsize < need) die(`not enough free space in ${opt.dir}: need ~${(need / 1e9).toFixed(1)} GB`, 1);
  const modeText = opt.quick ? `quick (${opt.size} MiB)` : `full (${opt.size} MiB)`;
  log(`bench: ${modeText} dataset, tools ${tools.join(', ')}, work dir ${opt.dir}`);
  log(`bench: machine ${describeMachine(machine)}; load average ${machine.load.toFixed(2)}`);
  log(`bench: versions node ${versions.node}, ${tools.map((t) => `${t} ${versions[t]}`).join(', ')}`);
  if (machine.load > machine.cores * 0.5) notes.push(`the machine was busy at the start (load average ${machine.load.toFixed(2)} on ${machine.cores} cores): figures may be low and noisy`);

  const password = 'cairn-bench-password';
  const passwordFile = join(opt.dir, 'password');
  writeFileSync(passwordFile, `${password}\n`);
  chmodSync(passwordFile, 0o600);
  const ctx = { root: cairnRoot, work: opt.dir, password, passwordFile };
  const adapters = tools.map((t) => ({ cairn: cairnTool, restic: resticTool, borg: borgTool })[t](ctx));
  const raw = Object.fromEntries(tools.map((t) => [t, { rssKiB: 0, errors: [] }]));

  // --- dataset ----------------------------------------------------------------------
  const setupSeconds = (Date.now() - t0) / 1000;
  log('\n== dataset');
  const dataDir = join(opt.dir, 'data');
  let tStep = Date.now();
  const gen = await generate(dataDir, opt.size, { log: (m) => log(`  ${m}`) });
  const dataset = { dir: dataDir, before: { files: gen.files, bytes: gen.bytes, digest: gen.digest } };
  log(`  ${gen.files} files, ${gen.bytes} bytes (${(gen.bytes / 2 ** 20).toFixed(1)} MiB), manifest ${gen.digest.slice(0, 12)}, ` +
    `generated in ${((Date.now() - tStep) / 1000).toFixed(1)} s`);

  let cacheNote = null;
  const overhead = { dataset: (Date.now() - tStep) / 1000, drop: 0, verify: 0, mutate: 0 };
  const drop = () => {
    const d = dropCaches();
    if (!d.ok) cacheNote ??= d.note;
    return d;
  };

  /** Run one measured command of `tool` for `step`; records time, status and peak RSS. */
  const measure = async (tool, step, spec) => {
    const tDrop = Date.now();
    const dropped = drop();
    overhead.drop += (Date.now() - tDrop) / 1000;
    const r = await run(spec.cmd, spec.args, { env: spec.env, cwd: spec.cwd, rssFile: join(opt.dir, `time-${tool.name}.txt`) });
    const status = r.signal ? 'error' : tool.classify(r.code, step);
    if (r.rssKiB) raw[tool.name].rssKiB = Math.max(raw[tool.name].rssKiB, r.rssKiB);
    const rss = r.rssKiB ? `, peak RSS ${(r.rssKiB / 1024).toFixed(0)} MiB` : '';
    if (status !== 'ok') {
      const what = `${tool.name} ${step}: exit ${r.code ?? r.signal}${status === 'warning' ? ' (warning)' : ''}`;
      raw[tool.name].errors.push(`${what}: ${tail(r.stderr, 3).replace(/\s+/g, ' ').slice(0, 300)}`);
      log(`  ${what}\n${tail(r.stderr).replace(/^/gm, '    | ')}`);
    }
    return { ...r, status, dropped: dropped.ok, rssText: rss };
  };

  // --- init -------------------------------------------------------------------------
  log('\n== init');
  for (const tool of adapters) {
    const r = await measure(tool, 'init', tool.init());
    raw[tool.name].init = { seconds: r.seconds, status: r.status };
    log(`  ${tool.name.padEnd(6)} ${fmtS(r.seconds)}${r.rssText}`);
    if (r.status === 'error') raw[tool.name].dead = true;
  }

  // --- backups: first (all tools), unchanged (all tools), mutate once, changed ------------
  const backup = async (n, step, bytes) => {
    log(`\n== ${step} backup`);
    for (const tool of adapters) {
      if (raw[tool.name].dead) continue;
      const r = await measure(tool, `backup ${step}`, tool.backup(n, dataDir));
      raw[tool.name][step] = { seconds: r.seconds, status: r.status };
      const speed = step === 'first' ? `  ${fmtMB(bytes, r.seconds)}` : '';
      log(`  ${tool.name.padEnd(6)} ${fmtS(r.seconds)}${speed}${r.rssText}  ${tool.describeBackup(r.stdout)}`);
    }
  };
  await backup(1, 'first', dataset.before.bytes);
  await backup(2, 'unchanged');

  log('\n== mutate (in place, once, for all tools)');
  tStep = Date.now();
  const mut = await mutate(dataDir, { log: (m) => log(`  ${m}`) });
  dataset.after = { files: mut.manifest.files, bytes: mut.manifest.bytes, digest: mut.manifest.digest };
  dataset.mutation = mut.stats;
  overhead.mutate = (Date.now() - tStep) / 1000;
  log(`  ${Object.entries(mut.stats).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  log(`  now ${mut.manifest.files} files, ${mut.manifest.bytes} bytes, manifest ${mut.manifest.digest.slice(0, 12)}, ` +
    `in ${((Date.now() - tStep) / 1000).toFixed(1)} s`);

  await backup(3, 'changed');

  log('\n== repository size (du -sb, after the three backups)');
  for (const tool of adapters) {
    if (raw[tool.name].dead) continue;
    raw[tool.name].repoBytes = duBytes(tool.repo);
    log(`  ${tool.name.padEnd(6)} ${(raw[tool.name].repoBytes / 1e6).toFixed(1)} MB`);
  }

  // --- restore of the last snapshot, verified against the manifest ------------------------
  log('\n== restore (latest snapshot, into an empty directory; then sha256 of every file compared)');
  for (const tool of adapters) {
    if (raw[tool.name].dead) continue;
    const target = join(opt.dir, 'restore', tool.name);
    mkdirSync(target, { recursive: true });
    const r = await measure(tool, 'restore', tool.restore(3, target));
    const restored = join(target, dataDir); // every tool recreates the absolute path below the target
    let verified = false;
    let restoredBytes = null;
    let detail;
    const tVerify = Date.now();
    if (existsSync(restored)) {
      const m = await computeManifest(restored);
      restoredBytes = m.bytes;
      verified = m.text === mut.manifest.text;
      if (!verified) {
        const d = diffManifests(mut.manifest.text, m.text, 6);
        detail = `${d.count} manifest lines differ:\n${d.lines.map((l) => `    ${l}`).join('\n')}`;
        raw[tool.name].errors.push(`${tool.name} restore is NOT identical to the dataset (${d.count} manifest lines differ)`);
      }
    } else {
      detail = `nothing restored at ${restored}`;
      raw[tool.name].errors.push(`${tool.name} restore: ${detail}`);
    }
    overhead.verify += (Date.now() - tVerify) / 1000;
    raw[tool.name].restore = { seconds: r.seconds, status: r.status, restoredBytes, verified };
    log(`  ${tool.name.padEnd(6)} ${fmtS(r.seconds)}  ${restoredBytes ? fmtMB(restoredBytes, r.seconds) : ''}${r.rssText}  ` +
      `${verified ? `identical (${mut.manifest.files} files)` : `NOT IDENTICAL: ${detail}`}`);
    if (!opt.keep) rmSync(join(opt.dir, 'restore', tool.name), { recursive: true, force: true });
  }

  // --- check with data ------------------------------------------------------------------
  log('\n== check with data (cairn check --read-data, restic check --read-data, borg check --verify-data)');
  for (const tool of adapters) {
    if (raw[tool.name].dead) continue;
    const r = await measure(tool, 'check', tool.check());
    raw[tool.name].check = { seconds: r.seconds, status: r.status };
    log(`  ${tool.name.padEnd(6)} ${fmtS(r.seconds)}  ${fmtMB(dataset.after.bytes, r.seconds)} of dataset${r.rssText}`);
  }

  // --- report -------------------------------------------------------------------------
  const values = Object.fromEntries(tools.map((t) => [t, metricsOf(raw[t], dataset)]));
  const table = buildTable(values, tools, { rssMeasured: !missing.has(GNU_TIME) });
  const elapsed = (Date.now() - t0) / 1000;
  const loadEnd = os.loadavg()[1];
  if (loadEnd > machine.cores * 0.5 && machine.load <= machine.cores * 0.5) {
    notes.push(`the machine got busy during the run (5-minute load average ${loadEnd.toFixed(2)} on ${machine.cores} cores): figures may be low and noisy`);
  }
  const measured = tools.reduce((sum, t) => sum + Object.values(raw[t]).reduce((a, x) => a + (x?.seconds ?? 0), 0), 0);
  log(`\nbench: ${elapsed.toFixed(0)} s in all: ${measured.toFixed(0)} s in timed backups/restores/checks, ` +
    `setup ${setupSeconds.toFixed(0)} s, dataset ${overhead.dataset.toFixed(0)} s, mutate ${overhead.mutate.toFixed(0)} s, ` +
    `cache drops ${overhead.drop.toFixed(0)} s, restore verification ${overhead.verify.toFixed(0)} s`);
  if (cacheNote) notes.push(cacheNote);
  for (const t of tools) notes.push(...raw[t].errors);
  if (opt.quick && elapsed > QUICK_LIMIT_S) notes.push(`--quick took ${elapsed.toFixed(0)} s, over its ${QUICK_LIMIT_S} s budget`);

  const when = started.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  const md = tableMarkdown(table);
  const details = [
    `- **Mode**: ${modeText}; the whole run took ${elapsed.toFixed(0)} s.`,
    `- **Dataset**: ${dataset.before.files.toLocaleString('en')} files, ${(dataset.before.bytes / 1e6).toFixed(1)} MB ` +
      `(manifest ${dataset.before.digest.slice(0, 12)}); after mutation ${dataset.after.files.toLocaleString('en')} files, ` +
      `${(dataset.after.bytes / 1e6).toFixed(1)} MB, ${(dataset.mutation.changedOrNewBytes / 1e6).toFixed(1)} MB changed or new.`,
    `- **Machine**: ${describeMachine(machine)}; load average ${machine.load.toFixed(2)} at the start, ` +
      `${loadEnd.toFixed(2)} over the last 5 minutes of the run (other work on the machine slows every tool).`,
    `- **Versions**: node ${versions.node}; ${ALL_TOOLS.map((t) => `${t} ${tools.includes(t) ? versions[t] : '(skipped)'}`).join('; ')}.`,
    `- **Page caches**: ${cacheNote ? `not dropped — ${cacheNote}` : 'dropped before every timed step'}.`,
    `- **Targets met**: ${table.summary.pass} of ${table.summary.pass + table.summary.fail}` +
      `${table.summary.na ? ` (${table.summary.na} not applicable: peer skipped or not measured)` : ''}.`,
  ];
  const resultsMd = `### ${when} — ${modeText}\n\n${details.join('\n')}\n\n${md}\n` +
    (notes.length ? `\nNotes:\n\n${notes.map((n) => `- ${n.replace(/\n/g, ' ')}`).join('\n')}\n` : '');

  process.stdout.write(`\n${md}\n\n`);
  for (const d of details) process.stdout.write(`${d.replace(/\*\*/g, '')}\n`);
  for (const n of notes) process.stdout.write(`note: ${n}\n`);

  if (opt.write) {
    const docPath = join(ROOT, 'docs/benchmarks.md');
    const what = updateDocs(docPath, resultsMd, historyLine({ when, modeText, versions, machine, table }));
    process.stdout.write(`\ndocs/benchmarks.md: ${what}\n`);
  }
  if (opt.json) {
    writeFileSync(opt.json, `${JSON.stringify({ when: started.toISOString(), mode: modeText, machine, versions, dataset, raw, values, summary: table.summary, notes }, null, 2)}\n`);
  }
  if (opt.keep) process.stdout.write(`work directory kept: ${opt.dir}\n`);
  else rmSync(opt.dir, { recursive: true, force: true });

  const broken = tools.some((t) => raw[t].errors.some((e) => !/\(warning\)/.test(e)));
  process.exitCode = broken ? 1 : 0;
}

main().catch((err) => {
  log(`bench: ${err?.stack ?? err}`);
  process.exit(1);
});
