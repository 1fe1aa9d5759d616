// A concurrent writer in another process: bursts of inserts (300 ms) and quiet pauses
// (1500 ms), so a test can pick each time T in the middle of a pause: capture times are
// observation times, exact to within the poll interval plus processing (docs/sources/sqlite.md).
// Usage: node writer.mjs DB_PATH DURATION_MS
import Database from 'better-sqlite3';
const db = new Database(process.argv[2]);
db.pragma('busy_timeout = 10000');
const ins = db.prepare('INSERT INTO t (ts, pad) VALUES (?, ?)');
const end = Date.now() + Number(process.argv[3]);
while (Date.now() < end) {
  const burst = Date.now() + 300;
  while (Date.now() < burst) {
    ins.run(new Date().toISOString(), 'x'.repeat(200));
    await new Promise((r) => setTimeout(r, 3));
  }
  await new Promise((r) => setTimeout(r, 1500));
}
db.close();
