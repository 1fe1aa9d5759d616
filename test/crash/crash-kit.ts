import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { expect } from 'vitest';
import { LocalBackend } from '../../src/backend/local-backend.js';
import { systemClock } from '../../src/core/clock.js';
import { systemRandom } from '../../src/core/random.js';
import { decodeIndexFile } from '../../src/repository/index-file.js';
import { Repository } from '../../src/repository/repository.js';
import { pseudoRandom } from '../helpers/data.js';
import { cairnJson, runCairn, type CairnRun } from '../helpers/cli.js';

/**
 * Shared pieces of the crash tests: a seeded PRNG for kill points, a mutable source
 * tree that remembers the content of every state it was in, restore-and-compare, and
 * an independent look at the repository directory (packs on disk, index files, temp
 * files, locks).
 */

export const MiB = 2 ** 20;

/** The seed for a crash run: CAIRN_CRASH_SEED=<n> replays one (kill delays and data). */
export function crashSeed(): number {
  const env = process.env.CAIRN_CRASH_SEED;
  if (env !== undefined && env !== '') return Number(env) >>> 0;
  return (Math.random() * 2 ** 32) >>> 0;
}

export { prng } from '../helpers/data.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Relative path → SHA-256 of the content, for every regular file below a directory. */
export type ContentHashes = Map<string, string>;

export async function hashTree(root: string): Promise<ContentHashes> {
  const out: ContentHashes = new Map();
  const visit = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await visit(p);
      else if (e.isFile()) out.set(relative(root, p), createHash('sha256').update(await readFile(p)).digest('hex'));
    }
  };
  await visit(root);
  return out;
}

/** Lists what differs between two hash maps (for readable failure messages). */
export function diffHashes(expected: ContentHashes, actual: ContentHashes): string[] {
  const d: string[] = [];
  for (const [p, h] of expected) {
    const a = actual.get(p);
    if (a === undefined) d.push(`missing ${p}`);
    else if (a !== h) d.push(`differs ${p}`);
  }
  for (const p of actual.keys()) if (!expected.has(p)) d.push(`unexpected ${p}`);
  return d;
}

/**
 * A source directory of big incompressible files (which fill several packs) and
 * hundreds of small ones (some compressible text). mutate() changes it the way a
 * working system does between backups: big files rewritten, small files edited,
 * added and deleted. All content derives from the seed.
 */
export class SourceTree {
  private seq = 0;
  private small: string[] = [];
  readonly big: string[] = [];

  constructor(
    readonly root: string,
    private readonly rand: () => number,
    private readonly seed: number,
    private readonly opts: { bigFiles: number; bigMinMiB: number; bigMaxMiB: number; smallFiles: number },
  ) {}

  private nextSeed(): number {
    return (this.seed * 7919 + ++this.seq * 104729) >>> 0;
  }

  private bigSize(): number {
    const { bigMinMiB: lo, bigMaxMiB: hi } = this.opts;
    return Math.floor((lo + this.rand() * (hi - lo)) * MiB);
  }

  private smallContent(): Buffer {
    const n = 200 + Math.floor(this.rand() * 24 * 1024);
    if (this.rand() < 0.3) {
      const line = `line ${this.nextSeed()} of a compressible text file\n`;
      return Buffer.from(line.repeat(Math.ceil(n / line.length)).slice(0, n));
    }
    return pseudoRandom(this.nextSeed(), n);
  }

  async create(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
    for (let i = 0; i < this.opts.bigFiles; i++) {
      const p = join(this.root, `big-${String(i).padStart(2, '0')}.bin`);
      await mkdir(this.root, { recursive: true });
      await writeFile(p, pseudoRandom(this.nextSeed(), this.bigSize()));
      this.big.push(p);
    }
    for (let i = 0; i < this.opts.smallFiles; i++) await this.addSmall();
  }

  private async addSmall(): Promise<void> {
    const n = this.seq;
    const dir = join(this.root, 'small', `d${n % 7}`, `e${n % 3}`);
    await mkdir(dir, { recursive: true });
    const p = join(dir, `f${String(n).padStart(5, '0')}.dat`);
    await writeFile(p, this.smallContent());
    this.small.push(p);
  }

  private pick<T>(xs: T[]): T {
    return xs[Math.floor(this.rand() * xs.length)]!;
  }

  /** Rewrites `bigRewrites` big files with new content and edits, adds and deletes small ones. */
  async mutate(bigRewrites = 1): Promise<void> {
    const chosen = new Set<string>();
    while (chosen.size < Math.min(bigRewrites, this.big.length)) chosen.add(this.pick(this.big));
    for (const p of chosen) await writeFile(p, pseudoRandom(this.nextSeed(), this.bigSize()));
    for (let i = 0; i < 3; i++) await writeFile(this.pick(this.small), this.smallContent());
    for (let i = 0; i < 2; i++) await this.addSmall();
    const gone = this.small.splice(Math.floor(this.rand() * this.small.length), 1)[0]!;
    await unlink(gone);
  }

  hashes(): Promise<ContentHashes> {
    return hashTree(this.root);
  }
}

/** Restores a snapshot with the CLI into a fresh directory and compares every file's content. */
export async function expectRestores(
  env: Record<string, string>,
  snapshotId: string,
  sourceRoot: string,
  expected: ContentHashes,
  scratch: string,
  context: string,
): Promise<void> {
  const target = join(scratch, `restore-${snapshotId.slice(0, 8)}-${Date.now()}`);
  try {
    const r = await runCairn(['--json', 'restore', snapshotId, '--target', target], env);
    expect(r.code, `${context}: restore ${snapshotId.slice(0, 8)} failed: ${r.stdout} ${r.stderr}`).toBe(0);
    // Files come back under their full original path below the target.
    const actual = await hashTree(join(target, sourceRoot));
    const diff = diffHashes(expected, actual);
    expect(diff, `${context}: snapshot ${snapshotId.slice(0, 8)} restored with differences`).toEqual([]);
  } finally {
    await rm(target, { recursive: true, force: true });
  }
}

export interface CheckReport {
  ok: boolean;
  packsChecked: number;
  problems: { kind: string; id: string; message: string }[];
}

/** `check --read-data` must pass; temp files left by killed saves must not show up in it. */
export async function expectCheckPasses(env: Record<string, string>, context: string): Promise<CheckReport> {
  const r: CairnRun = await runCairn(['--json', 'check', '--read-data'], env);
  const msg = `${context}: check --read-data exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  expect(r.code, msg).toBe(0);
  const report = JSON.parse(r.stdout) as CheckReport;
  expect(report.ok, msg).toBe(true);
  expect(report.problems, msg).toEqual([]);
  expect(r.stdout + r.stderr, msg).not.toContain('.tmp-');
  return report;
}

export interface SnapshotListing {
  id: string;
  time: string;
  summary?: { bytesAddedPacked: number; packs: number };
}

export function listSnapshots(env: Record<string, string>): Promise<SnapshotListing[]> {
  return cairnJson<SnapshotListing[]>(['snapshots'], env);
}

/** Pack files in data/ (id → size), read straight from the directory. */
export async function packsOnDisk(repo: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const sub of await readdir(join(repo, 'data')).catch(() => [] as string[])) {
    for (const f of await readdir(join(repo, 'data', sub)).catch(() => [] as string[])) {
      if (/^[0-9a-f]{64}$/.test(f)) out.set(f, (await stat(join(repo, 'data', sub, f))).size);
    }
  }
  return out;
}

export function totalSize(packs: Map<string, number>): number {
  let n = 0;
  for (const s of packs.values()) n += s;
  return n;
}

/** Every `.tmp-*` file anywhere in the repository (left by saves killed mid-write). */
export async function tempFiles(repo: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await visit(p);
      else if (e.name.startsWith('.tmp-')) out.push(relative(repo, p));
    }
  };
  await visit(repo);
  return out;
}

export async function lockFiles(repo: string): Promise<string[]> {
  return (await readdir(join(repo, 'locks')).catch(() => [] as string[])).filter((f) => !f.startsWith('.tmp-'));
}

export interface IndexView {
  /** Pack id → the index files naming it. */
  packs: Map<string, string[]>;
  /** "type:blobid" → the packs holding it, across all index files. */
  blobs: Map<string, Set<string>>;
}

/**
 * Reads every index file of the repository in-process, with an in-memory cache (so the
 * CLI's cache is neither used nor touched): an independent view of what is indexed.
 */
export async function readIndexFiles(repoDir: string, password: string): Promise<IndexView> {
  const repo = await Repository.open(new LocalBackend(repoDir), password, {
    clock: systemClock,
    random: systemRandom,
    cacheDir: ':memory:',
  });
  try {
    const view: IndexView = { packs: new Map(), blobs: new Map() };
    for (const id of await repo.listIds('index')) {
      const { packs } = decodeIndexFile(await repo.loadSealed('index', id), id);
      for (const p of packs) {
        view.packs.set(p.pack.id, [...(view.packs.get(p.pack.id) ?? []), id]);
        for (const b of p.blobs) {
          const k = `${b.type}:${b.id}`;
          let s = view.blobs.get(k);
          if (!s) view.blobs.set(k, (s = new Set()));
          s.add(p.pack.id);
        }
      }
    }
    return view;
  } finally {
    await repo.close();
  }
}

/** Blobs stored in more than one pack ("type:id (n packs)"). */
export function duplicateBlobs(view: IndexView): string[] {
  const out: string[] = [];
  for (const [k, packs] of view.blobs) if (packs.size > 1) out.push(`${k.slice(0, 13)} (${packs.size} packs)`);
  return out;
}

/**
 * SIGKILLs the child as soon as `trigger` reports true (polled every few ms): a kill at
 * a chosen step rather than a random time. Returns false if the child exited first.
 */
export async function killWhen(
  child: { exited: boolean; kill(signal?: NodeJS.Signals): boolean },
  trigger: () => Promise<boolean>,
  signal: NodeJS.Signals = 'SIGKILL',
  timeoutMs = 60_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!child.exited && Date.now() < deadline) {
    if (await trigger()) return child.kill(signal);
    await sleep(2);
  }
  return false;
}

/** Names in a repository directory (index, gc, snapshots, ...), temp files excluded. */
export async function namesIn(repo: string, sub: string): Promise<string[]> {
  return (await readdir(join(repo, sub)).catch(() => [] as string[])).filter((f) => !f.startsWith('.tmp-'));
}

/** Every name under data/<xx>/, temp files included. */
export async function dataNames(repo: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const sub of await readdir(join(repo, 'data')).catch(() => [] as string[])) {
    for (const f of await readdir(join(repo, 'data', sub)).catch(() => [] as string[])) out.add(f);
  }
  return out;
}

/** True once data/ holds a file (a finished pack or an upload in flight) that `before` did not. */
export async function newFileInData(repo: string, before: Set<string>): Promise<boolean> {
  for (const f of await dataNames(repo)) if (!before.has(f)) return true;
  return false;
}
