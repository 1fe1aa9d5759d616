import { CairnError, isCairnError } from '../core/errors/index.js';
import type { Engine } from '../engine/types.js';
import { buildProgram } from './build-program.js';
import { metaDocument } from './help-document.js';
import { type CliDeps, type CliWritable, defaultCliDeps } from './cli-deps.js';
import { exitCodeFor } from './exit-code-for.js';
import { renderError } from './render-error.js';
import { isCommanderSuccess } from './to-cairn-error.js';
import { native } from '../util/native-addon.js';

/** How long a cancelled operation may take to clean up (release locks) before we quit anyway. */
const CANCEL_GRACE_MS = 10_000;

async function loadEngine(opts: Parameters<CliDeps['loadEngine']>[0]): Promise<Engine> {
  const { createEngine } = await import('../engine/create-engine.js');
  return createEngine(opts);
}

/** True when argv carries the flag before a "--" terminator (read before commander runs). */
export function hasFlag(argv: readonly string[], flag: string): boolean {
  for (const a of argv.slice(2)) {
    if (a === '--') return false;
    if (a === flag) return true;
  }
  return false;
}

function flush(stream: CliWritable): Promise<void> {
  return new Promise((resolve) => {
    try {
      stream.write('', () => resolve());
    } catch {
      resolve();
    }
  });
}

export interface MainOptions extends Partial<CliDeps> {
  /** Replaces process.exit (tests). */
  exit?: (code: number) => void;
}

/**
 * The entry point and the one place that exits. Runs the command, renders any error
 * (one line + hint, or JSON with --json; a stack only for unknown errors), turns
 * SIGINT/SIGTERM into an aborted AbortSignal and exit 130, and ignores EPIPE on stdout
 * (`cairn ls latest | head`).
 */
export async function main(argv: string[], options: MainOptions = {}): Promise<void> {
  const { exit = (code: number) => process.exit(code), ...overrides } = options;
  const ownExit = options.exit === undefined;
  const controller = new AbortController();
  const deps = defaultCliDeps({ loadEngine, signal: controller.signal, ...overrides });
  const json = hasFlag(argv, '--json');
  const verbose = hasFlag(argv, '--verbose') || hasFlag(argv, '-v');
  const ownProcess = overrides.stdout === undefined;

  const onStdoutError = (err: NodeJS.ErrnoException): void => {
    // The reader went away (`| head`): stop caring about stdout, keep going quietly.
    if (err.code !== 'EPIPE') deps.stderr.write(`cairn: warning: cannot write to stdout: ${err.message}\n`);
  };
  let signals = 0;
  /** Set once the command settled, with its exit code. */
  let finished: number | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    // After the command: its output is being flushed. The first signal waits for that
    // (removing the handler instead let the signal kill the process, exit status
    // "SIGINT", after a committed backup had printed its result); a second one exits.
    if (finished !== undefined) {
      if (signals > 1) exit(finished);
      return;
    }
    if (signals === 1) {
      controller.abort(new CairnError('CANCELLED', `interrupted by ${sig}`));
      deps.stderr.write('\ncairn: interrupted, cleaning up (press Ctrl-C again to quit at once)\n');
      setTimeout(() => exit(130), CANCEL_GRACE_MS).unref();
    } else if (ownExit) {
      // At once, for real: process.exit() joins libuv's thread pool, and a thread blocked
      // in a read that never returns (a FIFO nobody writes, a hung NFS mount) made it
      // wait forever. _exit(2) keeps the documented 130; without the addon, the
      // signal's default action ends the process (shells report 130 for SIGINT too).
      if (native?.exitNow) native.exitNow(130);
      process.removeAllListeners(sig);
      process.kill(process.pid, sig);
    } else {
      exit(130);
    }
  };
  // With stderr gone too (a supervisor that died, a closed pipe) there is nowhere left
  // to report to; an unhandled 'error' event would kill the process mid-cleanup.
  const onStderrError = (): void => undefined;
  if (ownProcess) {
    process.stdout.on('error', onStdoutError);
    process.stderr.on('error', onStderrError);
  }
  if (overrides.signal === undefined) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }

  let code = 0;
  try {
    // A signal that arrives after the command finished does not undo it: a backup whose
    // snapshot was committed reports success, and the engine checks the signal itself.
    const program = buildProgram(deps);
    const meta = json ? metaDocument(program, argv) : null;
    if (meta) deps.stdout.write(`${JSON.stringify(meta)}\n`);
    else await program.parseAsync(argv);
  } catch (caught) {
    let err = caught;
    if (deps.signal.aborted && !isCommanderSuccess(err) && !isCairnError(err, 'CANCELLED')) {
      err = new CairnError('CANCELLED', 'interrupted; the operation was cancelled', {
        cause: caught,
        hint: 'run the command again; nothing committed was lost (a stale lock, if any, expires on its own)',
      });
    }
    const r = renderError(err, json, { verbose });
    if (r.stdout) deps.stdout.write(r.stdout);
    if (r.stderr) deps.stderr.write(r.stderr);
    code = exitCodeFor(err);
  }
  finished = code;
  signals = 0;
  try {
    await flush(deps.stdout);
    await flush(deps.stderr);
    // Exit with the handlers still installed. process.exit() does not return, and it
    // takes a while (it stops the worker threads); a SIGINT in that window, with the
    // handlers gone, took the default action and killed the process (exit status
    // "SIGINT") after a committed backup had printed its result. An exit that returns
    // (tests calling main in-process) gets its listeners removed below.
    exit(code);
  } finally {
    if (overrides.signal === undefined) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}
