import type { Command } from 'commander';
import { CairnError } from '../../core/errors/index.js';
import type { RepairPacksResult, RepairResult, RepairSnapshotsResult } from '../../engine/types.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { formatCount } from '../format-count.js';
import { formatKeyValues } from '../format-key-values.js';
import { createProgressReporter } from '../progress-reporter.js';
import { ReportedFailure } from '../reported-failure.js';

export function formatRepairSummary(r: RepairResult): string[] {
  return [
    'index rebuilt from the packs',
    ...formatKeyValues([
      ['packs read', formatCount(r.packsRead)],
      ['blobs', formatCount(r.blobs)],
      ['index files', `${formatCount(r.indexFilesWritten)} written, ${formatCount(r.indexFilesRemoved)} old ones removed`],
      ['damaged packs', formatCount(r.damagedPacks.length)],
    ]),
  ];
}

export function formatRepairPacksSummary(r: RepairPacksResult): string[] {
  const lines: string[] = [];
  for (const p of r.packs) {
    if (p.status === 'intact') {
      lines.push(`pack ${p.id}: read again and sound (${formatCount(p.blobs)} blobs), left alone`);
      continue;
    }
    const why = [p.hashMismatch ? 'its hash does not match its name' : '', p.structure ?? ''].filter(Boolean).join('; ');
    lines.push(`pack ${p.id}: damaged${why ? ` (${why})` : ''}`);
    lines.push(
      ...formatKeyValues([
        ['blobs', formatCount(p.blobs)],
        [r.dryRun ? 'would salvage' : 'salvaged', formatCount(p.salvaged)],
        ['lost', formatCount(p.lost.length)],
      ]).map((l) => `  ${l}`),
    );
  }
  if (r.dryRun) lines.push('dry run: nothing was changed');
  else if (r.packsRemoved > 0) lines.push(`${formatCount(r.packsRemoved)} damaged pack${r.packsRemoved === 1 ? '' : 's'} removed`);
  return lines;
}

export function formatRepairSnapshotsSummary(r: RepairSnapshotsResult): string[] {
  const lines: string[] = [];
  for (const s of r.repaired) {
    const what = [
      s.removedFiles.length ? `${formatCount(s.removedFiles.length)} file${s.removedFiles.length === 1 ? '' : 's'} left out` : '',
      s.emptiedDirs.length ? `${formatCount(s.emptiedDirs.length)} director${s.emptiedDirs.length === 1 ? 'y' : 'ies'} emptied` : '',
    ]
      .filter(Boolean)
      .join(', ');
    const into = s.repairedAs ? ` -> snapshot ${s.repairedAs.slice(0, 8)}${s.forgotten ? ' (original forgotten)' : ''}` : ' (dry run)';
    lines.push(`snapshot ${s.snapshot.slice(0, 8)}: ${what}${into}`);
    for (const f of s.removedFiles) lines.push(`  left out: ${f}`);
    for (const d of s.emptiedDirs) lines.push(`  emptied:  ${d}/`);
  }
  for (const w of r.walRepaired) {
    const dropped = `${formatCount(w.droppedEntries.length)} log entr${w.droppedEntries.length === 1 ? 'y' : 'ies'} left out`;
    const into = r.dryRun
      ? ' (dry run)'
      : `${w.repairedAs ? ` -> record ${w.repairedAs.slice(0, 8)}` : ' -> nothing left to keep'}${w.forgotten ? ' (original forgotten)' : ''}`;
    lines.push(`WAL record ${w.record.slice(0, 8)} of ${w.source}: ${dropped}${into}`);
    for (const e of w.droppedEntries) lines.push(`  left out: ${e}`);
  }
  const n = r.repaired.length;
  lines.push(
    n === 0
      ? `${formatCount(r.checked)} snapshot${r.checked === 1 ? '' : 's'} checked: none names data the repository lacks`
      : `${formatCount(n)} of ${formatCount(r.checked)} snapshots ${r.dryRun ? 'would be' : 'were'} repaired`,
  );
  if (r.walChecked > 0) {
    const w = r.walRepaired.length;
    lines.push(
      w === 0
        ? `${formatCount(r.walChecked)} WAL record${r.walChecked === 1 ? '' : 's'} checked: none names data the repository lacks`
        : `${formatCount(w)} of ${formatCount(r.walChecked)} WAL records ${r.dryRun ? 'would be' : 'were'} repaired; point-in-time recovery shows a gap where entries were left out`,
    );
  }
  if (r.dryRun) lines.push('dry run: nothing was changed');
  return lines;
}

/** `repair index`: rebuild the index from the packs' own headers. */
export function repairCommand(parent: Command, deps: CliDeps): Command {
  const repair = parent
    .command('repair')
    .description('rebuild damaged repository metadata')
    .addHelpText('after', '\nExamples:\n  cairn repair index\n  cairn repair packs <id>\n  cairn repair snapshots --forget');

  repair
    .command('index')
    .description('rebuild the index from the pack files (every pack describes its own blobs)')
    .addHelpText(
      'after',
      `
Reads every pack's header and writes a fresh index, then removes the old index files.
Packs that cannot be read are left out and listed; cairn then exits with PACK_CORRUPT (20).

Example:
  cairn repair index`,
    )
    .action(async (_flags: unknown, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const result = await ctx.withSession(async (s) => {
        const progress = createProgressReporter(ctx);
        try {
          return await s.repairIndex({ onProgress: (p) => progress.onProgress(p) });
        } finally {
          progress.done();
        }
      });
      for (const id of result.damagedPacks) ctx.out.warn(`damaged pack left out of the index: ${id}`);
      ctx.out.result(result, () => {
        for (const l of formatRepairSummary(result)) ctx.out.info(l);
      });
      if (result.damagedPacks.length > 0) {
        const n = result.damagedPacks.length;
        throw new ReportedFailure(
          new CairnError('PACK_CORRUPT', `${n} pack${n === 1 ? '' : 's'} could not be read and ${n === 1 ? 'was' : 'were'} left out of the index`, {
            hint: "run 'cairn check' to see which snapshots and files are affected",
          }),
        );
      }
    });
  repair
    .command('packs')
    .description('take damaged packs out of the repository, keeping every blob of them that still reads')
    .argument('<ids...>', "pack ids as 'cairn check --read-data' lists them under \"damaged packs\", or unique prefixes of 8+ characters")
    .option('--dry-run', 'read the packs and report what would be salvaged and lost; change nothing')
    .addHelpText(
      'after',
      `
Reads each pack again, whole. A pack that is sound now is left alone (what check saw
may have been a read error). From a damaged one, every blob that still decrypts and
hashes to its id is stored again in new packs; then the index is rewritten without
the pack and the pack file is deleted.

The blobs that could not be read are gone from the repository. Back the sources up
again with a plain 'cairn backup': it stores again whatever is missing and still on
disk, which also mends older snapshots of the same content. 'cairn check' then names
the snapshots that still miss data: 'cairn repair snapshots --forget' rewrites
them without it.

Examples:
  cairn check --read-data
  cairn repair packs --dry-run 4a05d480
  cairn repair packs 4a05d480`,
    )
    .action(async (ids: string[], flags: { dryRun?: boolean }, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const result = await ctx.withSession(async (s) => {
        const progress = createProgressReporter(ctx);
        try {
          return await s.repairPacks(ids, { dryRun: !!flags.dryRun, onProgress: (p) => progress.onProgress(p) });
        } finally {
          progress.done();
        }
      });
      ctx.out.result(result, () => {
        for (const l of formatRepairPacksSummary(result)) ctx.out.info(l);
      });
      if (result.blobsLost > 0) {
        const n = result.blobsLost;
        ctx.out.warn(
          `${formatCount(n)} blob${n === 1 ? '' : 's'} could not be read${result.dryRun ? '' : ` and ${n === 1 ? 'is' : 'are'} gone from the repository`}: ` +
            "back the sources up again ('cairn backup'), then run 'cairn check' to see which snapshots still miss data",
        );
      }
    });
  repair
    .command('snapshots')
    .description('write new snapshots without the files and directories whose data is gone')
    .argument('[snapshots...]', 'snapshot ids or prefixes (default: every snapshot)')
    .option('--forget', 'remove each original once its repaired snapshot is stored')
    .option('--dry-run', 'report what would be left out; change nothing')
    .addHelpText(
      'after',
      `
For a snapshot that names data the repository no longer has (after 'repair packs' or
'repair index' took a damaged or lost pack out), writes a new snapshot without it: a
file whose data is missing is left out (never kept partly), a directory whose listing
cannot be read becomes empty. The new snapshot keeps the original's time, host, paths
and tags, and gets the tag "repaired". Without --forget the original stays.

Without snapshot ids it also repairs the WAL catalog records of database sources: a
record naming a log entry (WAL segment, binlog file, frame batch) whose data is gone
is written again without that entry, and 'cairn pitr' then shows a gap there.

This loses data on purpose. When the files still exist at the source, a plain
'cairn backup' is the better repair: it stores again what is missing.

Examples:
  cairn repair snapshots --dry-run
  cairn repair snapshots --forget
  cairn repair snapshots 1a2b3c4d`,
    )
    .action(async (ids: string[], flags: { forget?: boolean; dryRun?: boolean }, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const result = await ctx.withSession(async (s) => {
        const progress = createProgressReporter(ctx);
        try {
          return await s.repairSnapshots(ids, { forget: !!flags.forget, dryRun: !!flags.dryRun, onProgress: (p) => progress.onProgress(p) });
        } finally {
          progress.done();
        }
      });
      for (const u of result.unrepairable) ctx.out.warn(`snapshot ${u.snapshot.slice(0, 8)} cannot be repaired: ${u.error ?? 'unreadable'}`);
      ctx.out.result(result, () => {
        for (const l of formatRepairSnapshotsSummary(result)) ctx.out.info(l);
      });
      if (result.unrepairable.length > 0) {
        const n = result.unrepairable.length;
        throw new ReportedFailure(
          new CairnError('BLOB_MISSING', `${n} snapshot${n === 1 ? '' : 's'} cannot be repaired: the root listing is gone`, {
            hint: "nothing of such a snapshot can be restored: 'cairn forget' it",
          }),
        );
      }
    });
  return repair;
}
