import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layering of src/ (docs/design.md, "Layers"), enforced: a folder may import only
 * folders of a lower rank. Upward edges are allowed only as `import type` and only
 * where listed in TYPE_ONLY_EXCEPTIONS with the reason. A new top-level folder must be
 * given a rank here, so nobody adds a layer without deciding where it sits.
 */
const RANK: Record<string, number> = {
  core: 0,
  util: 1,
  crypto: 2,
  chunker: 2,
  fs: 2,
  format: 3,
  snapshot: 3, // pure data: tree and snapshot encoding, selection, retention policy
  backend: 4,
  index: 4,
  pipeline: 5, // worker threads: read, chunk, hash, compress, encrypt
  repository: 6,
  archiver: 7,
  restorer: 7,
  verify: 7,
  maintenance: 7,
  sources: 7,
  mount: 7,
  replication: 8, // copy and mirrored backup: orchestrate archiver and maintenance across repositories
  engine: 9,
  cli: 10,
  agent: 10,
  server: 10,
};

/** Front ends: never import each other, only the engine (and low-level helpers). */
const FRONT_ENDS = new Set(['cli', 'agent', 'server']);

/**
 * `from → to` pairs (src-relative file paths) allowed against the ranks: upward ones
 * only as `import type`, sideways ones (same rank, other folder) also as values.
 */
const EXCEPTIONS: { from: RegExp; to: RegExp; why: string }[] = [
  {
    from: /./,
    to: /^engine\/types\.ts$/,
    why: 'the facade types are plain data shared by every layer, so results need no copying',
  },
  {
    from: /^pipeline\/start-pool\.ts$/,
    to: /^repository\/repository\.ts$/,
    why: 'startPool reads the config and keys of an opened repository to configure workers',
  },
  {
    from: /^maintenance\//,
    to: /^verify\/tree-walk\.ts$/,
    why: 'reachability walks snapshots exactly the way check does',
  },
];

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return tsFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

/** Relative imports and re-exports of one file, static and dynamic. */
function edgesOf(file: string): Edge[] {
  const text = readFileSync(file, 'utf8');
  const from = relative(SRC, file);
  const out: Edge[] = [];
  const add = (spec: string, typeOnly: boolean) => {
    if (!spec.startsWith('.')) return;
    const target = relative(SRC, resolve(dirname(file), spec)).replace(/\.js$/, '.ts');
    out.push({ from, to: target, typeOnly });
  };
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'([^']+)'/gms)) {
    add(m[3]!, m[2] !== undefined);
  }
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) add(m[1]!, false);
  return out;
}

const layer = (p: string) => p.split('/')[0]!;
const files = tsFiles(SRC);
const edges = files.flatMap(edgesOf);

describe('src/ layering', () => {
  it('finds the sources and their imports', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(edges.length).toBeGreaterThan(300);
  });

  it('gives every top-level folder a rank', () => {
    const folders = [...new Set(files.map((f) => layer(relative(SRC, f))))].filter((f) => !f.endsWith('.ts'));
    expect(folders.filter((f) => RANK[f] === undefined)).toEqual([]);
  });

  it('imports only downwards (or type-only where listed)', () => {
    const bad = edges.filter((e) => {
      const a = layer(e.from);
      const b = layer(e.to);
      if (a === b || RANK[a] === undefined || RANK[b] === undefined) return false;
      if (RANK[b]! < RANK[a]!) return false;
      const listed = EXCEPTIONS.some((x) => x.from.test(e.from) && x.to.test(e.to));
      return !(listed && (e.typeOnly || RANK[b] === RANK[a]));
    });
    expect(bad.map((e) => `${e.from} -> ${e.to}${e.typeOnly ? ' (type)' : ''}`)).toEqual([]);
  });

  it('keeps front ends apart', () => {
    const bad = edges.filter((e) => FRONT_ENDS.has(layer(e.from)) && FRONT_ENDS.has(layer(e.to)) && layer(e.from) !== layer(e.to));
    expect(bad).toEqual([]);
  });

  it('never imports test code or test-only helpers from production code', () => {
    const bad = edges.filter((e) => e.to.startsWith('..') || (/\/testing\//.test(e.to) && !/\/testing\//.test(e.from)));
    expect(bad.map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
  });

  it('detects a violation (the checker itself works)', () => {
    const probe: Edge = { from: 'core/x.ts', to: 'engine/session.ts', typeOnly: false };
    expect(RANK[layer(probe.to)]! > RANK[layer(probe.from)]!).toBe(true);
    const parsed = edgesOf(join(SRC, 'engine/session.ts'));
    expect(parsed.some((e) => e.to === 'archiver/backup.ts' && !e.typeOnly)).toBe(true);
    expect(parsed.some((e) => e.to === 'engine/types.ts' && e.typeOnly)).toBe(true);
  });
});
