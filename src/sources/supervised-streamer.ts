import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import type { CairnError } from '../core/errors/index.js';
import { scanPacks, syncIndex } from '../repository/index-sync.js';
import { RepoLock } from '../repository/lock.js';
import type { Repository } from '../repository/repository.js';
import { abortableSleep, settledSignal } from '../util/abortable-sleep.js';
import { recordChildPid, stopLeftoverChild } from './supervised-child.js';

/** The client tool a streamer supervises, and how it is treated. */
export interface SupervisedTool {
  /** Its name (pg_receivewal, mariadb-binlog): messages, and the check of a leftover pid. */
  name: string;
  /** Its pid file in the spool (supervised-child.ts). */
  pidFile: string;
  /** Its clean stop, for our own child and a leftover one; SIGKILL after `stopGraceMs`. */
  stopSignal: NodeJS.Signals;
  stopGraceMs: number;
  /** Quick exits in a row tolerated before the last one's error is thrown (a run of 30 s resets the count). */
  maxFailures: number;
  /** The pause before restart n of a row is n × this, at most 5 s. */
  backoffStepMs: number;
  /** Its exit as an error, from the end of its stderr; SOURCE_CONFIG stops at once. */
  error: (stderr: string) => CairnError;
}

/** What one run is given (a streamer passes its own options). */
export interface SupervisedRunOptions {
  /** Where the tool writes; reused across restarts. */
  spoolDir: string;
  flushIntervalMs: number;
  signal: AbortSignal;
  onWarning?: (message: string) => void;
}

/** What a store adds to the loop: what it runs and how it stores what the tool wrote. */
export interface SupervisedStreamerHooks {
  /** Before the writer lock is taken (a leftover child is stopped by then). */
  prepare?(): Promise<void>;
  /** With the lock held and the index synced: learn what earlier runs stored. */
  resume(): Promise<void>;
  /** Before each start: async lookups `start` needs (where to resume). */
  beforeStart?(): Promise<void>;
  /**
   * Spawns the tool; `restarts` counts the starts before this one. Synchronous, so the
   * child's 'error' and 'exit' listeners are attached before any event can fire.
   */
  start(restarts: number): ChildProcess;
  /** Stores what is new in the spool; calls `syncRepository` first. */
  flush(): Promise<void>;
}

/**
 * The supervision loop shared by the streamers that run a client tool into a spool
 * (pg_receivewal, mariadb-binlog): under a writer lock, start the tool, flush every
 * interval until it exits or we are stopped, and start it again after a pause when it
 * exited (a server restart). A tool that fails for a configuration reason, or keeps
 * exiting quickly, stops the loop with its error. On stop the child gets its clean-stop
 * signal and what it wrote last is flushed.
 */
export class SupervisedStreamer {
  private child: ChildProcess | null = null;
  private childError = '';
  private lock: RepoLock | null = null;

  constructor(
    private readonly repo: Repository,
    private readonly tool: SupervisedTool,
    private readonly opts: SupervisedRunOptions,
    private readonly hooks: SupervisedStreamerHooks,
  ) {}

  /** Runs until the signal aborts (resolves with the number of restarts) or the tool fails for good (throws). */
  async run(): Promise<number> {
    const { signal } = this.opts;
    let restarts = 0;
    await mkdir(this.opts.spoolDir, { recursive: true, mode: 0o700 });
    await this.stopOrphan();
    await this.hooks.prepare?.();
    const lock = await RepoLock.acquire(this.repo, 'writer');
    this.lock = lock;
    try {
      await syncIndex(this.repo);
      await lock.recordMarksSeen();
      // Packs of a streamer killed before it indexed them: named now, never trusted unnamed.
      await scanPacks(this.repo);
      await this.hooks.resume();
      let failures = 0;
      while (!signal.aborted) {
        await this.hooks.beforeStart?.();
        const startedAt = Date.now();
        const exited = this.startChild(restarts);
        await this.loopUntil(exited);
        if (signal.aborted) break;
        failures = Date.now() - startedAt > 30_000 ? 1 : failures + 1;
        const err = this.tool.error(this.childError || 'exited');
        if (err.code === 'SOURCE_CONFIG' || failures > this.tool.maxFailures) throw err;
        this.opts.onWarning?.(`${err.message}; restarting ${this.tool.name}`);
        restarts++;
        await abortableSleep(Math.min(this.tool.backoffStepMs * failures, 5000), signal);
      }
      await this.stopChild();
      await this.hooks.flush(); // what arrived last goes in before we exit
      return restarts;
    } finally {
      await this.stopChild();
      await lock.release().catch(() => undefined);
    }
  }

  /**
   * Every flush, even an idle one, syncs and publishes the gc marks it now knows (it
   * deduplicates only after this point), so a prune can sweep while a streamer runs for
   * weeks: a writer lock without a mark holds that mark's sweep back (LockBody.marksSeen).
   */
  async syncRepository(): Promise<void> {
    await syncIndex(this.repo);
    await this.lock?.recordMarksSeen();
  }

  private startChild(restarts: number): Promise<void> {
    this.childError = '';
    const child = this.hooks.start(restarts);
    this.child = child;
    recordChildPid(this.opts.spoolDir, this.tool.pidFile, child.pid);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => (this.childError = (this.childError + s).slice(-4000)));
    return new Promise((resolve) => {
      child.on('error', (e) => {
        this.childError = e.message;
        resolve();
      });
      child.on('exit', () => resolve());
    });
  }

  /** A streamer killed with SIGKILL leaves its child running, writing into our spool: stop it. */
  private stopOrphan(): Promise<void> {
    return stopLeftoverChild({
      spoolDir: this.opts.spoolDir,
      pidFile: this.tool.pidFile,
      tool: this.tool.name,
      signal: this.tool.stopSignal,
      graceMs: this.tool.stopGraceMs,
      ...(this.opts.onWarning ? { onWarning: this.opts.onWarning } : {}),
    });
  }

  private async stopChild(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(this.tool.stopSignal);
    const timer = setTimeout(() => child.kill('SIGKILL'), this.tool.stopGraceMs);
    await exited;
    clearTimeout(timer);
  }

  /** Flushes every interval until the child exits or we are stopped. */
  private async loopUntil(exited: Promise<void>): Promise<void> {
    const done = settledSignal(exited);
    while (!done.aborted && !this.opts.signal.aborted) {
      await abortableSleep(this.opts.flushIntervalMs, this.opts.signal, done);
      await this.hooks.flush();
    }
  }
}
