#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm install` (prepare) or `npm run build`,
// and bundled into one module, dist/bundle/main.js (its worker beside it): Node's ESM
// loader costs ~0.2 s for the ~240 modules a command loads otherwise.
import { setFlagsFromString } from 'node:v8';

// More libuv threads than the default 4: restores keep many files open, and the walk's
// directory scans share the pool with scrypt and file I/O. Set before any I/O.
process.env.UV_THREADPOOL_SIZE ??= '16';

// V8 lets a heap grow to up to ~4× what was live at the last full collection before it
// collects again. The main thread of a backup keeps ~10 MB live but makes garbage that
// outlives the young generation (results of files in flight, tree nodes, index
// entries), so its heap swung between ~30 and ~120 MB: with 400k small files that put
// the peak RSS at 306 MiB. Growing by at most 50% keeps the swing at ~30–65 MB (peak
// 277 MiB there) and measured no slower. A flag given to node itself wins.
if (!process.execArgv.some((a) => a.startsWith('--heap-growing-percent'))) {
  setFlagsFromString('--heap-growing-percent=50');
}

import('../dist/bundle/main.js').then((m) => m.main(process.argv)).catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write('cairn: not built yet, run `npm install` (or `npm run build`) first\n');
    process.exit(1);
  }
  throw err;
});
