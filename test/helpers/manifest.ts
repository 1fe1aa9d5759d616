import { fileURLToPath } from 'node:url';
import { runPython } from './python.js';

export { makeTortureTree, type TortureTreeInfo } from './torture-tree.js';

const SCRIPT = fileURLToPath(new URL('./manifest.py', import.meta.url));

/** One entry of manifest.py's output; see the docstring there for each field. */
export interface ManifestEntry {
  /** Hex of the raw path bytes relative to the root ("" = the root). */
  path: string;
  /** The same path, readable (invalid UTF-8 escaped). */
  text: string;
  type: 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket' | 'unknown';
  /** Octal string, e.g. "0o4755". */
  mode: string;
  uid: number;
  gid: number;
  mtime_ns?: string;
  atime_ns?: string;
  size?: number;
  sha256?: string;
  sparse?: boolean;
  blocks?: number;
  /** Hex of the raw link text. */
  target?: string;
  /** "major,minor". */
  rdev?: string;
  /** name -> hex value. */
  xattrs?: Record<string, string>;
}

export interface Manifest {
  entries: ManifestEntry[];
  /** Groups of hex paths that share one inode. */
  hardlinks: string[][];
}

export interface ManifestOptions {
  ignoreRootTimes?: boolean;
  atime?: boolean;
  blocks?: boolean;
  xattrs?: boolean;
}

/** Runs the independent python3 manifest tool (test/helpers/manifest.py) on `dir`. */
export async function manifest(dir: string, opts: ManifestOptions = {}): Promise<Manifest> {
  const args = [SCRIPT];
  if (opts.ignoreRootTimes) args.push('--ignore-root-times');
  if (opts.atime) args.push('--atime');
  if (opts.blocks) args.push('--blocks');
  if (opts.xattrs === false) args.push('--no-xattrs');
  args.push('--', dir);
  return JSON.parse(await runPython(args)) as Manifest;
}

/** Manifest entries by hex path, for lookups in tests. */
export function byPath(m: Manifest): Map<string, ManifestEntry> {
  return new Map(m.entries.map((e) => [e.path, e]));
}
