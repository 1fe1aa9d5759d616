import { describe, expect, it } from 'vitest';
import { encodeName, encodeTree, encodeTreeFromNodes, type TreeNode } from '../../src/snapshot/tree.js';

function node(raw: Buffer, extra: Partial<TreeNode> = {}): TreeNode {
  return { ...encodeName(raw), type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: '1', atime: '2', ctime: '3', ...extra };
}

describe('encodeTreeFromNodes: a tree from nodes encoded one at a time', () => {
  it('gives the bytes of encodeTree for the same nodes (so the same tree id)', () => {
    const trees: TreeNode[][] = [
      [],
      [node(Buffer.from('one'))],
      [
        node(Buffer.from('a "quoted" \\ name\n'), { size: 3, content: ['ab'.repeat(32) as never] }),
        node(Buffer.from('dir'), { type: 'dir', mode: 0o755, subtree: 'cd'.repeat(32) as never, user: 'root', group: 'root' }),
        node(Buffer.from('naïve-日本語-😀')), // multi-byte UTF-8: byte length ≠ string length
        node(Buffer.from([0x66, 0xff, 0xfe])), // not UTF-8: nameRaw
        node(Buffer.from('link'), { type: 'symlink', target: 'ünïcode\u2028target', xattrs: [{ name: 'user.x', value: 'eA==' }] }),
      ],
    ];
    for (const nodes of trees) {
      const expected = encodeTree({ nodes });
      expect(encodeTreeFromNodes(nodes.map((n) => JSON.stringify(n))).equals(expected)).toBe(true);
    }
  });
});
