import { CairnError } from '../core/errors/index.js';
import type { BlobId } from '../core/ids.js';
import type { Repository } from '../repository/repository.js';
import { displayName, nsToDate, type TreeNode } from '../snapshot/tree.js';
import { walkTree } from '../verify/tree-walk.js';
import type { DiffEntry, DiffResult, ListedNode } from './types.js';
import { globToRegExp } from '../util/glob.js';

export function listedNode(path: string, node: TreeNode): ListedNode {
  return {
    path,
    name: displayName(node),
    type: node.type,
    mode: node.mode,
    uid: node.uid,
    gid: node.gid,
    ...(node.user !== undefined ? { user: node.user } : {}),
    ...(node.group !== undefined ? { group: node.group } : {}),
    size: node.size ?? 0,
    mtime: nsToDate(node.mtime).toISOString(),
    ...(node.target !== undefined ? { linkTarget: node.target } : {}),
    ...(node.targetRaw !== undefined ? { linkTarget: Buffer.from(node.targetRaw, 'base64').toString('latin1') } : {}),
  };
}

function components(path: string): string[] {
  return path.split('/').filter((c) => c.length > 0 && c !== '.');
}

/** Finds the node at an absolute path inside a snapshot ("/" is the root tree: returns null). */
export async function nodeAt(repo: Repository, root: BlobId, path: string): Promise<TreeNode | null> {
  let treeId: BlobId | undefined = root;
  let node: TreeNode | null = null;
  const parts = components(path);
  for (let i = 0; i < parts.length; i++) {
    if (!treeId) break;
    const tree = await repo.loadTree(treeId);
    node = tree.nodes.find((n) => displayName(n) === parts[i]) ?? null;
    if (!node) break;
    treeId = node.subtree;
    if (i < parts.length - 1 && node.type !== 'dir') {
      node = null;
      break;
    }
  }
  if (parts.length > 0 && !node) throw new CairnError('PATH_NOT_FOUND', `${path} does not exist in the snapshot`);
  return node;
}

export async function* listNodes(repo: Repository, root: BlobId, path: string, recursive: boolean): AsyncGenerator<ListedNode> {
  const base = '/' + components(path).join('/');
  const node = await nodeAt(repo, root, base);
  if (node && node.type !== 'dir') {
    yield listedNode(base, node);
    return;
  }
  const treeId = node ? node.subtree : root;
  if (!treeId) return;
  const prefix = base === '/' ? '' : base;
  if (!recursive) {
    for (const n of (await repo.loadTree(treeId)).nodes) yield listedNode(`${prefix}/${displayName(n)}`, n);
    return;
  }
  const out: ListedNode[] = [];
  await walkTree(repo, treeId, ({ path: p, node: n }) => void out.push(listedNode(p, n)), { base: prefix });
  yield* out;
}

export function matcher(patterns: string[]): (path: string, name: string) => boolean {
  const res = patterns.map((p) => ({ re: globToRegExp(p), full: p.includes('/') }));
  return (path, name) => res.some(({ re, full }) => re.test(full ? path : name));
}

/** Compares two trees, descending only into subtrees whose ids differ. */
export async function diffTrees(repo: Repository, a: BlobId, b: BlobId): Promise<DiffResult> {
  const entries: DiffEntry[] = [];
  const addAll = async (node: TreeNode, path: string, change: 'added' | 'removed') => {
    entries.push({ path, change });
    if (node.type === 'dir' && node.subtree) {
      await walkTree(repo, node.subtree, ({ path: p }) => void entries.push({ path: p, change }), { base: path });
    }
  };
  const rec = async (ta: BlobId, tb: BlobId, base: string): Promise<void> => {
    if (ta === tb) return;
    const na = new Map((await repo.loadTree(ta)).nodes.map((n) => [displayName(n), n]));
    const nb = new Map((await repo.loadTree(tb)).nodes.map((n) => [displayName(n), n]));
    const names = [...new Set([...na.keys(), ...nb.keys()])].sort();
    for (const name of names) {
      const x = na.get(name);
      const y = nb.get(name);
      const path = `${base}/${name}`;
      if (!x) await addAll(y!, path, 'added');
      else if (!y) await addAll(x, path, 'removed');
      else if (x.type !== y.type) entries.push({ path, change: 'type' });
      else if (x.type === 'dir') {
        if (metaDiffers(x, y)) entries.push({ path, change: 'metadata' });
        if (x.subtree && y.subtree) await rec(x.subtree, y.subtree, path);
      } else if (JSON.stringify(x.content ?? null) !== JSON.stringify(y.content ?? null) || x.target !== y.target || x.targetRaw !== y.targetRaw) {
        entries.push({ path, change: 'modified' });
      } else if (metaDiffers(x, y)) entries.push({ path, change: 'metadata' });
    }
  };
  await rec(a, b, '');
  const stats = { added: 0, removed: 0, modified: 0, metadata: 0 };
  for (const e of entries) {
    if (e.change === 'type') stats.modified++;
    else stats[e.change]++;
  }
  return { entries, stats };
}

function metaDiffers(x: TreeNode, y: TreeNode): boolean {
  return (
    x.mode !== y.mode ||
    x.uid !== y.uid ||
    x.gid !== y.gid ||
    x.mtime !== y.mtime ||
    JSON.stringify(x.xattrs ?? []) !== JSON.stringify(y.xattrs ?? [])
  );
}
