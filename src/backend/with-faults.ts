import { CairnError, fromSystemError } from '../core/errors/index.js';
import type { Backend, ByteRange, FileInfo, SaveOptions } from './types.js';

export type BackendOp = 'save' | 'load' | 'list' | 'stat' | 'remove';

/**
 * - error: throws BACKEND_UNAVAILABLE (what a flaky network store produces; retryable)
 * - enospc: throws DISK_FULL, mapped from a real ENOSPC errno error
 * - truncate: load returns the first half; save stores the first half (a broken store;
 *   atomic local saves never do this, but checks must notice it)
 * - corrupt: load returns, or save stores, the data with its middle byte inverted
 * - stall: the call hangs until release() is called, then proceeds normally
 */
export type FaultKind = 'error' | 'enospc' | 'truncate' | 'stall' | 'corrupt';

export interface FaultRule {
  op: BackendOp;
  /** Which names (for list: prefixes) the rule applies to; all when omitted. */
  match?: RegExp | ((name: string) => boolean);
  /** How many times to trigger; default Infinity. */
  times?: number;
  /** Let the first n matching calls through before triggering. */
  after?: number;
  fault: FaultKind;
}

export type FaultPlan = FaultRule[];

export interface FaultyBackend extends Backend {
  /** Every call in order, faulted or not; for list, name is the prefix. */
  readonly calls: { op: BackendOp; name: string }[];
  /** Lets every currently stalled call continue. Later stall faults stall again. */
  release(): void;
}

const DATA_FAULTS: Record<FaultKind, readonly BackendOp[] | undefined> = {
  error: undefined,
  enospc: undefined,
  stall: undefined,
  truncate: ['save', 'load'],
  corrupt: ['save', 'load'],
};

/**
 * Wraps a Backend so tests can make chosen calls fail in chosen ways. Rules are checked
 * in order; every rule whose op and match fit a call counts it (for `after`), and the
 * first one that is past its `after` and has `times` left fires. One fault per call.
 */
export function withFaults(inner: Backend, plan: FaultPlan): FaultyBackend {
  for (const rule of plan) {
    const ops = DATA_FAULTS[rule.fault];
    if (ops && !ops.includes(rule.op)) {
      throw new TypeError(`fault "${rule.fault}" applies only to ${ops.join('/')}, not ${rule.op}`);
    }
  }
  const state = plan.map(() => ({ seen: 0, fired: 0 }));
  const calls: { op: BackendOp; name: string }[] = [];
  let waiters: (() => void)[] = [];

  const pick = (op: BackendOp, name: string): FaultKind | undefined => {
    calls.push({ op, name });
    let chosen: FaultKind | undefined;
    plan.forEach((rule, i) => {
      if (rule.op !== op || !matches(rule.match, name)) return;
      const s = state[i]!;
      s.seen++;
      if (chosen === undefined && s.seen > (rule.after ?? 0) && s.fired < (rule.times ?? Infinity)) {
        s.fired++;
        chosen = rule.fault;
      }
    });
    return chosen;
  };

  /** Applies the faults that don't depend on the op; returns the data-changing ones. */
  const before = async (fault: FaultKind | undefined, op: BackendOp, name: string): Promise<void> => {
    if (fault === 'error') {
      throw new CairnError('BACKEND_UNAVAILABLE', `injected fault: ${op} ${name} failed`, {
        details: { injected: true },
      });
    }
    if (fault === 'enospc') {
      const errno = Object.assign(new Error(`ENOSPC: no space left on device, ${op} '${name}'`), {
        code: 'ENOSPC',
        errno: -28,
        syscall: 'write',
      });
      throw fromSystemError(errno, name);
    }
    if (fault === 'stall') await new Promise<void>((resolve) => waiters.push(resolve));
  };

  return {
    location: inner.location,
    ...(inner.verifiesWrites ? { verifiesWrites: true } : {}),
    calls,
    release() {
      const released = waiters;
      waiters = [];
      for (const resolve of released) resolve();
    },
    async save(name: string, data: Uint8Array, options?: SaveOptions): Promise<void> {
      const fault = pick('save', name);
      await before(fault, 'save', name);
      await inner.save(name, damage(fault, data), options);
    },
    async load(name: string, range?: ByteRange, into?: Uint8Array): Promise<Buffer> {
      const fault = pick('load', name);
      await before(fault, 'load', name);
      return damage(fault, await inner.load(name, range, into));
    },
    list(prefix: string): AsyncIterable<FileInfo> {
      // Decide now, so `calls` and the rule counters follow call order, not iteration.
      const fault = pick('list', prefix);
      return (async function* () {
        await before(fault, 'list', prefix);
        yield* inner.list(prefix);
      })();
    },
    async stat(name: string): Promise<FileInfo> {
      const fault = pick('stat', name);
      await before(fault, 'stat', name);
      return inner.stat(name);
    },
    async remove(name: string): Promise<void> {
      const fault = pick('remove', name);
      await before(fault, 'remove', name);
      await inner.remove(name);
    },
    close: () => inner.close(),
    ...(inner.cleanup ? { cleanup: (olderThanMs: number) => inner.cleanup!(olderThanMs) } : {}),
  };
}

function matches(match: FaultRule['match'], name: string): boolean {
  if (match === undefined) return true;
  if (typeof match === 'function') return match(name);
  match.lastIndex = 0; // a /g or /y RegExp keeps state between test() calls
  return match.test(name);
}

function damage(fault: FaultKind | undefined, data: Uint8Array): Buffer {
  if (fault === 'truncate') return Buffer.from(data.subarray(0, Math.floor(data.length / 2)));
  const out = Buffer.from(data);
  if (fault === 'corrupt' && out.length > 0) {
    const i = Math.floor(out.length / 2);
    out[i] = out[i]! ^ 0xff;
  }
  return out;
}
