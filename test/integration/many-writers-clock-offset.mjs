// Preloaded into a cairn child (NODE_OPTIONS=--import <this file>) by the many-writers
// tests: shifts the process's wall clock by CAIRN_TEST_CLOCK_OFFSET_MS, so one child can
// stand for a host whose clock is ahead or behind, or for a process started minutes
// later, without waiting. Only `new Date()` and `Date.now()` move; timers do not.
const offset = Number(process.env.CAIRN_TEST_CLOCK_OFFSET_MS ?? 0);
if (Number.isFinite(offset) && offset !== 0) {
  const RealDate = Date;
  class ShiftedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + offset);
      else super(...args);
    }
    static now() {
      return RealDate.now() + offset;
    }
  }
  globalThis.Date = ShiftedDate;
}
