import { afterAll, beforeAll } from 'vitest';
import { S3Backend } from '../../src/backend/s3-backend.js';
import { backendSuite } from '../../src/backend/testing/suite.js';
import { startS3rver, type S3rver } from '../helpers/s3rver.js';

/** The shared Backend contract against a real (if simplified) S3 server. */
let server: S3rver;
let n = 0;
beforeAll(async () => {
  server = await startS3rver(['suite']);
});
afterAll(async () => {
  await server?.stop();
});

// Each test gets its own prefix in one bucket: a fresh, empty repository.
backendSuite(
  'S3Backend (s3rver)',
  async () => ({
    backend: S3Backend.fromUrl(server.url('suite', `t${++n}/repo`), { credentials: server.credentials, env: {} }),
    cleanup: async () => {},
  }),
  {
    notAtomic:
      's3rver streams a PutObject straight into its final file, so a listing can see a prefix; S3 itself makes an object visible only when complete (an untestable guarantee here)',
  },
);
