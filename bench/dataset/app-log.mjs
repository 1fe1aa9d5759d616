// An application log: one request per line (ISO time, level, worker, request id, method,
// route, status, duration, user, size), with a two-line stack trace after errors.
// Appending with another seed and a later start time is how mutate.mjs grows it.
import { Rng } from './rng.mjs';
import { TextWriter } from './text-writer.mjs';
import { WORDS } from './words.mjs';

const LEVELS = ['INFO', 'INFO', 'INFO', 'INFO', 'INFO', 'INFO', 'INFO', 'INFO', 'INFO', 'INFO',
  'DEBUG', 'DEBUG', 'DEBUG', 'DEBUG', 'WARN', 'WARN', 'ERROR'];
const METHODS = ['GET', 'GET', 'GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE'];
const ROUTES = ['orders', 'customers', 'carts', 'catalog', 'search', 'payments', 'shipments', 'auth', 'health'];
const OK = [200, 200, 200, 200, 200, 201, 204, 301, 304, 400, 404];
/** 2024-01-01T00:00:00Z, the start of the original log. */
export const LOG_EPOCH_MS = 1704067200000;

/**
 * Write (or append) about `bytes` bytes of log lines, starting at `startMs`. Returns
 * the bytes written. Time advances by a skewed 0-200 ms per line, all integer math.
 */
export function writeAppLog(path, bytes, { seed = 'log', startMs = LOG_EPOCH_MS, append = false } = {}) {
  const r = new Rng(seed);
  const w = new TextWriter(path, { append });
  let t = startMs;
  let second = -1;
  let prefix = ''; // "YYYY-MM-DDTHH:MM:SS." of the current second: toISOString per line is slow
  while (w.bytes < bytes) {
    t += r.skewed(200);
    const level = r.pick(LEVELS);
    const status = level === 'ERROR' ? 500 + r.below(4) : r.pick(OK);
    const dur = r.skewed(60000); // tenths of a millisecond
    if (Math.floor(t / 1000) !== second) {
      second = Math.floor(t / 1000);
      prefix = new Date(second * 1000).toISOString().slice(0, 20);
    }
    let line = `${prefix}${String(t % 1000).padStart(3, '0')}Z ${level.padEnd(5)} [http-${r.int(1, 24)}] rid=${r.hex64()} ` +
      `${r.pick(METHODS)} /api/v2/${r.pick(ROUTES)}/${r.int(1, 2000000)} status=${status} ` +
      `took=${Math.floor(dur / 10)}.${dur % 10}ms uid=${r.int(1, 90000)} bytes=${r.skewed(500000)}\n`;
    if (level === 'ERROR') {
      line += `    at ${r.pick(WORDS)}Handler.${r.pick(WORDS)} (/srv/app/lib/${r.pick(WORDS)}.js:${r.int(10, 900)}:${r.int(1, 80)})\n` +
        `    caused by: ${r.pick(WORDS)} ${r.pick(WORDS)} ${r.pick(WORDS)} timeout after ${r.int(1, 30)}s\n`;
    }
    w.write(line);
  }
  w.close();
  return w.bytes;
}
