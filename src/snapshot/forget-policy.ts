import { CairnError } from '../core/errors/index.js';
import { type Duration, isZeroDuration, parseDuration, subtractDuration } from './duration.js';
import { dayBucket, hourBucket, monthBucket, weekBucket, yearBucket } from './forget-policy-buckets.js';
import { type PolicySnapshot, checkSnapshotTimes, compareNewestFirst } from './forget-policy-snapshot.js';

export type { PolicySnapshot } from './forget-policy-snapshot.js';
export { groupSnapshots, DEFAULT_GROUP_BY, type GroupBy, type SnapshotGroupKey } from './forget-policy-group.js';

/**
 * Which snapshots to keep (restic's `forget --keep-*`). Counts: a positive n, or -1
 * for unlimited; 0 or absent means the rule is off. See docs/retention.md.
 */
export interface KeepPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  /** A duration such as "30d" or "1y6m", counted back from the newest snapshot (not from now). */
  within?: string;
  /** Each entry "a,b" keeps every snapshot that has all of the tags a and b. */
  tags?: string[];
}

export interface KeepDecision<T> {
  snapshot: T;
  reasons: string[];
}

export interface PolicyResult<T> {
  /** Newest first, each with every rule that matched it. */
  keep: KeepDecision<T>[];
  /** Newest first. */
  remove: T[];
}

type CountRule = 'last' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';

// Restic's order, which is also the order of the reasons reported.
const COUNT_RULES: { rule: CountRule; bucket: (t: Date, nr: number) => number; reason: string }[] = [
  { rule: 'last', bucket: (_t, nr) => nr, reason: 'last snapshot' },
  { rule: 'hourly', bucket: hourBucket, reason: 'hourly snapshot' },
  { rule: 'daily', bucket: dayBucket, reason: 'daily snapshot' },
  { rule: 'weekly', bucket: weekBucket, reason: 'weekly snapshot' },
  { rule: 'monthly', bucket: monthBucket, reason: 'monthly snapshot' },
  { rule: 'yearly', bucket: yearBucket, reason: 'yearly snapshot' },
];
const KNOWN_KEYS = new Set<string>([...COUNT_RULES.map((r) => r.rule), 'within', 'tags']);

interface ParsedPolicy {
  counts: Record<CountRule, number>;
  within: { text: string; duration: Duration } | undefined;
  tags: { text: string; all: string[] }[];
}

function usage(message: string, hint?: string): never {
  throw new CairnError('USAGE', message, hint === undefined ? {} : { hint });
}

/**
 * Throws CairnError USAGE for a policy applyPolicy would refuse (bad values, unknown
 * rules, or no rule at all), so configuration can be checked when it is loaded.
 */
export function validateKeepPolicy(policy: KeepPolicy): void {
  parseKeepPolicy(policy);
}

function parseKeepPolicy(policy: KeepPolicy): ParsedPolicy {
  if (!policy || typeof policy !== 'object') usage('keep policy must be an object');
  // An unknown key is most likely a misspelt rule; ignoring it would delete what it meant to keep.
  for (const key of Object.keys(policy)) {
    if (!KNOWN_KEYS.has(key)) usage(`unknown keep rule ${JSON.stringify(key)}`, `known rules: ${[...KNOWN_KEYS].join(', ')}`);
  }
  const counts = {} as Record<CountRule, number>;
  for (const { rule } of COUNT_RULES) {
    const n = policy[rule] ?? 0;
    if (!Number.isSafeInteger(n) || n < -1) usage(`keep ${rule} must be a whole number, or -1 for unlimited; got ${String(n)}`);
    counts[rule] = n;
  }
  let within: ParsedPolicy['within'];
  if (policy.within !== undefined) {
    const duration = parseDuration(policy.within);
    // "0d" is restic's "not set"; it would keep nothing anyway.
    if (!isZeroDuration(duration)) within = { text: policy.within, duration };
  }
  const tags: ParsedPolicy['tags'] = [];
  if (policy.tags !== undefined) {
    if (!Array.isArray(policy.tags)) usage('keep tags must be a list of "tag" or "tag1,tag2" entries');
    for (const entry of policy.tags) {
      const all = typeof entry === 'string' ? entry.split(',').map((t) => t.trim()).filter((t) => t !== '') : [];
      // restic treats an empty tag list as "matches every snapshot"; that is never what was meant.
      if (all.length === 0) usage(`keep tag ${JSON.stringify(entry)} names no tag`);
      tags.push({ text: all.join(','), all });
    }
  }
  const anyRule = COUNT_RULES.some(({ rule }) => counts[rule] !== 0) || within !== undefined || tags.length > 0;
  if (!anyRule) {
    usage('refusing to forget with no keep rule: that would remove every snapshot', 'give at least one of last, hourly, daily, weekly, monthly, yearly, within or tags');
  }
  return { counts, within, tags };
}

/**
 * Decides which snapshots of ONE group (see groupSnapshots) to keep, with restic's
 * semantics: walking newest to oldest, each count rule keeps the newest snapshot of
 * every distinct bucket (hour, day, ISO week, month, year; `last`: every snapshot)
 * until its count is used up, -1 never running out; while a rule still has count
 * left, it also keeps the oldest snapshot, so a short history is kept whole.
 * A snapshot kept by one rule still uses up a count in every other rule it matches.
 * `within` keeps snapshots strictly newer than (newest snapshot − duration), where
 * the newest snapshot ignores snapshots dated after `now` (clock skew); `tags` keeps
 * every snapshot carrying all tags of an entry. Buckets are UTC.
 *
 * Throws CairnError USAGE for an invalid or empty policy: forgetting without a keep
 * rule would delete everything.
 */
export function applyPolicy<T extends PolicySnapshot>(snaps: T[], policy: KeepPolicy, now: Date): PolicyResult<T> {
  const p = parseKeepPolicy(policy);
  checkSnapshotTimes(snaps);
  const list = [...snaps].sort(compareNewestFirst);
  const keep: KeepDecision<T>[] = [];
  const remove: T[] = [];
  if (list.length === 0) return { keep, remove };

  // Anchored on the newest snapshot, as restic does, so that a host whose backups
  // stopped does not lose its last ones to `within` merely because time passed.
  // Snapshots from the future (a skewed clock) do not anchor; if none is in the
  // past, the threshold is -Infinity and `within` keeps everything, like restic.
  const latest = list.find((s) => s.time.getTime() < now.getTime());
  const withinAfter =
    p.within === undefined ? undefined : latest === undefined ? -Infinity : subtractDuration(latest.time, p.within.duration).getTime();

  const remaining = COUNT_RULES.map(({ rule }) => p.counts[rule]);
  const lastBucket: (number | undefined)[] = COUNT_RULES.map(() => undefined);

  list.forEach((snap, nr) => {
    const reasons: string[] = [];
    const snapTags = new Set(snap.tags);
    for (const tag of p.tags) {
      if (tag.all.every((t) => snapTags.has(t))) reasons.push(`has tags ${tag.text}`);
    }
    if (withinAfter !== undefined && snap.time.getTime() > withinAfter) reasons.push(`within ${p.within!.text}`);

    const oldest = nr === list.length - 1;
    COUNT_RULES.forEach(({ bucket, reason }, i) => {
      if (remaining[i] === 0) return;
      const value = bucket(snap.time, nr);
      const newBucket = value !== lastBucket[i];
      if (!newBucket && !oldest) return;
      lastBucket[i] = value;
      if (remaining[i]! > 0) remaining[i]!--;
      reasons.push(newBucket ? reason : `${reason} (oldest)`);
    });

    if (reasons.length > 0) keep.push({ snapshot: snap, reasons });
    else remove.push(snap);
  });
  return { keep, remove };
}
