import { CairnError, isDamage } from '../core/errors/index.js';
import type { BlobId } from '../core/ids.js';
import type { Repository } from '../repository/repository.js';
import { displayName, nodeNameBytes, type TreeNode } from '../snapshot/tree.js';

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
 * Walks the part of a snapshot tree that `includes` selects, mapping each node to its
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
  includes: string[] | undefined,
  targetDir: Buffer,
  onDamagedTree?: (snapDir: string, err: CairnError) => void,
  snapDir = '',
): AsyncGenerator<SelectedEvent> {
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
    const selection = select(snapPath, includes);
    if (selection === 'none') continue;
    const path = Buffer.concat([targetDir, SLASH, name]);
    if (node.type === 'dir') {
      yield { kind: 'enter', node, snapPath, path, selection };
      if (node.subtree) yield* selectedTree(repo, node.subtree, includes, path, onDamagedTree, snapPath);
      yield { kind: 'leave', node, snapPath, path, selection };
    } else if (selection === 'all') {
      yield { kind: 'entry', node, snapPath, path, selection };
    }
  }
}

const SLASH = Buffer.from('/');
const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');
