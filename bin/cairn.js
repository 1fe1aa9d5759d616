#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm install` (prepare) or `npm run build`.
// More libuv threads than the default 4: a walk over a cold cache keeps dozens of
// lstat/readdir calls in flight, and restores keep many files open. Set before any I/O.
process.env.UV_THREADPOOL_SIZE ??= '16';
import('../dist/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write('cairn: not built yet, run `npm install` (or `npm run build`) first\n');
    process.exit(1);
  }
  throw err;
});
