export interface ChunkerParams {
  min: number;
  avg: number; // a power of two
  max: number;
}

/**
 * Finds content-defined cut points in a byte stream fed in arbitrary pieces.
 * Contract: the cut offsets depend only on the stream's bytes, the params and the
 * gear table, never on how the stream is split into update() calls. The pure
 * TypeScript implementation is the reference; a native one must agree byte for byte.
 */
export interface CutFinder {
  /** Feeds the next bytes; returns absolute stream offsets where chunks end (exclusive). */
  update(data: Uint8Array): number[];
  /** End of stream: returns the final cut (the stream length) if bytes are pending. */
  finish(): number[];
}
