import { CairnError, isDamage } from '../core/errors/index.js';
import type { BlobId } from '../core/ids.js';
import type { Repository } from '../repository/repository.js';
import { displayName, nodeNameBytes, type TreeNode } from '../snapshot/tree.js';
import { compileExcludes, type ExcludeFn } from '../fs/exclude-matcher.js';

export type Selection = 'all' | 'descend' | 'none';

/** Which part of the snapshot --include selects: a node itself, an ancestor to descend, or nothing. */
export function select(snapPath: string, includes: string[] | undefined): Selection {
  if (!includes || includes.length === 0) return 'all';
  let descend = false;
  for (const inc of includes) {
    if (snapPath === inc || snapPath.startsWith(inc + '/') || inc === '/') return 'all';
    if (inc.startsWith(snapPath + '/')) descend = true;
  }
  return descend ? 'descend' : 'none';
}

/** "/a/b/", "a/b" → "/a/b": includes are absolute paths inside the snapshot. */
export function normaliseIncludes(include: string[] | undefined): string[] | undefined {
  if (!include || include.length === 0) return undefined;
  return include.map((p) => '/' + p.split('/').filter(Boolean).join('/'));
}

/**
 * What a restore takes from a snapshot: the subtrees `includes` names (absolute paths
 * inside the snapshot; all when absent), less the entries `exclude` matches (backup's
 * exclude patterns, matched against the path inside the snapshot).
 */
export interface TreeSelection {
  includes?: string[] | undefined;
  exclude?: ExcludeFn | undefined;
}

/** The selection for --include paths and --exclude patterns (CONFIG_INVALID for a malformed pattern). */
export function treeSelection(include: string[] | undefined, exclude: string[] | undefined): TreeSelection {
  return { includes: normaliseIncludes(include), ...(exclude?.length ? { exclude: compileExcludes(exclude) } : {}) };
}

export interface SelectedEvent {
  kind: 'enter' | 'leave' | 'entry';
  node: TreeNode;
  /** Absolute path inside the snapshot, for people. */
  snapPath: string;
  /** Raw target path on disk. */
  path: Buffer;
  selection: Selection;
}

/**
 * Walks the part of a snapshot tree that `selection` takes, mapping each node to its
 * raw target path under `targetDir`: directories as enter/leave pairs (so metadata can
 * be applied after the children), everything else as entries. Names that could escape
 * the target ("", ".", "..", or containing "/") are refused.
 *
 * With `onDamagedTree`, a subdirectory whose tree is damaged or missing from the
 * repository (isDamage) is reported there and walked as empty; the root tree's
 * failure always throws.
 */
export async function* selectedTree(
  repo: Repository,
  treeId: BlobId,
  selection: TreeSelection,
  targetDir: Buffer,
  onDamagedTree?: (snapDir: string, err: CairnError) => void,
  snapDir = '',
  snapDirBytes: Buffer = EMPTY,
): AsyncGenerator<SelectedEvent> {
  const { includes, exclude } = selection;
  let tree;
  try {
    tree = await repo.loadTree(treeId);
  } catch (err) {
    if (snapDir === '' || !onDamagedTree || !isDamage(err)) throw err;
    onDamagedTree(snapDir, err);
    return;
  }
  for (const node of tree.nodes) {
    const name = nodeNameBytes(node);
    if (name.length === 0 || name.includes(0x2f) || name.equals(DOT) || name.equals(DOTDOT)) {
      throw new CairnError('REPO_CORRUPT', `snapshot tree contains an unsafe name "${displayName(node)}"`);
    }
    const snapPath = `${snapDir}/${displayName(node)}`;
    const chosen = select(snapPath, includes);
    if (chosen === 'none') continue;
    // The raw bytes of the path inside the snapshot, as backup's excludes see paths.
    const snapBytes = exclude ? Buffer.concat([snapDirBytes, SLASH, name]) : EMPTY;
    if (exclude?.(snapBytes, node.type === 'dir')) continue;
    const path = Buffer.concat([targetDir, SLASH, name]);
    if (node.type === 'dir') {
      yield { kind: 'enter', node, snapPath, path, selection: chosen };
      if (node.subtree) yield* selectedTree(repo, node.subtree, selection, path, onDamagedTree, snapPath, snapBytes);
      yield { kind: 'leave', node, snapPath, path, selection: chosen };
    } else if (chosen === 'all') {
      yield { kind: 'entry', node, snapPath, path, selection: chosen };
    }
  }
}

const SLASH = Buffer.from('/');
const EMPTY = Buffer.alloc(0);
const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');
