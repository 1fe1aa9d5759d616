import { describe, expect, it } from 'vitest';
import { MinHeap } from '../../src/util/min-heap.js';

describe('MinHeap', () => {
  it('pops in order whatever the pushes, interleaved with pops', () => {
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 1000;
    for (let round = 0; round < 20; round++) {
      const heap = new MinHeap<number>((a, b) => a - b);
      const model: number[] = [];
      for (let i = 0; i < 300; i++) {
        if (rand() < 650 || model.length === 0) {
          const v = rand();
          heap.push(v);
          model.push(v);
        } else {
          model.sort((a, b) => a - b);
          expect(heap.pop()).toBe(model.shift());
        }
        expect(heap.size).toBe(model.length);
      }
      model.sort((a, b) => a - b);
      const rest: number[] = [];
      for (let v = heap.pop(); v !== undefined; v = heap.pop()) rest.push(v);
      expect(rest).toEqual(model);
    }
  });

  it('is empty after clear, and pop of an empty heap is undefined', () => {
    const heap = new MinHeap<string>((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(heap.pop()).toBeUndefined();
    heap.push('b');
    heap.push('a');
    heap.clear();
    expect(heap.size).toBe(0);
    expect(heap.pop()).toBeUndefined();
  });
});
