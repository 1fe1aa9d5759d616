import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram, commandPath } from '../../src/cli/build-program.js';

const doc = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/** The text under a heading whose title is exactly `cairn <path>`, up to the next heading. */
function section(path: string): string | undefined {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^#{2,4} \`cairn ${path}\`\\s*$`).test(l));
  if (start < 0) return undefined;
  const end = lines.findIndex((l, i) => i > start && /^#{1,4} /.test(l));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

function longFlags(cmd: Command): string[] {
  return cmd.options.map((o) => o.long).filter((l): l is string => l !== undefined);
}

const program = buildProgram();
const commands = allCommands(program);

describe('docs/cli.md', () => {
  it('finds the commands', () => {
    expect(commands.map((c) => commandPath(c))).toEqual(
      expect.arrayContaining(['init', 'backup', 'snapshots', 'key add', 'repair index', 'demo']),
    );
  });

  it.each(commands.map((c) => [commandPath(c), c] as const))('has a section for cairn %s with all its flags', (path, cmd) => {
    const text = section(path);
    expect(text, `no "### \`cairn ${path}\`" heading`).toBeDefined();
    for (const flag of longFlags(cmd)) expect(text, `cairn ${path}: ${flag} is not documented`).toContain(`\`${flag}`);
  });

  it('documents every global option in the Global options section', () => {
    const start = doc.indexOf('## Global options');
    const text = doc.slice(start, doc.indexOf('\n## ', start + 1));
    for (const flag of longFlags(program)) expect(text, `${flag} not documented`).toContain(`\`${flag}`);
  });

  it('documents every environment variable the CLI reads', () => {
    for (const v of ['CAIRN_REPO', 'CAIRN_PASSWORD_FILE', 'CAIRN_PASSWORD', 'CAIRN_NEW_PASSWORD', 'CAIRN_CACHE_DIR', 'XDG_CACHE_HOME', 'CAIRN_KDF_N']) {
      expect(doc).toContain(`| \`${v}\` |`);
    }
  });

  it('every command has --help text with an example', () => {
    for (const cmd of commands) {
      let help = '';
      cmd.configureOutput({ writeOut: (s) => void (help += s) });
      cmd.outputHelp();
      expect(help, commandPath(cmd)).toMatch(/Examples?:\n\s+cairn /);
    }
  });
});
