/** A binary min-heap: push and pop in O(log n), smallest first by `compare`. */
export class MinHeap<T> {
  private readonly items: T[] = [];

  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const a = this.items;
    a.push(item);
    for (let i = a.length - 1; i > 0; ) {
      const up = (i - 1) >> 1;
      if (this.compare(a[i]!, a[up]!) >= 0) break;
      [a[i], a[up]] = [a[up]!, a[i]!];
      i = up;
    }
  }

  /** The smallest item, removed; undefined when empty. */
  pop(): T | undefined {
    const a = this.items;
    if (a.length <= 1) return a.pop();
    const top = a[0];
    a[0] = a.pop()!;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && this.compare(a[l]!, a[m]!) < 0) m = l;
      if (r < a.length && this.compare(a[r]!, a[m]!) < 0) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }
}
