import { Argument, type Command } from 'commander';
import type { CatKind } from '../../engine/types.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { usageError } from '../usage-error.js';

export const CAT_KINDS: readonly CatKind[] = ['config', 'snapshot', 'tree', 'index', 'key', 'file', 'masterkey-ids'];

/** Validates the ref for a kind: config takes none, file takes SNAP:/path, the rest an id. */
export function checkCatRef(kind: CatKind, ref: string | undefined): string {
  if (kind === 'config' || kind === 'masterkey-ids') {
    if (ref !== undefined) throw usageError(`cat ${kind} takes no id`);
    return '';
  }
  if (ref === undefined || ref === '') {
    throw usageError(
      `cat ${kind} needs ${kind === 'file' ? 'SNAPSHOT:/path' : 'an id'}`,
      kind === 'file' ? 'e.g. cairn cat file latest:/etc/hosts' : `e.g. cairn cat ${kind} 1a2b3c4d`,
    );
  }
  if (kind === 'file' && !/^[^:]+:\//.test(ref)) {
    throw usageError(`cat file needs SNAPSHOT:/path, got "${ref}"`, 'e.g. cairn cat file latest:/etc/hosts');
  }
  return ref;
}

export function catCommand(parent: Command, deps: CliDeps): Command {
  return parent
    .command('cat')
    .description('print a raw repository object (for debugging) or a file from a snapshot')
    .addArgument(new Argument('<kind>', 'what to print').choices(CAT_KINDS))
    .argument('[id]', 'object id or unique prefix; for "file": SNAPSHOT:/path')
    .addHelpText(
      'after',
      `
config, snapshot, tree, index, key and masterkey-ids print decrypted JSON (keys never
include secret material). "file" writes the file's raw bytes to stdout.

Examples:
  cairn cat config
  cairn cat snapshot 1a2b3c4d
  cairn cat file latest:/etc/nginx/nginx.conf > nginx.conf`,
    )
    .action(async (kind: CatKind, id: string | undefined, _flags: unknown, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const ref = checkCatRef(kind, id);
      if (kind === 'file' && ctx.globals.json) {
        throw usageError('cat file writes raw bytes and has no --json form', 'drop --json and redirect stdout to a file');
      }
      const value = await ctx.withSession((s) => s.cat(kind, ref));
      if (value instanceof Uint8Array) {
        ctx.out.raw(value);
      } else if (typeof value === 'string' && !ctx.globals.json) {
        ctx.out.raw(value.endsWith('\n') ? value : `${value}\n`);
      } else if (ctx.globals.json) {
        ctx.out.json(value);
      } else {
        ctx.out.raw(`${JSON.stringify(value, null, 2)}\n`);
      }
    });
}
