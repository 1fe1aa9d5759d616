import { fileURLToPath } from 'node:url';
import { CairnError } from '../core/errors/index.js';
import { LocalBackend } from './local-backend.js';
import type { Backend } from './types.js';

/**
 * Turns a repository location from the command line or config into a Backend.
 * Understood now: plain paths (relative ones resolve against the working directory)
 * and `file://` URLs. Any other `scheme:` is refused instead of being taken for a
 * directory name, so `s3://bucket` never quietly becomes a local folder called "s3:".
 */
export function openBackend(location: string): Backend {
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
  throw new CairnError('USAGE', `unsupported repository URL scheme "${scheme}:" in ${JSON.stringify(location)}`, {
    hint: 'use a local directory or a file:// URL; for a directory whose name contains ":" write it as ./name',
    details: { scheme },
  });
}
