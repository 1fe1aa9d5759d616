import { describe, expect, it } from 'vitest';
import { DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE, parseS3Location } from '../../src/backend/s3-location.js';
import { CairnError } from '../../src/core/errors/index.js';

const MiB = 1024 * 1024;

function usage(url: string, env: NodeJS.ProcessEnv = {}): CairnError {
  try {
    parseS3Location(url, env);
  } catch (err) {
    expect(err).toBeInstanceOf(CairnError);
    const e = err as CairnError;
    expect(e.code, `${url}: ${e.message}`).toBe('USAGE');
    expect(e.message).not.toMatch(/\n/);
    expect(e.hint).toBeTruthy();
    return e;
  }
  throw new Error(`${url} was accepted`);
}

describe('parseS3Location', () => {
  it('parses bucket and prefix, with defaults for everything else', () => {
    expect(parseS3Location('s3://my-bucket/backups/laptop', {})).toEqual({
      bucket: 'my-bucket',
      prefix: 'backups/laptop',
      endpoint: undefined,
      region: undefined,
      forcePathStyle: false,
      storageClass: undefined,
      concurrency: DEFAULT_CONCURRENCY,
      objectLock: undefined,
      partSize: DEFAULT_PART_SIZE,
      verifyWrites: 'checksum',
      display: 's3://my-bucket/backups/laptop',
    });
    expect(parseS3Location('s3://my-bucket', {}).prefix).toBe('');
    expect(parseS3Location('s3://my-bucket/', {}).prefix).toBe('');
    expect(parseS3Location('s3://my-bucket/a/b/', {}).prefix).toBe('a/b');
    expect(parseS3Location('S3://my-bucket/a%20b', {}).prefix).toBe('a b');
  });

  it('parses every option', () => {
    const loc = parseS3Location(
      's3://b.example/p?endpoint=https://minio.example.com:9000/&region=eu-central-1&path-style=true&storage-class=standard_ia&concurrency=16&object-lock-days=30&object-lock-mode=compliance&part-size=16MiB&verify-writes=read',
      {},
    );
    expect(loc).toMatchObject({
      bucket: 'b.example',
      prefix: 'p',
      endpoint: 'https://minio.example.com:9000',
      region: 'eu-central-1',
      forcePathStyle: true,
      storageClass: 'STANDARD_IA',
      concurrency: 16,
      objectLock: { days: 30, mode: 'COMPLIANCE' },
      partSize: 16 * MiB,
      verifyWrites: 'read',
      display: 's3://b.example/p?endpoint=https://minio.example.com:9000',
    });
    expect(parseS3Location('s3://bkt?object-lock-days=7', {}).objectLock).toEqual({ days: 7, mode: 'GOVERNANCE' });
    expect(parseS3Location('s3://bkt?part-size=5242880', {}).partSize).toBe(5 * MiB);
    expect(parseS3Location('s3://bkt?part-size=1GiB', {}).partSize).toBe(1024 * MiB);
    // Percent-encoded values, as URLSearchParams would write them.
    expect(parseS3Location('s3://bkt?endpoint=http%3A%2F%2F127.0.0.1%3A9000', {}).endpoint).toBe('http://127.0.0.1:9000');
  });

  it('turns on path-style for IP-address and localhost endpoints, unless told otherwise', () => {
    for (const ep of ['http://127.0.0.1:9000', 'http://[::1]:9000', 'http://localhost:4568', 'http://minio.localhost', 'http://10.1.2.3']) {
      expect(parseS3Location(`s3://bkt?endpoint=${ep}`, {}).forcePathStyle, ep).toBe(true);
    }
    for (const ep of ['https://s3.eu-central-1.amazonaws.com', 'https://minio.example.com']) {
      expect(parseS3Location(`s3://bkt?endpoint=${ep}`, {}).forcePathStyle, ep).toBe(false);
    }
    expect(parseS3Location('s3://bkt', {}).forcePathStyle).toBe(false);
    expect(parseS3Location('s3://bkt?endpoint=http://127.0.0.1:9000&path-style=false', {}).forcePathStyle).toBe(false);
    expect(parseS3Location('s3://bkt?endpoint=https://minio.example.com&path-style=true', {}).forcePathStyle).toBe(true);
  });

  it('reads endpoint and region from the AWS environment variables; URL options win', () => {
    const env = {
      AWS_ENDPOINT_URL: 'http://generic.example:1',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000',
      AWS_REGION: 'eu-west-1',
      AWS_DEFAULT_REGION: 'eu-west-2',
    };
    expect(parseS3Location('s3://bkt', env)).toMatchObject({ endpoint: 'http://127.0.0.1:9000', region: 'eu-west-1', forcePathStyle: true });
    expect(parseS3Location('s3://bkt', { AWS_ENDPOINT_URL: 'http://generic.example:1', AWS_DEFAULT_REGION: 'eu-west-2' })).toMatchObject({
      endpoint: 'http://generic.example:1',
      region: 'eu-west-2',
      forcePathStyle: false,
    });
    expect(parseS3Location('s3://bkt?endpoint=http://other.example&region=ap-south-1', env)).toMatchObject({
      endpoint: 'http://other.example',
      region: 'ap-south-1',
    });
    // As in the SDK: AWS_IGNORE_CONFIGURED_ENDPOINT_URLS turns the variables off.
    expect(parseS3Location('s3://bkt', { ...env, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }).endpoint).toBeUndefined();
    // Empty variables count as unset.
    expect(parseS3Location('s3://bkt', { AWS_ENDPOINT_URL: '', AWS_REGION: ' ' })).toMatchObject({ endpoint: undefined, region: undefined });
  });

  it('never puts credentials or tuning options into the location', () => {
    const loc = parseS3Location('s3://bkt/p?endpoint=http://127.0.0.1:9000&concurrency=4&storage-class=STANDARD_IA', {});
    expect(loc.display).toBe('s3://bkt/p?endpoint=http://127.0.0.1:9000');
    for (const url of ['s3://AKIA123:secret@bkt/p', 's3://bkt/p?endpoint=http://AKIA:secret@127.0.0.1:9000']) {
      const e = usage(url);
      expect(e.message).not.toContain('secret');
      expect(e.message).toMatch(/credentials/);
      expect(e.hint).toMatch(/AWS_ACCESS_KEY_ID/);
    }
    const e = usage('s3://bkt?access-key=AKIA&secret-key=xyz');
    expect(e.message).not.toContain('xyz');
    expect(e.hint).toMatch(/never taken from the URL/);
    usage('s3://bkt', { AWS_ENDPOINT_URL: 'http://user:pw@127.0.0.1:9000' });
  });

  it.each([
    ['no //', 's3:bucket/prefix', /expected s3:\/\/BUCKET/],
    ['no bucket', 's3:///prefix', /no bucket/],
    ['bucket too short', 's3://ab', /invalid bucket name/],
    ['bucket with a space', 's3://my%20bucket', /invalid bucket name/],
    ['empty prefix segment', 's3://bkt/a//b', /invalid prefix/],
    ['dot-dot segment', 's3://bkt/a/../b', /invalid prefix/],
    ['fragment', 's3://bkt/p#x', /"#"/],
    ['unknown option', 's3://bkt?regoin=us-east-1', /unknown S3 option "regoin"/],
    ['option twice', 's3://bkt?region=a&region=b', /given twice/],
    ['option without value', 's3://bkt?region=', /needs a value/],
    ['endpoint not a URL', 's3://bkt?endpoint=127.0.0.1:9000', /invalid S3 endpoint/],
    ['endpoint not http', 's3://bkt?endpoint=ftp://host', /only http/],
    ['bad region', 's3://bkt?region=us_east_1', /invalid S3 region/],
    ['bad path-style', 's3://bkt?path-style=maybe', /invalid path-style/],
    ['bad concurrency', 's3://bkt?concurrency=0', /invalid concurrency/],
    ['concurrency not a number', 's3://bkt?concurrency=lots', /invalid concurrency/],
    ['archive storage class', 's3://bkt?storage-class=GLACIER', /cannot be read without a restore/],
    ['deep archive', 's3://bkt?storage-class=deep_archive', /cannot be read without a restore/],
    ['bad storage class', 's3://bkt?storage-class=very-cold', /invalid storage-class/],
    ['lock mode without days', 's3://bkt?object-lock-mode=governance', /needs object-lock-days/],
    ['bad lock mode', 's3://bkt?object-lock-days=3&object-lock-mode=strict', /invalid object-lock-mode/],
    ['bad lock days', 's3://bkt?object-lock-days=-1', /invalid object-lock-days/],
    ['part size too small', 's3://bkt?part-size=1MiB', /out of range/],
    ['part size unit', 's3://bkt?part-size=16MB', /invalid part-size/],
    ['verify-writes value', 's3://bkt?verify-writes=never', /invalid verify-writes/],
    ['bad escape', 's3://bkt/%zz', /percent-escape/],
  ])('refuses %s with one USAGE line', (_name, url, message) => {
    expect(usage(url).message).toMatch(message);
  });
});
