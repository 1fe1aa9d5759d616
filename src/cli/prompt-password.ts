import { CairnError } from '../core/errors/index.js';
import type { CliReadable, CliWritable } from './cli-deps.js';

/**
 * Asks for a password on a terminal without echoing it. The prompt goes to stderr so
 * that stdout stays clean for --json. Raw mode means Ctrl-C arrives as a character, not
 * a signal, so it is turned into CANCELLED here.
 */
export function promptPassword(
  prompt: string,
  stdin: CliReadable,
  stderr: CliWritable,
  signal?: AbortSignal,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const wasRaw = stdin.isRaw === true;
    const finish = (): void => {
      stdin.off('data', onData);
      signal?.removeEventListener('abort', onAbort);
      stdin.setRawMode?.(wasRaw);
      stdin.pause();
      stderr.write('\n');
    };
    const cancelled = (): CairnError => new CairnError('CANCELLED', 'interrupted at the password prompt');
    const onAbort = (): void => {
      finish();
      reject(cancelled());
    };
    const onData = (chunk: string | Buffer): void => {
      for (const ch of String(chunk)) {
        if (ch === '\r' || ch === '\n') {
          finish();
          resolve(buf);
          return;
        }
        if (ch === '\u0003') {
          finish();
          reject(cancelled());
          return;
        }
        if (ch === '\u0004') {
          if (buf === '') {
            finish();
            reject(new CairnError('NO_PASSWORD', 'no password entered'));
            return;
          }
        } else if (ch === '\u007f' || ch === '\b') {
          buf = Array.from(buf).slice(0, -1).join('');
        } else if (ch === '\u0015') {
          buf = '';
        } else if (ch >= ' ') {
          buf += ch;
        }
      }
    };
    if (signal?.aborted) {
      reject(cancelled());
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    stderr.write(prompt);
    stdin.setRawMode?.(true);
    stdin.setEncoding?.('utf8');
    stdin.on('data', onData);
    stdin.resume();
  });
}
