import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';

/**
 * uid/gid <-> name, from /etc/passwd and /etc/group only. Node has no getpwuid, and one
 * read of two small files is far cheaper than a lookup per entry. Directory services
 * (LDAP, SSSD via NSS) are not consulted: their ids get no name, which the tree format
 * allows (names are recorded "when resolvable").
 */
export interface IdNames {
  userName(uid: number): string | undefined;
  groupName(gid: number): string | undefined;
  uidOf(user: string): number | undefined;
  gidOf(group: string): number | undefined;
}

/** Parses passwd/group text (name:x:id:...). The first line wins, as with getpwuid(3). */
export function parseIdNames(passwd: string, group: string): IdNames {
  const users = parseTable(passwd);
  const groups = parseTable(group);
  return {
    userName: (uid) => users.byId.get(uid),
    groupName: (gid) => groups.byId.get(gid),
    uidOf: (name) => users.byName.get(name),
    gidOf: (name) => groups.byName.get(name),
  };
}

function parseTable(text: string): { byId: Map<number, string>; byName: Map<string, number> } {
  const byId = new Map<number, string>();
  const byName = new Map<string, number>();
  for (const line of text.split('\n')) {
    // NIS "+" / "-" compat lines and comments name no local id.
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const fields = line.split(':');
    const name = fields[0];
    const idText = fields[2];
    if (!name || idText === undefined || !/^\d+$/.test(idText)) continue;
    const id = Number(idText);
    if (!byId.has(id)) byId.set(id, name);
    if (!byName.has(name)) byName.set(name, id);
  }
  return { byId, byName };
}

let texts: Promise<[string, string]> | undefined;
let cached: Promise<IdNames> | undefined;

const hostTables = (): Promise<[string, string]> => (texts ??= Promise.all([readOrEmpty('/etc/passwd'), readOrEmpty('/etc/group')]));

/** The host's table, read once per process; a missing or unreadable file means no names. */
export function idNames(): Promise<IdNames> {
  cached ??= hostTables().then(([p, g]) => parseIdNames(p, g));
  return cached;
}

/** A digest of the table idNames() reads: equal digests give every id the same name. */
export async function idNamesDigest(): Promise<string> {
  const [p, g] = await hostTables();
  return createHash('sha256').update(p).update('\0').update(g).digest('hex');
}

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch {
    return '';
  }
}
