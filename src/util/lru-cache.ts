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
  ) {}

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    this.delete(key);
    const w = this.weigh(value);
    if (w > this.maxWeight) return; // would evict everything else for one entry
    this.map.set(key, value);
    this.weight += w;
    while (this.map.size > this.capacity || this.weight > this.maxWeight) {
      this.delete(this.map.keys().next().value as K);
    }
  }

  private delete(key: K): void {
    const old = this.map.get(key);
    if (old === undefined) return;
    this.map.delete(key);
    this.weight -= this.weigh(old);
  }

  /** Every entry, least recently used first, without touching their order. */
  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  clear(): void {
    this.map.clear();
    this.weight = 0;
  }
}
