import { fileURLToPath } from 'node:url';
import { CairnError } from '../core/errors/index.js';
import { LocalBackend } from './local-backend.js';
import { S3Backend } from './s3-backend.js';
import type { Backend } from './types.js';

/**
 * Turns a repository location from the command line or config into a Backend.
 * Understood: plain paths (relative ones resolve against the working directory),
 * `file://` URLs and `s3://bucket/prefix?options` (docs/backends.md). Any other
 * `scheme:` is refused instead of being taken for a directory name, so `sftp:host:/x`
 * never quietly becomes a local folder called "sftp:host:".
 *
 * No retry wrapper here: the engine wraps every backend it opens in withRetry, and a
 * second layer would multiply the attempts.
 */
export function openBackend(location: string, env: NodeJS.ProcessEnv = process.env): Backend {
  if (location.trim() === '') {
    throw new CairnError('USAGE', 'empty repository location', { hint: 'pass a directory path or a file:// URL' });
  }
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]+):/.exec(location)?.[1]?.toLowerCase();
  if (scheme === undefined) return new LocalBackend(location);
  if (scheme === 'file') {
    let path: string;
    try {
      path = fileURLToPath(location);
    } catch (err) {
      throw new CairnError('USAGE', `invalid file URL ${JSON.stringify(location)}`, {
        cause: err,
        hint: 'use file:///absolute/path (three slashes) or a plain path',
      });
    }
    return new LocalBackend(path);
  }
  if (scheme === 's3') return S3Backend.fromUrl(location, { env });
  throw new CairnError('USAGE', `unsupported repository URL scheme "${scheme}:" in ${JSON.stringify(location)}`, {
    hint: 'use a local directory, a file:// URL or s3://bucket/prefix; for a directory whose name contains ":" write it as ./name',
    details: { scheme },
  });
}
