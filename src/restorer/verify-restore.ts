import { open } from 'node:fs/promises';
import type { Repository } from '../repository/repository.js';
import type { RestoredFile } from './restorer.js';

export interface VerifyReport {
  files: number;
  bytes: number;
  mismatches: string[];
}

/**
 * Re-reads every restored file and checks it against the snapshot: each stretch of
 * the file must hash (keyed, like at backup) to the blob id recorded for it, and the
 * file must end where the snapshot says. Nothing is decrypted again, so this proves
 * what is on disk, not what is in memory.
 */
export async function verifyRestore(repo: Repository, files: RestoredFile[]): Promise<VerifyReport> {
  const report: VerifyReport = { files: 0, bytes: 0, mismatches: [] };
  for (const f of files) {
    const fh = await open(f.path, 'r');
    try {
      let pos = 0;
      let ok = true;
      for (const id of f.node.content ?? []) {
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
      const size = (await fh.stat()).size;
      if (ok && size !== (f.node.size ?? pos)) ok = false;
      report.files++;
      report.bytes += pos;
      if (!ok) report.mismatches.push(f.snapPath);
    } finally {
      await fh.close();
    }
  }
  return report;
}
