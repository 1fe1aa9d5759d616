import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startS3rver, type S3rver } from '../helpers/s3rver.js';
import { sourceSuite } from './testing/source-suite.js';

/**
 * The shared source suite against a bucket in a private s3rver (no log: backups and
 * `restore --at` between them); restores go `--to` a second bucket under a fresh
 * prefix, which is then listed. Units are objects u/<i>.
 */
let server: S3rver | null = null;
let s3: S3Client | null = null;

sourceSuite({
  type: 's3',
  name: 'bucket1',
  hasLog: false,
  async start(_dir, fillerBytes) {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    server = await startS3rver(['src', 'restored']);
    s3 = new S3Client({ endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: server.credentials });
    for (let k = 0; k * 1024 * 1024 < fillerBytes; k++) {
      await s3.send(new PutObjectCommand({ Bucket: 'src', Key: `filler/${k}.bin`, Body: randomBytes(1024 * 1024) }));
    }
  },
  async stop() {
    s3?.destroy();
    await server?.stop();
  },
  env: () => ({ ...server!.env, AWS_EC2_METADATA_DISABLED: 'true', CAIRN_RETRY_ATTEMPTS: '2', CAIRN_RETRY_BASE_MS: '10' }),
  url: () => server!.url('src'),
  async write(i) {
    await s3!.send(new PutObjectCommand({ Bucket: 'src', Key: `u/${i}`, Body: `unit ${i}\n` }));
  },
  async restoreArgs(target) {
    return ['--to', server!.url('restored', basename(target))];
  },
  async read(target) {
    const prefix = `${basename(target)}/u/`;
    const out: number[] = [];
    let token: string | undefined;
    do {
      const p = await s3!.send(new ListObjectsV2Command({ Bucket: 'restored', Prefix: prefix, ContinuationToken: token }));
      for (const o of p.Contents ?? []) out.push(Number(o.Key!.slice(prefix.length)));
      token = p.IsTruncated ? p.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => a - b);
  },
});
