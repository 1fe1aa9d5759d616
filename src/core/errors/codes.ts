/**
 * The one table of error codes. Codes are stable: scripts match on them, docs/errors.md
 * documents every one (a test enforces it). Exit codes follow restic's scripting
 * conventions: 0 ok, 1 failure, 3 partial source, 10 no repository, 11 locked,
 * 12 wrong password, 130 cancelled. Further codes group by cause so that scripts can
 * tell "fix your input" (2) from "the repository is damaged" (20) from "the
 * environment failed" (4x).
 */
export const ERROR_CODES = {
  USAGE: { exitCode: 2, summary: 'bad command line: unknown flag, missing argument, invalid value' },
  CONFIG_INVALID: { exitCode: 2, summary: 'a configuration value or file is malformed' },
  SOURCE_PARTIAL: { exitCode: 3, summary: 'some source files could not be read; the snapshot was still written' },
  MIRROR_FAILED: { exitCode: 5, summary: 'the backup is stored in the primary repository, but at least one mirror failed' },
  MIRROR_MISMATCH: { exitCode: 2, summary: 'the repository named as a mirror does not share the primary\'s keys and chunking' },
  REPO_NOT_FOUND: { exitCode: 10, summary: 'no repository at the given location' },
  REPO_EXISTS: { exitCode: 10, summary: 'init refused: a repository already exists there' },
  REPO_LOCKED: { exitCode: 11, summary: 'an exclusive operation holds the repository lock' },
  WRONG_PASSWORD: { exitCode: 12, summary: 'no key slot opens with the given password' },
  NO_PASSWORD: { exitCode: 12, summary: 'no password given and no terminal to ask on' },
  REPO_VERSION: { exitCode: 13, summary: 'the repository format version is newer than this cairn understands' },
  SNAPSHOT_NOT_FOUND: { exitCode: 14, summary: 'no snapshot matches the given id, prefix or time' },
  SNAPSHOT_AMBIGUOUS: { exitCode: 14, summary: 'the id prefix matches more than one snapshot' },
  TIME_OUT_OF_RANGE: { exitCode: 14, summary: 'the requested restore time is outside every restorable window of the source' },
  PATH_NOT_FOUND: { exitCode: 14, summary: 'the path does not exist in the snapshot' },
  KEY_NOT_FOUND: { exitCode: 14, summary: 'no key slot with that id' },
  PACK_NOT_FOUND: { exitCode: 14, summary: 'no pack file with that id in the repository' },
  INDEX_NOT_FOUND: { exitCode: 14, summary: 'no index file with that id in the repository' },
  APPEND_ONLY: { exitCode: 16, summary: 'the key slot in use may only add snapshots; forget, prune and key changes need a full-access key' },
  SOURCE_NOT_FOUND: { exitCode: 15, summary: 'a backup source path does not exist' },
  REPO_CORRUPT: { exitCode: 20, summary: 'repository data failed an integrity check' },
  PACK_CORRUPT: { exitCode: 20, summary: 'a pack file failed authentication or its hash' },
  BLOB_MISSING: { exitCode: 20, summary: 'a referenced blob is in no pack' },
  CHECK_FAILED: { exitCode: 20, summary: 'check found damage; the report names what is affected' },
  VERIFY_FAILED: { exitCode: 21, summary: 'restore --verify found restored data that differs from the snapshot' },
  WAL_GAP: { exitCode: 22, summary: 'the stored WAL chain of a database source has a gap: point-in-time restore past it is impossible' },
  SLOT_LAG: { exitCode: 23, summary: 'a replication slot on the database server retains more WAL than --max-slot-lag allows' },
  LAST_KEY: { exitCode: 2, summary: 'refused to remove the only remaining key slot' },
  PERMISSION_DENIED: { exitCode: 40, summary: 'the operating system refused access to a file or directory' },
  DISK_FULL: { exitCode: 41, summary: 'no space left on the device being written' },
  IO_ERROR: { exitCode: 42, summary: 'an input/output error from the operating system or storage' },
  BACKEND_UNAVAILABLE: { exitCode: 43, summary: 'the storage backend could not be reached' },
  SOURCE_UNREACHABLE: { exitCode: 44, summary: 'the database or S3 source could not be reached, or its client tool failed talking to it' },
  SOURCE_CONFIG: { exitCode: 45, summary: 'the database source refused cairn for a reason the operator must fix (pg_hba, role, wal_level, slots, missing client binaries)' },
  BINLOG_DISABLED: { exitCode: 45, summary: 'the MariaDB/MySQL server has binary logging off: set log_bin, server_id and binlog_format=ROW in my.cnf and restart it' },
  CANCELLED: { exitCode: 130, summary: 'interrupted by the user (SIGINT/SIGTERM)' },
  INTERNAL: { exitCode: 1, summary: 'an unexpected internal error (a bug: please report it)' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;
