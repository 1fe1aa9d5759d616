#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm install` (prepare) or `npm run build`,
// and bundled into one module, dist/bundle/main.js (its worker beside it): Node's ESM
// loader costs ~0.2 s for the ~240 modules a command loads otherwise.
// More libuv threads than the default 4: restores keep many files open, and the walk's
// directory scans share the pool with scrypt and file I/O. Set before any I/O.
process.env.UV_THREADPOOL_SIZE ??= '16';
import('../dist/bundle/main.js').then((m) => m.main(process.argv)).catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write('cairn: not built yet, run `npm install` (or `npm run build`) first\n');
    process.exit(1);
  }
  throw err;
});
