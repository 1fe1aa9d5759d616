import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PgClient } from './pg-client.js';

/**
 * First and last transaction-end timestamps (COMMIT and ABORT records: both are what
 * recovery_target_time compares against) in one segment, read with pg_waldump. A
 * partial segment ends in zeros: pg_waldump prints the records before that and exits 1
 * ("invalid record length"), which is the normal end here, not a failure.
 */
export async function commitTimes(client: PgClient, name: string, bytes: Buffer): Promise<{ firstCommit?: string; lastCommit?: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-waldump-'));
  try {
    const file = join(dir, name);
    await writeFile(file, bytes, { mode: 0o600 });
    const { stdout } = await client.run('pg_waldump', [file], { env: { TZ: 'UTC' }, okCodes: [1] });
    return parseCommitTimes(stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const END_RECORD = /desc: (?:COMMIT|ABORT)(?:_PREPARED)? (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC/;

export function parseCommitTimes(text: string): { firstCommit?: string; lastCommit?: string } {
  let first: string | undefined;
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (!line.includes('rmgr: Transaction')) continue;
    const m = END_RECORD.exec(line);
    if (!m) continue;
    const iso = toIsoMicros(m[1]!);
    first ??= iso;
    last = iso;
  }
  return { ...(first ? { firstCommit: first } : {}), ...(last ? { lastCommit: last } : {}) };
}

/**
 * "2026-11-27 03:56:41.804247" (UTC) → "2026-11-27T03:56:41.804247Z". Microseconds are
 * kept: two commits in the same millisecond must stay ordered, and ISO strings of one
 * fixed shape compare correctly as strings.
 */
export function toIsoMicros(s: string): string {
  const [date, time] = s.split(' ');
  const [hms, frac = ''] = time!.split('.');
  return `${date}T${hms}.${frac.padEnd(6, '0').slice(0, 6)}Z`;
}
