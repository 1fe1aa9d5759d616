import { CairnError } from '../core/errors/index.js';
import type { SnapshotId } from '../core/ids.js';
import type { ForgetGroup, ForgetOptions, ForgetResult, SnapshotInfo } from '../engine/types.js';
import { applyPolicy, groupSnapshots, type KeepPolicy } from '../snapshot/forget-policy.js';
import { filterSnapshots, resolveSnapshotRef } from '../snapshot/select.js';
import type { Repository } from '../repository/repository.js';

/**
 * `forget`: removes snapshot files, by explicit id or by a keep policy applied per
 * group (host + paths by default). Only snapshot files are removed; the data they
 * alone referenced is freed by prune. Removing a snapshot file is atomic and
 * idempotent, so a crash leaves some snapshots forgotten and others not, never a
 * damaged repository.
 */
export async function runForget(repo: Repository, all: SnapshotInfo[], opts: ForgetOptions): Promise<ForgetResult> {
  const candidates = filterSnapshots(all, opts.filter);
  const groups: ForgetGroup[] = [];
  const remove = new Set<SnapshotId>();
  for (const ref of opts.ids ?? []) remove.add(resolveSnapshotRef(all, ref).id);

  const policy = toKeepPolicy(opts.policy);
  if (policy) {
    const withTime = candidates.map((s) => ({ ...s, time: new Date(s.time), info: s }));
    for (const g of groupSnapshots(withTime, opts.groupBy ?? { host: true, paths: true, tags: false })) {
      const r = applyPolicy(g.snapshots, policy, repo.deps.clock.now());
      groups.push({
        key: { host: g.key.host ?? '', paths: g.key.paths ?? [] },
        keep: r.keep.map((k) => ({ snapshot: k.snapshot.info, reasons: k.reasons })),
        remove: r.remove.map((s) => s.info),
      });
      for (const s of r.remove) remove.add(s.info.id);
    }
  } else if (!opts.ids || opts.ids.length === 0) {
    throw new CairnError('USAGE', 'forget needs snapshot ids or at least one --keep-* rule', {
      hint: 'e.g. `cairn forget --keep-daily 7 --keep-weekly 4`',
    });
  }
  if (!opts.dryRun) for (const id of remove) await repo.removeSnapshot(id);
  return { groups, removed: [...remove], dryRun: !!opts.dryRun };
}

function toKeepPolicy(p: ForgetOptions['policy']): KeepPolicy | null {
  if (!p) return null;
  const k: KeepPolicy = {
    ...(p.keepLast !== undefined ? { last: p.keepLast } : {}),
    ...(p.keepHourly !== undefined ? { hourly: p.keepHourly } : {}),
    ...(p.keepDaily !== undefined ? { daily: p.keepDaily } : {}),
    ...(p.keepWeekly !== undefined ? { weekly: p.keepWeekly } : {}),
    ...(p.keepMonthly !== undefined ? { monthly: p.keepMonthly } : {}),
    ...(p.keepYearly !== undefined ? { yearly: p.keepYearly } : {}),
    ...(p.keepWithin !== undefined ? { within: p.keepWithin } : {}),
    ...(p.keepTags && p.keepTags.length > 0 ? { tags: p.keepTags } : {}),
  };
  return Object.keys(k).length > 0 ? k : null;
}
