import Database from 'better-sqlite3';
import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { CairnError, fromSystemError } from '../../core/errors/index.js';
import { applyFrames, FRAME_HEADER, frameOffset, isSqliteHeader, parseFrames, parseWalHeader, WAL_HEADER, type WalFrame, type WalHeader } from './sqlite-wal.js';
import type { Gen } from './sqlite-catalog.js';

export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;

/** `sqlite:///abs/path.db` → /abs/path.db. */
export function parseSqliteUrl(url: string): string {
  const m = /^sqlite:\/\/(\/.*)$/i.exec(url);
  if (!m || m[1]!.length < 2) throw new CairnError('USAGE', `"${url}" is not a sqlite:///absolute/path URL`, { hint: 'e.g. cairn backup sqlite:///srv/app/data.db' });
  return decodeURIComponent(m[1]!);
}

/** Checks the file exists and is a SQLite database (SOURCE_NOT_FOUND, SOURCE_CONFIG). */
export async function assertSqliteFile(path: string): Promise<void> {
  let head: Buffer;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new CairnError('SOURCE_CONFIG', `${path} is not a regular file`);
    // The header only: reading the whole file held a database of any size in memory.
    const fh = await open(path, 'r');
    try {
      const { buffer, bytesRead } = await fh.read(Buffer.alloc(100), 0, 100, 0);
      head = buffer.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new CairnError('SOURCE_NOT_FOUND', `SQLite database ${path} does not exist`);
    throw fromSystemError(err, path);
  }
  if (head.length > 0 && !isSqliteHeader(head)) {
    throw new CairnError('SOURCE_CONFIG', `${path} is not a SQLite database (no "SQLite format 3" header)`, { hint: 'check the path; cairn backs up SQLite 3 files only' });
  }
}

export function openDb(path: string, lockTimeoutMs: number): Database.Database {
  try {
    const db = new Database(path, { fileMustExist: true });
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(lockTimeoutMs))}`);
    return db;
  } catch (err) {
    throw sqliteError(err, path, lockTimeoutMs);
  }
}

/** SQLITE_BUSY after the timeout → SOURCE_UNREACHABLE; SQLITE_NOTADB → SOURCE_CONFIG. */
export function sqliteError(err: unknown, path: string, lockTimeoutMs: number): Error {
  if (err instanceof CairnError) return err;
  const code = (err as { code?: string }).code ?? '';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new CairnError('SOURCE_UNREACHABLE', `SQLite database ${path} stayed locked for more than ${Math.round(lockTimeoutMs / 1000)} s`, {
      hint: 'a long write transaction holds it; retry later',
    });
  }
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') return new CairnError('SOURCE_CONFIG', `${path} is not a usable SQLite database (${code})`);
  if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY') {
    return new CairnError('PERMISSION_DENIED', `cannot open ${path} for the locks cairn needs (${code})`, { hint: 'cairn needs write access to the database directory for the -wal and -shm files' });
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** Reads `len` bytes at `pos` of a file (fewer at its end; empty if missing). */
export function readAt(path: string, pos: number, len: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const size = fstatSync(fd).size;
    const n = Math.max(0, Math.min(len, size - pos));
    const buf = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const r = readSync(fd, buf, got, n - got, pos + got);
      if (r <= 0) break;
      got += r;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

export function walHeaderOf(path: string): WalHeader | null {
  return parseWalHeader(readAt(`${path}-wal`, 0, WAL_HEADER));
}

/** Committed frames of the current WAL generation after frame `after` (whose running checksum is `chk`). */
export function readFramesAfter(path: string, h: WalHeader, after: number, chk: [number, number]): WalFrame[] {
  const pos = frameOffset(after + 1, h.pageSize);
  const buf = readAt(`${path}-wal`, pos, 1 << 30);
  return parseFrames(buf, h, after + 1, chk);
}

export interface Copy {
  bytes: Buffer;
  journalMode: string;
  pageSize: number;
  gen: Gen | null;
  frame: number;
  chk: [number, number] | null;
  dbPages: number;
}

/**
 * A consistent copy while `w` holds the write lock (BEGIN IMMEDIATE): nobody commits
 * meanwhile, so the database file plus the committed WAL frames of the current
 * generation are exactly the state at the last commit, and the copy is page-identical
 * to it (so later WAL frames apply to it). A checkpointer may write pages of the file
 * under us, but only pages the WAL holds, which we overwrite with the WAL's version.
 */
export function copyUnderWriteLock(path: string, journalMode: string): Copy {
  const h = journalMode === 'wal' ? walHeaderOf(path) : null;
  const frames = h ? parseFrames(readAt(`${path}-wal`, WAL_HEADER, 1 << 30), h, 1, h.chk) : [];
  let bytes = readAt(path, 0, 1 << 30);
  const pageSize = h?.pageSize ?? pageSizeOf(bytes);
  if (frames.length > 0) bytes = applyFrames(bytes, Buffer.concat(frames.map((f) => f.bytes)), pageSize);
  const last = frames.at(-1);
  const dbPages = last ? last.dbPages : Math.floor(bytes.length / pageSize);
  if (bytes.length > dbPages * pageSize) bytes = bytes.subarray(0, dbPages * pageSize);
  return { bytes, journalMode, pageSize, gen: h ? { salt1: h.salt1, salt2: h.salt2 } : null, frame: last?.index ?? 0, chk: last ? last.chk : h ? h.chk : null, dbPages };
}

export function pageSizeOf(db: Buffer): number {
  if (db.length < 100) return 4096;
  const v = db.readUInt16BE(16);
  return v === 1 ? 65536 : v;
}

export { FRAME_HEADER };
