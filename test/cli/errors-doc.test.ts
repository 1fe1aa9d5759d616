import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/core/errors/index.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const cliDoc = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');

/** Rows of the summary table: | `CODE` | exit | meaning | */
function documentedExitCodes(text: string): Map<string, number> {
  const rows = new Map<string, number>();
  for (const m of text.matchAll(/^\|\s*`([A-Z_]+)`\s*\|\s*(\d+)\s*\|/gm)) rows.set(m[1]!, Number(m[2]));
  return rows;
}

describe('docs/errors.md', () => {
  const rows = documentedExitCodes(doc);

  it.each(Object.entries(ERROR_CODES))('documents %s with its exit code', (code, { exitCode }) => {
    expect(rows.has(code), `${code} missing from the summary table`).toBe(true);
    expect(rows.get(code), `${code}: docs say exit ${rows.get(code)}, codes.ts says ${exitCode}`).toBe(exitCode);
  });

  it('documents no code that does not exist', () => {
    for (const code of rows.keys()) expect(Object.keys(ERROR_CODES)).toContain(code);
  });

  it.each(Object.entries(ERROR_CODES))('has a section for %s with cause and remedy', (code, { exitCode }) => {
    const heading = `### \`${code}\` (exit ${exitCode})`;
    expect(doc).toContain(heading);
    const section = doc.slice(doc.indexOf(heading)).split(/\n### /)[0]!;
    expect(section).toContain('**Typical cause:**');
    expect(section).toContain('**What to do:**');
  });
});

describe('docs/cli.md exit code table', () => {
  it.each(Object.entries(ERROR_CODES))('lists %s under exit %i', (code, { exitCode }) => {
    const row = cliDoc.split('\n').find((l) => new RegExp(`^\\|\\s*${exitCode}\\s*\\|`).test(l));
    expect(row, `no row for exit ${exitCode}`).toBeDefined();
    expect(row).toContain(`\`${code}\``);
  });
});
