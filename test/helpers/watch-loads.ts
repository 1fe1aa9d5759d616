import type { Backend, ByteRange } from '../../src/backend/types.js';

/**
 * A wrapBackend for makeTempRepo that reports every load() to `onLoad` and otherwise
 * passes everything through: tests count reads (how many, how many bytes) with it.
 */
export function watchLoads(onLoad: (name: string, range?: ByteRange) => void) {
  return (b: Backend): Backend =>
    new Proxy(b, {
      get(target, prop, recv) {
        if (prop === 'load') {
          return (name: string, range?: ByteRange, into?: Uint8Array) => {
            onLoad(name, range);
            return target.load(name, range, into);
          };
        }
        const v = Reflect.get(target, prop, recv);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
}
