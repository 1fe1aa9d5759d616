/**
 * A least-recently-used map, bounded by entry count and, with a `weigh` function, by
 * total weight (e.g. bytes), whichever limit is reached first.
 */
export class LruCache<K, V> {
  private readonly map = new Map<K, V>();
  private weight = 0;

  constructor(
    private readonly capacity: number,
    private readonly maxWeight = Infinity,
    private readonly weigh: (v: V) => number = () => 0,
    /** Told of every entry that leaves: evicted, replaced or cleared. */
    private readonly onEvict?: (key: K, value: V) => void,
  ) {}

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  /** Stores the entry; false when it alone weighs more than the limit and is not kept. */
  set(key: K, value: V): boolean {
    this.delete(key);
    const w = this.weigh(value);
    if (w > this.maxWeight) return false; // would evict everything else for one entry
    this.map.set(key, value);
    this.weight += w;
    while (this.map.size > this.capacity || this.weight > this.maxWeight) {
      this.delete(this.map.keys().next().value as K);
    }
    return true;
  }

  private delete(key: K): void {
    const old = this.map.get(key);
    if (old === undefined) return;
    this.map.delete(key);
    this.weight -= this.weigh(old);
    this.onEvict?.(key, old);
  }

  clear(): void {
    for (const key of [...this.map.keys()]) this.delete(key);
  }
}
