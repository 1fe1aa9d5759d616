// The three tools under test, each driven through its own command line only. Every
// adapter describes its commands; run.mjs times them the same way for all.
//
// Configuration is the one the reference figures were measured with:
//   cairn   `bin/cairn` (the installed launcher), default settings (its KDF, chunker, compression, threads)
//   restic  repository format 2 (compression "auto", the 0.14 default), password file
//   borg    `init -e repokey`, `create --compression zstd,3`, passphrase in BORG_PASSPHRASE
// Each tool gets its own cache/config directory inside the work dir, so a run never
// touches ~/.cache, and caches persist across the run's backups as they would for a user.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { capture, commandExists } from './proc.mjs';

/** The process environment minus anything that could steer a tool (RESTIC_*, BORG_*, CAIRN_*). */
function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(RESTIC_|BORG_|CAIRN_)/.test(k)) env[k] = v;
  }
  return { ...env, ...extra };
}

/** How an exit code of `step` counts: 'ok', 'warning' (finished, but said something was skipped) or 'error'. */
function restic_like(code, step) {
  if (code === 0) return 'ok';
  if (code === 3 && step.startsWith('backup')) return 'warning'; // snapshot saved, some files unreadable
  return 'error';
}

export function cairnTool({ root, work, passwordFile }) {
  const dir = join(work, 'cairn');
  const repo = join(dir, 'repo');
  const bin = join(root, 'bin/cairn');
  mkdirSync(join(dir, 'cache'), { recursive: true });
  const env = cleanEnv({ CAIRN_REPO: repo, CAIRN_PASSWORD_FILE: passwordFile, CAIRN_CACHE_DIR: join(dir, 'cache') });
  const c = (...args) => ({ cmd: bin, args: ['--json', ...args], env });
  return {
    name: 'cairn',
    repo,
    init: () => c('init'),
    backup: (_n, data) => c('backup', data),
    restore: (_n, target) => c('restore', 'latest', '--target', target),
    check: () => c('check', '--read-data'),
    classify: restic_like,
    /** One line about what a backup stored, from its --json summary. */
    describeBackup(stdout) {
      try {
        const s = JSON.parse(stdout).snapshot.summary;
        return `mode ${JSON.parse(stdout).snapshot.mode}, read ${mb(s.bytesRead)}, added ${mb(s.bytesAdded)} (${mb(s.bytesAddedPacked)} stored)`;
      } catch {
        return '';
      }
    },
  };
}

export function resticTool({ work, passwordFile }) {
  const dir = join(work, 'restic');
  const repo = join(dir, 'repo');
  mkdirSync(join(dir, 'cache'), { recursive: true });
  const env = cleanEnv({ RESTIC_REPOSITORY: repo, RESTIC_PASSWORD_FILE: passwordFile, RESTIC_CACHE_DIR: join(dir, 'cache') });
  const c = (...args) => ({ cmd: 'restic', args, env });
  return {
    name: 'restic',
    repo,
    // Format 2 is what 0.14 creates by default; said explicitly so the figures mean
    // "restic with compression" whatever the default of the installed version is.
    init: () => c('init', '--repository-version', '2'),
    backup: (_n, data) => c('backup', '--json', data),
    restore: (_n, target) => c('restore', 'latest', '--target', target),
    check: () => c('check', '--read-data'),
    classify: restic_like,
    describeBackup(stdout) {
      const line = stdout.trim().split('\n').reverse().find((l) => l.includes('"summary"'));
      try {
        const s = JSON.parse(line);
        return `processed ${mb(s.total_bytes_processed)}, added ${mb(s.data_added)}, files new/changed/unmodified ${s.files_new}/${s.files_changed}/${s.files_unmodified}`;
      } catch {
        return '';
      }
    },
  };
}

export function borgTool({ work, password }) {
  const dir = join(work, 'borg');
  const repo = join(dir, 'repo');
  mkdirSync(join(dir, 'home'), { recursive: true });
  const env = cleanEnv({
    BORG_REPO: repo,
    BORG_PASSPHRASE: password,
    BORG_BASE_DIR: join(dir, 'home'), // config, keys, security and cache all below this
    BORG_DISPLAY_PASSPHRASE: 'n',
    BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
  });
  const c = (...args) => ({ cmd: 'borg', args, env });
  return {
    name: 'borg',
    repo,
    init: () => c('init', '-e', 'repokey'),
    backup: (n, data) => c('create', '--compression', 'zstd,3', '--json', `::snapshot-${n}`, data),
    // borg extracts into the working directory, stripping the leading "/" of stored paths:
    // the tree lands at target/<absolute path>, the same place cairn and restic put it.
    restore: (n, target) => ({ ...c('extract', `::snapshot-${n}`), cwd: target }),
    check: () => c('check', '--verify-data'),
    classify: (code) => (code === 0 ? 'ok' : code === 1 ? 'warning' : 'error'),
    describeBackup(stdout) {
      try {
        const s = JSON.parse(stdout).archive.stats;
        return `processed ${mb(s.original_size)}, added ${mb(s.deduplicated_size)} (after dedup + compression)`;
      } catch {
        return '';
      }
    },
  };
}

function mb(bytes) {
  return bytes == null ? '?' : `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Version strings, or null when the tool is not there. */
export function toolVersion(name, { bin, git }) {
  if (name === 'cairn') {
    const v = capture(process.execPath, [bin, '--version']);
    if (!v) return null;
    const sha = capture('git', ['-C', git, 'rev-parse', '--short', 'HEAD']);
    const dirty = capture('git', ['-C', git, 'status', '--porcelain', '--', 'src', 'native']);
    return `${v}${sha ? ` (git ${sha}${dirty ? ', with uncommitted changes in src/' : ''})` : ''}`;
  }
  if (name === 'restic') return capture('restic', ['version'])?.split(/\s+/)[1] ?? null;
  if (name === 'borg') return capture('borg', ['--version'])?.split(/\s+/)[1] ?? null;
  return null;
}

/**
 * Make sure restic/borg (and GNU time) exist, installing the Debian packages when they
 * do not: `apt-get update` then `apt-get install -y ...`, directly as root or through
 * `sudo -n`. Returns { missing: Map(name -> reason) } for the peers still absent.
 */
export function ensureInstalled(names, log) {
  const pkgs = { restic: 'restic', borg: 'borgbackup', '/usr/bin/time': 'time' };
  const want = names.filter((n) => n !== 'cairn' && !commandExists(n));
  const missing = new Map();
  if (want.length === 0) return { missing };
  const list = want.map((n) => pkgs[n]).filter(Boolean);
  log(`not installed: ${want.join(', ')}; trying apt-get install -y ${list.join(' ')}`);
  const isRoot = process.getuid?.() === 0;
  const prefix = isRoot ? [] : commandExists('sudo') ? ['sudo', '-n'] : null;
  let why = null;
  if (!commandExists('apt-get')) why = 'apt-get is not available';
  else if (!prefix) why = 'not root and no sudo';
  else {
    for (const args of [['apt-get', 'update'], ['apt-get', 'install', '-y', ...list]]) {
      const [cmd, ...rest] = [...prefix, ...args];
      const r = capture('sh', ['-c', '"$@" >/dev/null 2>&1 && echo ok', 'sh', cmd, ...rest], {
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
      if (r !== 'ok') {
        why = `\`${args.join(' ')}\` failed`;
        break;
      }
    }
  }
  for (const n of want) {
    if (!commandExists(n)) missing.set(n, why ?? 'still not found after apt-get install');
  }
  return { missing };
}
