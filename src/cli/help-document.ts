import type { Command, Option } from 'commander';

/** What `--help --json` prints for one command. */
export interface HelpDocument {
  /** "backup", "key add"; "" for cairn itself. */
  command: string;
  usage: string;
  description: string;
  arguments: { name: string; description: string; required: boolean; variadic: boolean }[];
  options: { flags: string; description: string }[];
  commands: { name: string; description: string }[];
  /** The help exactly as the terminal shows it, examples included. */
  text: string;
}

/**
 * With --json, what `--version` and `--help` (or `cairn help CMD`) print instead of
 * commander's text: `{"version": "…"}` or a HelpDocument. Null when argv asks for
 * neither, and commander runs as usual. Read from argv before commander parses, because
 * commander writes help and version itself, as text, the moment it meets the flag.
 */
export function metaDocument(program: Command, argv: readonly string[]): { version: string } | HelpDocument | null {
  let cmd = program;
  let atRoot = true;
  let help = false;
  let version = false;
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    if (a === '--help' || a === '-h') help = true;
    else if ((a === '--version' || a === '-V') && atRoot) version = true;
    else if (a.startsWith('-')) {
      // Skip an option's value ("-r backup" names a repository, not the command).
      const o = findOption(cmd, a) ?? findOption(program, a);
      if (o && (o.required || o.optional) && !a.includes('=') && !(o.optional && args[i + 1]?.startsWith('-'))) i++;
    } else if (atRoot && cmd === program && a === 'help') {
      help = true;
    } else {
      const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
      if (sub) {
        cmd = sub;
        atRoot = false;
      }
    }
  }
  if (version) return { version: program.version() ?? '0.0.0' };
  if (!help) return null;
  return describe(cmd);
}

function findOption(cmd: Command, flag: string): Option | undefined {
  const name = flag.split('=')[0];
  return cmd.options.find((o) => o.short === name || o.long === name);
}

function describe(cmd: Command): HelpDocument {
  const helper = cmd.createHelp();
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return {
    command: names.join(' '),
    usage: helper.commandUsage(cmd),
    description: helper.commandDescription(cmd),
    arguments: helper.visibleArguments(cmd).map((a) => ({ name: a.name(), description: a.description, required: a.required, variadic: a.variadic })),
    options: helper.visibleOptions(cmd).map((o) => ({ flags: o.flags, description: helper.optionDescription(o) })),
    commands: helper.visibleCommands(cmd).map((c) => ({ name: c.name(), description: helper.subcommandDescription(c) })),
    text: helpText(cmd),
  };
}

/** The help as printed, with the text added before and after it (examples), captured instead of written. */
function helpText(cmd: Command): string {
  let out = '';
  const saved = cmd.configureOutput();
  cmd.configureOutput({ ...saved, writeOut: (s: string) => void (out += s) });
  try {
    cmd.outputHelp();
  } finally {
    cmd.configureOutput(saved);
  }
  return out;
}
