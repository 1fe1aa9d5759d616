import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/backend/local-backend.js';
import { openBackend } from '../../src/backend/open-backend.js';
import { S3Backend } from '../../src/backend/s3-backend.js';
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

  it('opens s3:// URLs as S3Backend, without network access and without credentials in the location', () => {
    const b = openBackend('s3://my-bucket/backups/laptop?endpoint=http://127.0.0.1:9000&region=eu-west-1', {});
    expect(b).toBeInstanceOf(S3Backend);
    expect(b.location).toBe('s3://my-bucket/backups/laptop?endpoint=http://127.0.0.1:9000');
    expect(openBackend('S3://my-bucket', {}).location).toBe('s3://my-bucket');
    // The endpoint may come from the standard AWS variable.
    expect(openBackend('s3://my-bucket/p', { AWS_ENDPOINT_URL_S3: 'http://localhost:4568' }).location).toBe(
      's3://my-bucket/p?endpoint=http://localhost:4568',
    );
  });

  it('refuses malformed s3 URLs with one USAGE line and a hint', () => {
    for (const loc of ['s3:bucket', 's3://', 's3://bucket?nope=1', 's3://key:secret@bucket/p']) {
      const err = usageError(loc);
      expect(err.code).toBe('USAGE');
      expect(err.message).not.toMatch(/\n|secret/);
      expect(err.hint).toBeTruthy();
    }
  });

  it('refuses other schemes with USAGE instead of making a folder called "sftp:host:"', () => {
    for (const loc of ['sftp:host:/repo', 'rest:http://x', 'https://example.com/repo', 'gs://bucket/prefix']) {
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
