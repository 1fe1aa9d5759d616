// Runs one backend operation and prints the outcome as JSON, so a test can run it as
// an unprivileged user (root bypasses permission checks). argv: root op name
import { LocalBackend } from './src/backend/local-backend.js';

const [root, op, name] = process.argv.slice(2);
const backend = new LocalBackend(root);
try {
  if (op === 'save') await backend.save(name, new TextEncoder().encode('x'));
  else if (op === 'load') await backend.load(name);
  else if (op === 'list') for await (const _ of backend.list(name)) void _;
  else if (op === 'remove') await backend.remove(name);
  console.log(JSON.stringify({ ok: true, uid: process.getuid?.() }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, uid: process.getuid?.(), code: err.code, name: err.name, message: err.message }));
}
