import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backend/local-backend.js';
import { openBackend } from '../../src/backend/open-backend.js';
import { CairnError } from '../../src/core/errors/index.js';

function usageError(location: string): CairnError {
  try {
    openBackend(location);
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    return err as CairnError;
  }
  throw new Error(`openBackend(${location}) did not throw`);
}

describe('openBackend', () => {
  it('opens absolute and relative paths as LocalBackend', () => {
    const abs = openBackend('/srv/backups/repo');
    expect(abs).toBeInstanceOf(LocalBackend);
    expect(abs.location).toBe('/srv/backups/repo');
    expect(openBackend('repo').location).toBe(join(process.cwd(), 'repo'));
    expect(openBackend('./with:colon').location).toBe(join(process.cwd(), 'with:colon'));
  });

  it('opens file:// URLs, decoding escapes', () => {
    const b = openBackend(pathToFileURL('/srv/my backups').href);
    expect(b).toBeInstanceOf(LocalBackend);
    expect(b.location).toBe('/srv/my backups');
    expect(openBackend('FILE:///srv/x').location).toBe('/srv/x');
  });

  it('refuses file URLs with a host', () => {
    const err = usageError('file://server/share');
    expect(err.code).toBe('USAGE');
  });

  it('refuses other schemes with USAGE instead of making a folder called "s3:"', () => {
    for (const loc of ['s3://bucket/prefix', 'sftp:host:/repo', 'rest:http://x', 'https://example.com/repo']) {
      const err = usageError(loc);
      expect(err.code).toBe('USAGE');
      expect(err.message).toMatch(/unsupported repository URL scheme/);
      expect(err.exitCode).toBe(2);
    }
  });

  it('refuses an empty location', () => {
    expect(usageError('').code).toBe('USAGE');
    expect(usageError('   ').code).toBe('USAGE');
  });
});
