// Small files (0.5-32 KiB), ~70% text and ~30% binary: the "200 new files" of mutate.mjs.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from './rng.mjs';
import { WORDS } from './words.mjs';

export function writeSmallFiles(dir, count, seed = 'small') {
  const r = new Rng(seed);
  mkdirSync(dir, { recursive: true });
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const size = r.int(512, 32768);
    const text = r.chance(7, 10);
    let data;
    if (text) {
      const words = [];
      let n = 0;
      while (n < size) {
        const word = r.pick(WORDS);
        words.push(word);
        n += word.length + 1;
      }
      data = Buffer.from(`${words.join(' ')}\n`, 'latin1');
    } else {
      data = Buffer.allocUnsafe(size);
      for (let o = 0; o < size; o++) data[o] = r.u32() & 0xff;
    }
    writeFileSync(join(dir, `item-${String(i).padStart(4, '0')}.${text ? 'txt' : 'dat'}`), data);
    bytes += data.length;
  }
  return { files: count, bytes };
}
