/**
 * The pack buffers of a backup's workers: `count` buffers of `capacity` bytes in
 * SharedArrayBuffers, created once per pool (untouched pages cost no memory) and
 * reused for the whole run. A worker builds a pack in a free buffer and hands it to the
 * main thread as a view (no copy, no transfer); the main thread uploads it and releases
 * the buffer. A worker that needs a buffer while all are taken waits (blocking: it is a
 * worker thread). So the memory of packs, open or being uploaded, is bounded by
 * count × capacity whatever the size of the backup or the speed of the backend, and
 * none of it is garbage left for V8 to collect.
 *
 * With one buffer more than workers, every worker can fill a pack while one is uploaded.
 *
 * Shared state (Int32Array over a SharedArrayBuffer):
 *   [0] release counter, bumped and notified on every release;
 *   [1 + i] 1 while buffer i holds a pack (being filled or uploaded), else 0.
 */
export interface PackBufferSet {
  state: SharedArrayBuffer;
  buffers: SharedArrayBuffer[];
}

const RELEASE_COUNTER = 0;

export function createPackBuffers(count: number, capacity: number): PackBufferSet {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`pack buffer count must be a positive integer, got ${count}`);
  return {
    state: new SharedArrayBuffer(4 * (1 + count)),
    buffers: Array.from({ length: count }, () => new SharedArrayBuffer(capacity)),
  };
}

/** Main thread: buffer `index` may be reused. Idempotent. */
export function releasePackBuffer(set: PackBufferSet, index: number): void {
  const state = new Int32Array(set.state);
  if (Atomics.compareExchange(state, 1 + index, 1, 0) !== 1) return;
  Atomics.add(state, RELEASE_COUNTER, 1);
  Atomics.notify(state, RELEASE_COUNTER);
}

/** How many buffers are taken (tests, diagnostics). */
export function packBuffersInUse(set: PackBufferSet): number {
  const state = new Int32Array(set.state);
  let n = 0;
  for (let i = 1; i < state.length; i++) n += Atomics.load(state, i);
  return n;
}

/** Worker side: takes free buffers. */
export class PackBuffers {
  private readonly state: Int32Array;
  /** Times acquire() had to wait for a release (tests, diagnostics). */
  waits = 0;

  constructor(private readonly set: PackBufferSet) {
    this.state = new Int32Array(set.state);
  }

  /** A free buffer, marked taken; waits while every buffer is taken. */
  acquire(): { index: number; bytes: Uint8Array } {
    for (let waited = false; ; ) {
      const seen = Atomics.load(this.state, RELEASE_COUNTER);
      for (let i = 0; i < this.set.buffers.length; i++) {
        if (Atomics.compareExchange(this.state, 1 + i, 0, 1) === 0) return { index: i, bytes: new Uint8Array(this.set.buffers[i]!) };
      }
      if (!waited) this.waits++;
      waited = true;
      // Timed, so a worker being terminated is never stuck here for long.
      Atomics.wait(this.state, RELEASE_COUNTER, seen, 1000);
    }
  }
}
