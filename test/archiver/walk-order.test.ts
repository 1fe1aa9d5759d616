import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { WalkAhead, WalkStream } from '../../src/archiver/walk-ahead.js';
import { walkEvents } from '../../src/fs/walker.js';
import { makeTempRepo, type TempRepo } from '../helpers/temp-repo.js';

/** A walk-ahead that hands the backup `walk` of `src`, as a real one would its own walk. */
function fakeAhead(src: string, walk: WalkStream): WalkAhead {
  return { startedAt: new Date(8.64e15), take: async () => ({ path: src, walk }) } as unknown as WalkAhead;
}

/** The real walk of `src` with the entries of each directory in reverse order. */
async function* reversed(src: string): WalkStream {
  const events = [];
  for await (const ev of walkEvents(Buffer.from(src))) events.push(ev);
  // src, a, b, c, leave src  ->  src, c, b, a, leave src
  yield events[0]!;
  yield* events.slice(1, -1).reverse();
  yield events[events.length - 1]!;
}

describe('Archiver: a directory\'s entries are stored in the order the walk gives them', () => {
  let t: TempRepo | undefined;
  afterEach(async () => {
    await t?.cleanup();
    t = undefined;
  });

  it('fails the backup, committing nothing, when a walk breaks the byte order the tree format needs', async () => {
    t = await makeTempRepo();
    const src = join(t.dir, 'src');
    await mkdir(src);
    for (const n of ['a', 'b', 'c']) await writeFile(join(src, n), `${n}\n`);
    const s = await t.open();
    await expect(s.backup({ paths: [src], walkAhead: fakeAhead(src, reversed(src)) })).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/"b" after "c": not in byte order/) });
    expect(await s.snapshots()).toEqual([]);

    // The same tree walked in order is stored, its entries sorted by name bytes.
    await s.backup({ paths: [src], walkAhead: fakeAhead(src, walkEvents(Buffer.from(src))) });
    const listed: string[] = [];
    for await (const n of s.ls('latest', { path: src })) listed.push(n.path.slice(src.length + 1));
    expect(listed).toEqual(['a', 'b', 'c']);
    await s.close();
  });
});
