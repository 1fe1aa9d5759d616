import { describe, it, expect } from 'vitest';
import { LruCache } from '../../src/util/lru-cache.js';

describe('LruCache', () => {
  it('evicts the least recently used entry beyond its capacity', () => {
    const c = new LruCache<string, number>(2);
    c.set('a', 1);
    c.set('b', 2);
    expect(c.get('a')).toBe(1); // a is now the most recent
    c.set('c', 3);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe(1);
    expect(c.get('c')).toBe(3);
  });

  it('stays within its weight limit and refuses single entries heavier than the limit', () => {
    const c = new LruCache<string, Buffer>(100, 10, (b) => b.length);
    c.set('a', Buffer.alloc(4));
    c.set('b', Buffer.alloc(4));
    c.set('c', Buffer.alloc(4)); // 12 > 10: a goes
    expect(c.get('a')).toBeUndefined();
    expect(c.get('b')).toBeDefined();
    c.set('huge', Buffer.alloc(11));
    expect(c.get('huge')).toBeUndefined();
    expect(c.get('c')).toBeDefined();
    c.set('b', Buffer.alloc(1)); // replacing re-weighs
    c.set('d', Buffer.alloc(6)); // 1 + 4 + 6 > 10: c, the least recent, goes
    expect(c.get('b')).toBeDefined();
    expect(c.get('c')).toBeUndefined();
  });
});
