import { MemBackend } from '../../src/backend/mem-backend.js';
import { backendSuite } from '../../src/backend/testing/suite.js';

backendSuite('MemBackend', async () => ({ backend: new MemBackend(), cleanup: async () => {} }));
