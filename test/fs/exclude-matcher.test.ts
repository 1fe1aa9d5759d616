import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isCairnError } from '../../src/core/errors/index.js';
import { compileExcludes, readExcludeFile } from '../../src/fs/exclude-matcher.js';

type Row = [patterns: string[], path: string | Buffer, isDir: boolean, excluded: boolean];

// prettier-ignore
const table: Row[] = [
  // A name without "/" matches that component anywhere, and everything below it.
  [['cache'],            '/home/u/cache',             true,  true],
  [['cache'],            '/home/u/cache/x/y.txt',     false, true],
  [['cache'],            '/cache',                    false, true],
  [['cache'],            '/home/u/cached',            true,  false],
  [['cache'],            '/home/u/my-cache',          false, false],
  // Wildcards stay within one component.
  [['*.tmp'],            '/a/b/file.tmp',             false, true],
  [['*.tmp'],            '/a/b/file.tmp.txt',         false, false],
  [['*.tmp'],            '/a/.tmp',                   false, true],
  [['file?.txt'],        '/x/file1.txt',              false, true],
  [['file?.txt'],        '/x/file12.txt',             false, false],
  [['file?.txt'],        '/x/file.txt',               false, false],
  [['[abc].log'],        '/x/b.log',                  false, true],
  [['[abc].log'],        '/x/d.log',                  false, false],
  [['[a-c]x'],           '/x/bx',                     false, true],
  [['[!a-c]x'],          '/x/bx',                     false, false],
  [['[^a-c]x'],          '/x/dx',                     false, true],
  [['[]]'],              '/x/]',                      false, true],
  [['a*b'],              '/x/a/b',                    false, false], // * does not cross "/"
  // Patterns with "/" but no leading "/" match at any depth.
  [['foo/bar'],          '/x/foo/bar',                false, true],
  [['foo/bar'],          '/foo/bar/baz',              false, true],
  [['foo/bar'],          '/x/foo/baz/bar',            false, false],
  [['foo/*/baz'],        '/r/foo/anything/baz',       false, true],
  // A leading "/" anchors at the start of the absolute path.
  [['/home'],            '/home',                     true,  true],
  [['/home'],            '/home/u/file',              false, true],
  [['/home'],            '/srv/home',                 true,  false],
  [['/home/*/.cache'],   '/home/u/.cache',            true,  true],
  [['/home/*/.cache'],   '/home/u/x/.cache',          true,  false],
  // "**" spans any number of directories, including none.
  [['/a/**/z'],          '/a/z',                      false, true],
  [['/a/**/z'],          '/a/b/c/d/z',                false, true],
  [['/a/**/z'],          '/b/a/z',                    false, false],
  [['**/node_modules'],  '/p/q/node_modules',         true,  true],
  [['/a/**'],            '/a',                        true,  true],
  [['/a/**'],            '/a/b/c',                    false, true],
  [['x/**/*.o'],         '/src/x/y/z/main.o',         false, true],
  // A trailing "/" matches directories only (and therefore what is inside them).
  [['build/'],           '/p/build',                  true,  true],
  [['build/'],           '/p/build',                  false, false],
  [['build/'],           '/p/build/out.o',            false, true],
  // Negation: the last matching pattern wins.
  [['*.log', '!keep.log'],            '/var/keep.log',     false, false],
  [['*.log', '!keep.log'],            '/var/drop.log',     false, true],
  [['!keep.log', '*.log'],            '/var/keep.log',     false, true],
  [['/data/*', '!/data/keep'],        '/data/keep',        true,  false],
  [['/data/*', '!/data/keep'],        '/data/keep/f',      false, false],
  [['/data/*', '!/data/keep'],        '/data/other',       true,  true],
  [['\\!bang'],                       '/x/!bang',          false, true],
  // Escapes make metacharacters literal.
  [['\\*star'],          '/x/*star',                  false, true],
  [['\\*star'],          '/x/bigstar',                false, false],
  [['\\[x\\]'],          '/x/[x]',                    false, true],
  // Names are matched as text where they are UTF-8: "?" is one character, not one byte.
  [['caf?'],             '/x/café',                   false, true],
  [['[é]'],              '/x/é',                      false, true],
  [['[à-ü]x'],           '/x/éx',                     false, true],
  [['é'],                '/x/e\u0301',                false, false], // NFD is another name
  [['*'],                '/x/with\nnewline',          false, true],
  [['with?newline'],     '/x/with\nnewline',          false, true],
  // Names that are not UTF-8 still match wildcards.
  [['f*'],               Buffer.from([0x2f, 0x66, 0xff, 0xfe]),             false, true],
  [['f??'],              Buffer.from([0x2f, 0x66, 0xff, 0xfe]),             false, true],
  [['f?'],               Buffer.from([0x2f, 0x66, 0xff, 0xfe]),             false, false],
  [['/d/*.txt'],         Buffer.from('/d/\xff.txt', 'latin1'),              false, true],
  [['*'],                Buffer.from([0x2f, 0x80]),                         false, true],
  // Nothing to exclude.
  [[],                   '/anything',                 true,  false],
  [[''],                 '/anything',                 true,  false],
];

describe('compileExcludes', () => {
  it.each(table.map((row, i) => [i, ...row] as const))(
    '#%i %j on %s (dir=%s) -> %s',
    (_i, patterns, path, isDir, excluded) => {
      const fn = compileExcludes(patterns);
      expect(fn(Buffer.isBuffer(path) ? path : Buffer.from(path), isDir)).toBe(excluded);
    },
  );

  it('gives the same answers when asked about many siblings in a row (cached parent)', () => {
    const fn = compileExcludes(['/a/b/*.x', '!/a/b/keep.x']);
    const answers = ['/a/b/1.x', '/a/b/keep.x', '/a/c/1.x', '/a/b/2.x', '/a/b/2.y'].map((p) => fn(Buffer.from(p), false));
    expect(answers).toEqual([true, false, false, true, false]);
  });

  it.each(['[abc', 'a\\', '!', '[z-a]'])('rejects the malformed pattern %j with CONFIG_INVALID', (pattern) => {
    let caught: unknown;
    try {
      compileExcludes([pattern]);
    } catch (err) {
      caught = err;
    }
    expect(isCairnError(caught, 'CONFIG_INVALID')).toBe(true);
  });
});

describe('readExcludeFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-excl-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('skips blank lines and comments and trims whitespace', async () => {
    const file = join(dir, 'excludes');
    writeFileSync(file, '# comment\n\n  *.tmp  \r\n/home/*/.cache\n   # indented comment\n!keep.tmp\n');
    expect(await readExcludeFile(file)).toEqual(['*.tmp', '/home/*/.cache', '!keep.tmp']);
  });

  it('reports a missing file as SOURCE_NOT_FOUND and an unreadable one as CONFIG_INVALID', async () => {
    await expect(readExcludeFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'SOURCE_NOT_FOUND' });
    await expect(readExcludeFile(dir)).rejects.toMatchObject({ code: 'CONFIG_INVALID' }); // EISDIR
  });
});
