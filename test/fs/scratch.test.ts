import { it } from 'vitest';
import { makeTortureTree, manifest } from '../helpers/manifest.js';
import { walk } from '../../src/fs/walker.js';
it('timing', async () => {
  const dir = '/tmp/cairn-scratch-tree'; await import('node:fs').then(f => f.rmSync(dir, {recursive: true, force: true}));
  let t = Date.now(); const info = await makeTortureTree(dir); console.log('make', Date.now() - t, info.skipped);
  t = Date.now(); const m = await manifest(dir); console.log('manifest', Date.now() - t, m.entries.length);
  t = Date.now(); let n = 0; for await (const e of walk(Buffer.from(dir))) n++; console.log('walk', Date.now() - t, n);
});
