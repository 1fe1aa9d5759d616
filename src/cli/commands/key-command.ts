import type { Command } from 'commander';
import type { KeyInfo } from '../../engine/types.js';
import { requireFullAccess } from '../../engine/require-full-access.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { formatTable } from '../format-table.js';
import { formatTime } from '../format-time.js';
import { resolveNewPassword } from '../resolve-password.js';

interface NewPasswordFlags {
  newPasswordFile?: string;
  label?: string;
  appendOnly?: boolean;
}

export function formatKeyTable(keys: readonly KeyInfo[]): string[] {
  return formatTable(
    ['', 'ID', 'Role', 'Created', 'Host', 'User', 'Label'],
    keys.map((k) => [k.current ? '*' : '', k.id.slice(0, 8), k.role, formatTime(k.created), k.host, k.user, k.label ?? '']),
  );
}


function newPassword(ctx: CliContext, flags: NewPasswordFlags): Promise<string> {
  const file = flags.newPasswordFile === undefined ? undefined : ctx.resolvePath(flags.newPasswordFile);
  return resolveNewPassword(file, ctx.deps.env, { stdin: ctx.deps.stdin, stderr: ctx.deps.stderr, signal: ctx.signal });
}

/** `key list|add|remove|passwd`: manage the password key slots. */
export function keyCommand(parent: Command, deps: CliDeps): Command {
  const key = parent
    .command('key')
    .description('manage the passwords (key slots) that open the repository')
    .addHelpText(
      'after',
      `
Every key slot wraps the same master key, so adding or removing a password never
re-encrypts data. The key that opened the session is marked with *. A full key may
do everything; an append-only key (key add --append-only) may back up and read, but
not forget, prune, repair or change keys (see docs/security.md).

Examples:
  cairn key list
  cairn key add --new-password-file /root/second-password --label "ops vault"
  cairn key add --append-only --new-password-file /root/web1-password --label "host web1"
  cairn key remove 5e6f7a8b
  cairn key passwd`,
    );

  key
    .command('list')
    .description('list key slots')
    .addHelpText('after', '\nExample:\n  cairn key list --json')
    .action(async (_flags: unknown, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const keys = await ctx.withSession((s) => s.listKeys());
      ctx.out.result(keys, () => ctx.out.printLines(formatKeyTable(keys)));
    });

  key
    .command('add')
    .description('add a key slot for another password')
    .option('--new-password-file <file>', 'read the new password from this file (else CAIRN_NEW_PASSWORD, else asked twice)')
    .option('--label <text>', 'a note stored with the key slot, e.g. who holds the password')
    .option('--append-only', 'the new key may add snapshots but never forget, prune, repair or change keys')
    .addHelpText(
      'after',
      [
        '',
        'Only a full-access key may add keys. Give each backed-up host an append-only key,',
        'and keep the full key on an administration host for forget and prune.',
        '',
        'Examples:',
        '  cairn key add --new-password-file /root/ops-password --label "ops vault"',
        '  cairn key add --append-only --new-password-file /root/web1-password --label "host web1"',
        '  CAIRN_NEW_PASSWORD=... cairn key add',
      ].join('\n'),
    )
    .action(async (flags: NewPasswordFlags, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const info = await ctx.withSession(async (s) => {
        // Checked before the new password is asked for, not after it was typed twice.
        requireFullAccess(s.role, 'key add');
        const pw = await newPassword(ctx, flags);
        return s.addKey(pw, {
          ...(flags.label !== undefined ? { label: flags.label } : {}),
          ...(flags.appendOnly ? { role: 'append-only' as const } : {}),
        });
      });
      ctx.out.result(info, () => ctx.out.info(`added ${info.role} key ${info.id.slice(0, 8)}`));
    });

  key
    .command('remove')
    .description('remove a key slot (the last one cannot be removed)')
    .argument('<id>', 'key id or unique prefix, as shown by key list')
    .addHelpText('after', '\nExample:\n  cairn key remove 5e6f7a8b')
    .action(async (id: string, _flags: unknown, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      await ctx.withSession((s) => s.removeKey(id));
      ctx.out.result({ removed: id }, () => ctx.out.info(`removed key ${id}`));
    });

  key
    .command('passwd')
    .description('change the password of the key slot you open the repository with')
    .option('--new-password-file <file>', 'read the new password from this file (else CAIRN_NEW_PASSWORD, else asked twice)')
    .addHelpText('after', '\nExample:\n  cairn key passwd --new-password-file /root/new-password')
    .action(async (flags: NewPasswordFlags, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const info = await ctx.withSession(async (s) => {
        requireFullAccess(s.role, 'key passwd');
        return s.changePassword(await newPassword(ctx, flags));
      });
      ctx.out.result(info, () =>
        ctx.out.info(`password changed: key ${info.id.slice(0, 8)} replaces the key slot you opened the repository with`),
      );
    });

  return key;
}
