import { promises as fsp } from 'node:fs';
import { CairnError } from '../core/errors/index.js';
import { decodeName } from './decode-name.js';

/**
 * restic-style exclude patterns.
 *
 *  - `*` any run of characters within one name, `?` one character, `[abc]` `[a-z]`
 *    `[!a]`/`[^a]` one character of a set, `\x` the character x itself.
 *  - `**` as a whole component matches zero or more directories (so `a/**` also
 *    matches `a`, as in restic).
 *  - A pattern without a leading `/` matches at any depth: `cache` matches every entry
 *    named cache, `foo/bar` every bar inside a foo. A leading `/` anchors it at the start
 *    of the path (the absolute path, as the walker passes it).
 *  - A pattern that matches a directory also matches everything below it.
 *  - A trailing `/` matches directories only.
 *  - `!pattern` re-includes; the last pattern that matches decides. Excluding a
 *    directory prunes the walk, so re-including something inside it needs the
 *    contents excluded instead: `/data/*` then `!/data/keep` (restic's rule too).
 *
 * Names are bytes: each path component is decoded as UTF-8 where valid, and each
 * invalid byte b becomes U+DC00+b (decodeName). So patterns are written as ordinary
 * text, `?` matches one character (é is one, not two bytes), and names that are not
 * UTF-8 are still matched by wildcards. No Unicode normalization: NFC and NFD spellings
 * are different names, as on disk. Matching is case-sensitive.
 */
export type ExcludeFn = (path: Buffer, isDir: boolean) => boolean;

type Part = { kind: 'any' } | { kind: 'literal'; text: string } | { kind: 'glob'; re: RegExp };

interface Pattern {
  negate: boolean;
  anchored: boolean;
  dirOnly: boolean;
  parts: Part[];
}

/** Compiles patterns (blank ones ignored) into one predicate: true = exclude.
 *  Throws CONFIG_INVALID for a malformed pattern such as an unclosed `[`. */
export function compileExcludes(patterns: string[]): ExcludeFn {
  const compiled = patterns.filter((p) => p !== '').map(compilePattern);
  if (compiled.length === 0) return () => false;
  const split = componentSplitter();
  return (path, isDir) => {
    const names = split(path);
    for (let i = compiled.length - 1; i >= 0; i--) {
      const pattern = compiled[i]!;
      if (matches(pattern, names, isDir)) return !pattern.negate;
    }
    return false;
  };
}

function compilePattern(source: string): Pattern {
  let text = source;
  const negate = text.startsWith('!');
  if (negate) text = text.slice(1);
  const anchored = text.startsWith('/');
  const dirOnly = text.length > 1 && text.endsWith('/') && !text.endsWith('\\/');
  const components = text.split('/').filter((c) => c !== '' && c !== '.');
  if (negate && components.length === 0) invalid(source, 'nothing after "!"');
  return { negate, anchored, dirOnly, parts: components.map((c) => compilePart(c, source)) };
}

function compilePart(component: string, source: string): Part {
  if (component === '**') return { kind: 'any' };
  let re = '';
  let literal = '';
  let isGlob = false;
  const chars = Array.from(component); // code points, so a class range can span é..ü
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\\') {
      const next = chars[++i];
      if (next === undefined) invalid(source, 'trailing "\\"');
      re += escapeRegExp(next);
      literal += next;
    } else if (c === '*') {
      isGlob = true;
      while (chars[i + 1] === '*') i++; // `a**b` is just `a*b`
      re += '.*';
    } else if (c === '?') {
      isGlob = true;
      re += '.';
    } else if (c === '[') {
      isGlob = true;
      const [cls, end] = compileClass(chars, i + 1, source);
      re += cls;
      i = end;
    } else {
      re += escapeRegExp(c);
      literal += c;
    }
  }
  if (!isGlob) return { kind: 'literal', text: literal };
  // `s`: names may contain newlines; `u`: match code points, including lone surrogates.
  return { kind: 'glob', re: new RegExp(`^(?:${re})$`, 'su') };
}

/** Parses `[...]` starting after the `[`; returns the regex class and the index of `]`. */
function compileClass(chars: string[], start: number, source: string): [string, number] {
  let i = start;
  let negated = false;
  if (chars[i] === '!' || chars[i] === '^') {
    negated = true;
    i++;
  }
  let body = '';
  let first = true;
  for (; i < chars.length; i++) {
    let c = chars[i]!;
    if (c === ']' && !first) {
      if (body === '') invalid(source, 'empty character class');
      return [`[${negated ? '^' : ''}${body}]`, i];
    }
    first = false;
    if (c === '\\') {
      const next = chars[++i];
      if (next === undefined) break;
      c = next;
    }
    if (chars[i + 1] === '-' && chars[i + 2] !== undefined && chars[i + 2] !== ']') {
      let hi = chars[i + 2]!;
      i += 2;
      if (hi === '\\') {
        const next = chars[++i];
        if (next === undefined) break;
        hi = next;
      }
      if (hi.codePointAt(0)! < c.codePointAt(0)!) invalid(source, `bad range ${c}-${hi}`);
      body += `${escapeClassChar(c)}-${escapeClassChar(hi)}`;
    } else {
      body += escapeClassChar(c);
    }
  }
  return invalid(source, 'unclosed "["');
}

function matches(pattern: Pattern, names: string[], isDir: boolean): boolean {
  const { parts, dirOnly } = pattern;
  // Does parts[pi..] match names[si..] (the rest of the path may remain: a match on a
  // directory covers what is below it)?
  const from = (pi: number, si: number): boolean => {
    if (pi === parts.length) return !dirOnly || si < names.length || isDir;
    const part = parts[pi]!;
    if (part.kind === 'any') {
      for (let k = si; k <= names.length; k++) if (from(pi + 1, k)) return true;
      return false;
    }
    if (si >= names.length) return false;
    const name = names[si]!;
    const ok = part.kind === 'literal' ? part.text === name : part.re.test(name);
    return ok && from(pi + 1, si + 1);
  };
  if (pattern.anchored) return from(0, 0);
  for (let offset = 0; offset < names.length; offset++) if (from(0, offset)) return true;
  return false;
}

/**
 * Splits a path into decoded names. The walker asks about all children of a directory
 * in a row, so the decoded parent is remembered and only the last name is decoded anew.
 */
function componentSplitter(): (path: Buffer) => string[] {
  let lastDir: Buffer | undefined;
  let lastDirNames: string[] = [];
  return (path) => {
    const cut = path.lastIndexOf(0x2f);
    const dir = cut < 0 ? Buffer.alloc(0) : path.subarray(0, cut);
    if (lastDir === undefined || !dir.equals(lastDir)) {
      lastDir = Buffer.from(dir); // a copy: the caller may reuse its buffer
      lastDirNames = splitNames(dir);
    }
    const base = path.subarray(cut + 1);
    return base.length > 0 ? [...lastDirNames, decodeName(base)] : lastDirNames;
  };
}

function splitNames(path: Buffer): string[] {
  const names: string[] = [];
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i === path.length || path[i] === 0x2f) {
      if (i > start) names.push(decodeName(path.subarray(start, i)));
      start = i + 1;
    }
  }
  return names;
}

function escapeRegExp(c: string): string {
  // Outside a class the `u` flag allows escaping only syntax characters and `/`.
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

function escapeClassChar(c: string): string {
  return /[\\\]^[-]/.test(c) ? `\\${c}` : c;
}

function invalid(pattern: string, why: string): never {
  throw new CairnError('CONFIG_INVALID', `invalid exclude pattern ${JSON.stringify(pattern)}: ${why}`, {
    hint: 'escape a literal *, ?, [ or \\ with a backslash',
  });
}

/**
 * Reads an exclude file: one pattern per line, surrounding whitespace trimmed (as
 * restic does), blank lines and lines starting with `#` skipped.
 */
export async function readExcludeFile(path: string | Buffer): Promise<string[]> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    const shown = path.toString();
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CairnError('SOURCE_NOT_FOUND', `exclude file not found: ${shown}`, {
        cause: err,
        hint: 'check the path given to --exclude-file',
      });
    }
    throw new CairnError('CONFIG_INVALID', `cannot read exclude file ${shown}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}
