/**
 * A set of blob ids shared by all threads of one backup (a SharedArrayBuffer hash
 * table with atomic slot states), so that two workers reading different files never
 * both store the same new blob. It only ever costs space when it fails: if the table
 * is full, claim() grants the claim, and at worst a blob is stored twice, which is
 * harmless (prune keeps one copy's pack alive as long as the blob is used).
 *
 * Layout: Int32 header [count, capacity, 0, 0], then `capacity` slots of 40 bytes:
 * Int32 state (0 empty, 1 being written, 2 ready), 4 spare bytes, 32 id bytes.
 */
const HEADER = 16;
const SLOT = 40;
const EMPTY = 0;
const WRITING = 1;
const READY = 2;
const MAX_LOAD = 0.75;

export class ClaimTable {
  private readonly i32: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly capacity: number;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.i32 = new Int32Array(buffer);
    this.bytes = new Uint8Array(buffer);
    this.capacity = this.i32[1]!;
  }

  static create(capacity = 1 << 17): ClaimTable {
    if ((capacity & (capacity - 1)) !== 0) throw new RangeError('capacity must be a power of two');
    const sab = new SharedArrayBuffer(HEADER + capacity * SLOT);
    new Int32Array(sab)[1] = capacity;
    return new ClaimTable(sab);
  }

  /** True when this caller is the first to claim `idHex` (and so must store the blob). */
  claim(idHex: string): boolean {
    return this.probe(idHex, true);
  }

  has(idHex: string): boolean {
    return !this.probe(idHex, false);
  }

  /**
   * Linear probing from the id's first 4 bytes (the id is a keyed hash, so uniform).
   * Returns true when the id was absent (and, with insert, is now claimed).
   */
  private probe(idHex: string, insert: boolean): boolean {
    const id = Buffer.from(idHex, 'hex');
    const mask = this.capacity - 1;
    let slot = id.readUInt32LE(0) & mask;
    for (let n = 0; n < this.capacity; n++, slot = (slot + 1) & mask) {
      const stateIndex = (HEADER + slot * SLOT) >> 2;
      let state = Atomics.load(this.i32, stateIndex);
      if (state === EMPTY) {
        if (!insert) return true;
        if (Atomics.load(this.i32, 0) >= this.capacity * MAX_LOAD) return true; // full: grant, may duplicate
        if (Atomics.compareExchange(this.i32, stateIndex, EMPTY, WRITING) !== EMPTY) {
          state = Atomics.load(this.i32, stateIndex); // lost the race for this slot: look at it again
        } else {
          this.bytes.set(id, HEADER + slot * SLOT + 8);
          Atomics.add(this.i32, 0, 1);
          Atomics.store(this.i32, stateIndex, READY);
          Atomics.notify(this.i32, stateIndex);
          return true;
        }
      }
      while (state === WRITING) {
        Atomics.wait(this.i32, stateIndex, WRITING, 50);
        state = Atomics.load(this.i32, stateIndex);
      }
      const at = HEADER + slot * SLOT + 8;
      if (Buffer.compare(this.bytes.subarray(at, at + 32), id) === 0) return false;
    }
    return true;
  }
}
