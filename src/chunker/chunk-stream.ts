import { CairnError } from '../core/errors/index.js';
import type { CutFinder } from './types.js';

/**
 * Splits a byte stream into content-defined chunks, yielding each chunk as one Buffer
 * that the caller owns (a copy, never a view into a source piece).
 *
 * `finder` must be at the start of a stream (new, or just after finish()); it is left
 * reset afterwards, also when the consumer stops early or the source throws.
 *
 * Memory: at most one chunk (<= max) of pending bytes plus the piece being split.
 * Pieces of the unfinished chunk are kept as a list and concatenated once per chunk
 * (no O(n^2) re-concatenation). A piece that holds a cut has its tail copied out, so
 * a large piece is not kept alive by a few trailing bytes. Whole pieces are kept as
 * views, so the source must not reuse a piece's memory after yielding it (Node
 * streams and fs handles never do).
 */
export async function* chunkStream(source: AsyncIterable<Uint8Array>, finder: CutFinder): AsyncGenerator<Buffer> {
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let offset = 0; // stream offset of the current piece's first byte
  let lastCut = 0;
  let finished = false;

  const take = (): Buffer => {
    const chunk = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return chunk;
  };
  const checkCut = (cut: number, limit: number): void => {
    // A finder that was not fresh (or is buggy) would make us emit wrong bytes silently.
    if (!Number.isSafeInteger(cut) || cut <= lastCut || cut > limit) {
      throw new CairnError('INTERNAL', `cut finder returned offset ${cut} outside (${lastCut}, ${limit}]`);
    }
    lastCut = cut;
  };

  try {
    for await (const piece of source) {
      if (piece.length === 0) continue;
      let start = 0;
      for (const cut of finder.update(piece)) {
        checkCut(cut, offset + piece.length);
        const end = cut - offset;
        if (end > start) {
          pending.push(piece.subarray(start, end));
          pendingBytes += end - start;
        }
        start = end;
        yield take();
      }
      if (start < piece.length) {
        const tail = piece.subarray(start);
        pending.push(start > 0 ? new Uint8Array(tail) : tail);
        pendingBytes += tail.length;
      }
      offset += piece.length;
    }
    const last = finder.finish();
    finished = true;
    for (const cut of last) {
      checkCut(cut, offset);
      if (cut !== offset) throw new CairnError('INTERNAL', `finish() returned ${cut}, expected the stream length ${offset}`);
      yield take();
    }
  } finally {
    if (!finished) finder.finish();
  }
}
