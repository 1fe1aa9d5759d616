import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { type CliDeps, defaultCliDeps } from './cli-deps.js';
import { backupCommand } from './commands/backup-command.js';
import { catCommand } from './commands/cat-command.js';
import { copyCommand } from './commands/copy-command.js';
import { checkCommand } from './commands/check-command.js';
import { demoCommand } from './commands/demo-command.js';
import { diffCommand } from './commands/diff-command.js';
import { findCommand } from './commands/find-command.js';
import { forgetCommand } from './commands/forget-command.js';
import { initCommand } from './commands/init-command.js';
import { keyCommand } from './commands/key-command.js';
import { lsCommand } from './commands/ls-command.js';
import { pruneCommand } from './commands/prune-command.js';
import { repairCommand } from './commands/repair-command.js';
import { unlockCommand } from './commands/unlock-command.js';
import { restoreCommand } from './commands/restore-command.js';
import { snapshotsCommand } from './commands/snapshots-command.js';
import { statsCommand } from './commands/stats-command.js';
import { streamCommand } from './commands/stream-command.js';
import { walPushCommand } from './commands/wal-push-command.js';
import { tagCommand } from './commands/tag-command.js';
import { rewriteCommand } from './commands/rewrite-command.js';
import { pitrCommand } from './commands/pitr-command.js';

function packageVersion(): string {
  try {
    // src/cli/, dist/cli/ and dist/bundle/ are all two levels below the package root.
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap((c) => allCommands(c))];
}

/** "key add" for the key add command; "" for the program itself. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * The whole `cairn` command tree, ready to parseAsync() but not run. Commander never
 * exits or prints errors itself: usage errors surface as CommanderErrors tagged with
 * the command they happened in, and main() renders them.
 */
export function buildProgram(overrides: Partial<CliDeps> = {}): Command {
  const deps = defaultCliDeps(overrides);
  const program = new Command('cairn')
    .description('Encrypted, deduplicating backups. Run "cairn demo" to try it on a sample directory.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('-r, --repo <path>', 'repository location (env CAIRN_REPO)')
    .option('--password-file <file>', 'read the password from the first line of this file (env CAIRN_PASSWORD_FILE)')
    .option('--cache-dir <dir>', 'local index cache (env CAIRN_CACHE_DIR; default $XDG_CACHE_HOME/cairn or ~/.cache/cairn)')
    .option('--json', 'print exactly one JSON document on stdout (errors too)')
    .addOption(new Option('-q, --quiet', 'print only results, warnings and errors').conflicts('verbose'))
    .option('-v, --verbose', 'more detail: per-file lines for backup and restore, error causes')
    .option('--no-progress', 'never draw progress bars (they are drawn only when stderr is a terminal)')
    .option('--threads <n>', 'worker threads for compression, encryption and verification (env CAIRN_THREADS; default one per core, 0 = none)')
    .configureOutput({
      writeOut: (s) => void deps.stdout.write(s),
      // Only help-on-error (a missing command) goes here; main() prints one usage line instead.
      writeErr: () => undefined,
      // main() prints usage errors as one line; commander must not print them too.
      outputError: () => undefined,
    })
    .showSuggestionAfterError(true)
    .exitOverride()
    .addHelpText(
      'after',
      `
The password comes from --password-file, CAIRN_PASSWORD_FILE, CAIRN_PASSWORD, or a
prompt on the terminal, in that order. Exit codes: 0 ok, 1 internal error, 2 usage,
3 backup incomplete, 10 no repository, 11 locked, 12 wrong password, 130 cancelled;
see docs/errors.md for all.

Examples:
  cairn demo
  export CAIRN_REPO=/srv/backups/laptop CAIRN_PASSWORD_FILE=/root/.cairn-password
  cairn init
  cairn backup /home --tag daily
  cairn snapshots
  cairn restore latest --target /tmp/restore --verify`,
    );

  initCommand(program, deps);
  backupCommand(program, deps);
  snapshotsCommand(program, deps);
  lsCommand(program, deps);
  findCommand(program, deps);
  diffCommand(program, deps);
  restoreCommand(program, deps);
  catCommand(program, deps);
  copyCommand(program, deps);
  checkCommand(program, deps);
  forgetCommand(program, deps);
  tagCommand(program, deps);
  rewriteCommand(program, deps);
  pruneCommand(program, deps);
  statsCommand(program, deps);
  keyCommand(program, deps);
  repairCommand(program, deps);
  unlockCommand(program, deps);
  streamCommand(program, deps);
  walPushCommand(program, deps);
  pitrCommand(program, deps);
  demoCommand(program, deps);

  for (const cmd of allCommands(program)) {
    const path = commandPath(cmd);
    cmd.exitOverride((err: CommanderError) => {
      throw Object.assign(err, { commandPath: path });
    });
  }
  return program;
}
