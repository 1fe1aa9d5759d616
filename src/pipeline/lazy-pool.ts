import type { FileResult } from './file-task.js';
import { WorkerPool, type PackHandler, type PoolConfig } from './worker-pool.js';

/**
 * Starts the worker pool on first use: an incremental backup of an unchanged tree
 * never reads a file, and should not pay for starting threads that load the crypto,
 * compression and SQLite modules.
 */
export class LazyPool {
  private pool: WorkerPool | null = null;
  private packHandler: PackHandler | null = null;

  constructor(private readonly config: PoolConfig) {}

  private get(): WorkerPool {
    if (!this.pool) {
      const p = WorkerPool.start(this.config);
      if (!p) throw new Error('worker pool unavailable'); // callers check availability first
      p.setPackHandler(this.packHandler);
      this.pool = p;
    }
    return this.pool;
  }

  setPackHandler(h: PackHandler | null): void {
    this.packHandler = h;
    this.pool?.setPackHandler(h);
  }

  backupFile(path: Buffer, seen: { size: number; mtimeNs: bigint; ctimeNs: bigint }): Promise<FileResult> {
    return this.get().backupFile(path, seen);
  }

  async flush(): Promise<void> {
    await this.pool?.flush();
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}
