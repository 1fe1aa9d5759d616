// Saves 4 MiB files named by their sha256 until killed, several at a time, printing one
// line per completed save. local-backend.test.ts SIGKILLs it at a random moment. Content
// is one random buffer with a unique counter in front: cheap to make, so most of the
// time goes to writing, which is where a kill can expose a non-atomic save.
import { createHash, randomBytes } from 'node:crypto';
import { LocalBackend } from './src/backend/local-backend.js';

const backend = new LocalBackend(process.argv[2]);
const size = Number(process.argv[3] ?? 4 * 1024 * 1024);
const base = randomBytes(size);
let counter = 0;

async function worker() {
  for (;;) {
    const data = Buffer.from(base);
    data.writeUInt32BE(process.pid, 0);
    data.writeUInt32BE(counter++, 4);
    const id = createHash('sha256').update(data).digest('hex');
    await backend.save(`data/${id.slice(0, 2)}/${id}`, data);
    process.stdout.write(`saved ${id}\n`);
  }
}

await Promise.all([worker(), worker(), worker(), worker()]);
