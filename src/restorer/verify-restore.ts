import { open } from 'node:fs/promises';
import type { BlobId } from '../core/ids.js';
import type { Repository } from '../repository/repository.js';
import { selectedTree, type TreeSelection } from './selected-tree.js';

export interface VerifyReport {
  files: number;
  bytes: number;
  mismatches: string[];
}

/**
 * Re-reads every restored file and checks it against the snapshot: each stretch of
 * the file must hash (keyed, like at backup) to the blob id recorded for it, and the
 * file must end where the snapshot says. It walks the snapshot again rather than
 * remembering what was restored, so memory does not grow with the number of files.
 */
export async function verifyRestore(repo: Repository, tree: BlobId, target: string, selection: TreeSelection = {}): Promise<VerifyReport> {
  const report: VerifyReport = { files: 0, bytes: 0, mismatches: [] };
  for await (const ev of selectedTree(repo, tree, selection, Buffer.from(target))) {
    if (ev.kind !== 'entry' || ev.node.type !== 'file') continue;
    let fh;
    try {
      fh = await open(ev.path, 'r');
    } catch {
      report.mismatches.push(ev.snapPath);
      continue;
    }
    try {
      let pos = 0;
      let ok = true;
      for (const id of ev.node.content ?? []) {
        const loc = repo.index.findForRead('data', id);
        if (!loc) {
          ok = false;
          break;
        }
        const buf = Buffer.alloc(loc.rawLength);
        const { bytesRead } = await fh.read(buf, 0, loc.rawLength, pos);
        if (bytesRead !== loc.rawLength || repo.hasher.id(buf) !== id) {
          ok = false;
          break;
        }
        pos += bytesRead;
      }
      // Content and size must agree with the snapshot and with each other: a file whose
      // blobs are shorter than its recorded size would otherwise pass with a zero tail.
      if (ok && (pos !== (ev.node.size ?? pos) || (await fh.stat()).size !== pos)) ok = false;
      report.files++;
      report.bytes += pos;
      if (!ok) report.mismatches.push(ev.snapPath);
    } finally {
      await fh.close();
    }
  }
  return report;
}
