import { rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import { CairnError, isCairnError } from '../../core/errors/index.js';
import type { BackupResult, RepositorySession, RestoreResult, SnapshotInfo } from '../../engine/types.js';
import { formatBytes } from '../../util/format-bytes.js';
import { CliContext } from '../cli-context.js';
import type { CliDeps } from '../cli-deps.js';
import { formatCount } from '../format-count.js';
import { formatDuration } from '../../util/format-duration.js';
import { modifyDemoSource, writeDemoSource } from '../demo-source.js';
import { ReportedFailure } from '../reported-failure.js';
import { formatSnapshotTable } from '../snapshot-table.js';
import { kdfFromEnv } from './init-command.js';

/** The fixed demo password. Printed, because the demo repository is not meant to be secret. */
export const DEMO_PASSWORD = 'demo';

export interface DemoPaths {
  root: string;
  source: string;
  repo: string;
  restore: string;
  cache: string;
}

export function demoPaths(cwd: string): DemoPaths {
  const root = join(cwd, '.cairn-demo');
  return {
    root,
    source: join(root, 'source'),
    repo: join(root, 'repo'),
    restore: join(root, 'restore'),
    cache: join(root, 'cache'),
  };
}

function backupLine(r: BackupResult): string {
  const s = r.snapshot.summary;
  if (!s) return `snapshot ${r.snapshot.shortId}`;
  return (
    `snapshot ${r.snapshot.shortId}: ${formatCount(s.filesNew)} new, ${formatCount(s.filesChanged)} changed, ` +
    `${formatCount(s.filesUnchanged)} unchanged files; read ${formatBytes(s.bytesRead)}, ` +
    `added ${formatBytes(s.bytesAdded)} (${formatBytes(s.bytesAddedPacked)} stored) in ${formatDuration(s.durationMs)}`
  );
}

export function demoCommand(parent: Command, deps: CliDeps): Command {
  return parent
    .command('demo')
    .description('try Cairn on a sample directory (everything stays in ./.cairn-demo)')
    .addHelpText(
      'after',
      `
Creates ./.cairn-demo/source (text files, a nested directory, a symlink and a binary
file), a repository ./.cairn-demo/repo with the password "demo", backs up, changes a
file, backs up again (incremental), lists the snapshots and restores the latest into
./.cairn-demo/restore with --verify. Safe to rerun; delete ./.cairn-demo when done.
This is what \`npm start\` runs.

Example:
  cairn demo`,
    )
    .action(async (_flags: unknown, c: Command) => {
      const ctx = CliContext.fromCommand(c, deps);
      const out = ctx.out;
      const p = demoPaths(deps.cwd);
      const rel = (x: string): string => `./${relative(deps.cwd, x)}`;
      const cacheDir = ctx.globals.cacheDirExplicit ? ctx.globals.cacheDir : p.cache;
      const engine = await ctx.engine();
      const steps: Record<string, unknown>[] = [];

      out.info(`Cairn demo: everything happens in ${rel(p.root)} (delete it when you are done)`);
      out.info();

      const src = await writeDemoSource(p.source);
      steps.push({ step: 'source', path: p.source, ...src });
      out.info(
        `1. sample data: wrote ${src.files} files (${formatBytes(src.bytes)}), ${src.dirs} directories and ` +
          `${src.symlinks} symlink into ${rel(p.source)}`,
      );

      let created = false;
      try {
        const kdf = kdfFromEnv(deps.env);
        await engine.init({ repo: p.repo, password: DEMO_PASSWORD, cacheDir, ...(kdf ? { kdf } : {}) });
        created = true;
      } catch (err) {
        if (!isCairnError(err, 'REPO_EXISTS')) throw err;
      }
      steps.push({ step: 'init', repo: p.repo, created });
      out.info(
        `2. repository: ${created ? 'created' : 'reusing the existing'} ${rel(p.repo)}, password "${DEMO_PASSWORD}" ` +
          '(a demo password: never use it for real data)',
      );

      let session: RepositorySession;
      try {
        session = await engine.open({ repo: p.repo, password: DEMO_PASSWORD, cacheDir });
      } catch (err) {
        if (isCairnError(err, 'WRONG_PASSWORD')) {
          throw new CairnError('WRONG_PASSWORD', `${rel(p.repo)} is not the demo repository (password "demo" does not open it)`, {
            hint: `remove ${rel(p.root)} and run cairn demo again`,
          });
        }
        throw err;
      }

      let snapshots: SnapshotInfo[];
      let restored: RestoreResult;
      let first: BackupResult;
      let second: BackupResult;
      try {
        first = await session.backup({ paths: [p.source], mode: 'full', tags: ['demo'], signal: ctx.signal });
        steps.push({ step: 'backup', mode: 'full', snapshot: first.snapshot.id, summary: first.snapshot.summary });
        out.info(`3. first backup (full): ${backupLine(first)}`);

        const changed = await modifyDemoSource(p.source, deps.clock.now());
        steps.push({ step: 'modify', path: join(p.source, changed) });
        out.info(`4. changed ${rel(join(p.source, changed))}: appended one line`);

        second = await session.backup({ paths: [p.source], mode: 'incremental', tags: ['demo'], signal: ctx.signal });
        steps.push({ step: 'backup', mode: 'incremental', snapshot: second.snapshot.id, summary: second.snapshot.summary });
        out.info(`5. second backup (incremental): ${backupLine(second)}`);
        out.info('   only the changed file was stored again: the rest was deduplicated');

        snapshots = await session.snapshots();
        steps.push({ step: 'snapshots', count: snapshots.length });
        out.info(`6. snapshots in the repository (${snapshots.length}):`);
        for (const l of formatSnapshotTable(snapshots)) out.info(`   ${l}`);

        await rm(p.restore, { recursive: true, force: true });
        restored = await session.restore({ snapshot: 'latest', target: p.restore, verify: true, signal: ctx.signal });
        steps.push({ step: 'restore', target: p.restore, files: restored.files, bytes: restored.bytes, verified: restored.verified });
        const v = restored.verified;
        out.info(
          `7. restore: latest snapshot ${restored.snapshot.shortId} restored into ${rel(p.restore)}: ` +
            `${formatCount(restored.files)} files, ${formatBytes(restored.bytes)}; ` +
            (v ? `verified ${formatCount(v.files)} files: ${v.mismatches.length === 0 ? 'all match' : `${v.mismatches.length} differ`}` : 'not verified'),
        );
      } finally {
        await session.close();
      }

      if (ctx.globals.json) out.json({ paths: p, password: DEMO_PASSWORD, steps });
      out.info();
      out.info('Try it yourself:');
      out.info(`  export CAIRN_REPO=${rel(p.repo)} CAIRN_PASSWORD=${DEMO_PASSWORD}`);
      out.info('  cairn snapshots');
      out.info('  cairn ls latest --recursive');
      out.info(`  cairn diff ${first.snapshot.shortId} ${second.snapshot.shortId}`);
      out.info('  cairn check --read-data');

      const mismatches = restored.verified?.mismatches ?? [];
      if (mismatches.length) {
        for (const m of mismatches) out.warn(`restored file differs from the snapshot: ${m}`);
        throw new ReportedFailure(new CairnError('VERIFY_FAILED', `${mismatches.length} restored files differ from the snapshot`));
      }
    });
}
