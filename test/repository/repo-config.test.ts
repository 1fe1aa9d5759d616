import { describe, expect, it } from 'vitest';
import { parseRepoConfig } from '../../src/repository/repo-config.js';

describe('parseRepoConfig', () => {
  const parse = (text: string) => () => parseRepoConfig(Buffer.from(text), '/srv/repo');

  it('valid JSON that is no object is a damaged config, not a crash', () => {
    // Before: `null` gave "TypeError: Cannot read properties of null (reading 'format')".
    for (const text of ['null', '42', '"cairn"', '[]', 'true']) {
      expect(parse(text), text).toThrow(expect.objectContaining({ code: 'REPO_CORRUPT', message: expect.stringContaining('not a JSON object') }));
    }
  });

  it('garbage is REPO_CORRUPT; an object without the marker is no repository', () => {
    expect(parse('{not json')).toThrow(expect.objectContaining({ code: 'REPO_CORRUPT' }));
    expect(parse('{"format":"other"}')).toThrow(expect.objectContaining({ code: 'REPO_NOT_FOUND' }));
  });

  it('a newer format version and an incomplete config have their own codes', () => {
    expect(parse('{"format":"cairn-repository","version":99}')).toThrow(expect.objectContaining({ code: 'REPO_VERSION' }));
    expect(parse('{"format":"cairn-repository","version":1}')).toThrow(expect.objectContaining({ code: 'REPO_CORRUPT' }));
  });
});
