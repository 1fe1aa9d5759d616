import { createWriteStream } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { CairnError } from '../../core/errors/index.js';
import type { RedisLocation } from './redis-location.js';
import { encodeCommand, parseResp, RespError, RespProtocolError, type RespValue } from './resp.js';

/** One command of the replication stream, with where it sits in the master's offsets. */
export interface StreamedCommand {
  /** The command's exact bytes as the master sent them. */
  raw: Buffer;
  value: RespValue;
  /** Replication offset before and after it (end − start = raw.length). */
  start: number;
  end: number;
  /** Arrival time at cairn (ms since the epoch). */
  time: number;
}

export type PsyncAnswer = { full: true; replid: string; offset: number } | { full: false; replid: string };

/**
 * A plain TCP connection to a Redis server that can act as a replica (docs/sources/redis.md):
 * AUTH, REPLCONF, PSYNC, the RDB payload (`$<len>` or diskless `$EOF:<marker>`), then the
 * command stream, acknowledged every 100 ms (a master drops a replica that stops
 * acknowledging). Also used for a few ordinary commands (INFO, SAVE, replay).
 */
export class RedisLink {
  private buf: Buffer = Buffer.alloc(0);
  private wake: (() => void) | null = null;
  private closedWith: Error | null = null;
  private closed = false;
  private ackTimer: NodeJS.Timeout | null = null;
  private streaming = false;
  /** Bytes removed from the front of buf so far, and the arrival time of each received chunk (by its end). */
  private consumed = 0;
  private marks: { end: number; time: number }[] = [];
  /** Bytes of the replication stream processed (the offset a replica acknowledges). */
  offset = 0;
  onCommand: ((c: StreamedCommand) => void) | null = null;
  onClose: ((err: Error) => void) | null = null;

  private constructor(
    private readonly sock: Socket,
    readonly loc: RedisLocation,
  ) {
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      // Arrival times are taken here, not when a command is parsed: commands that arrive
      // while a base is being stored wait in the buffer but keep their true arrival time.
      this.marks.push({ end: this.consumed + this.buf.length, time: Date.now() });
      if (this.streaming) this.pumpStream();
      this.poke();
    });
    sock.on('error', (e) => (this.closedWith ??= unreachable(loc, e)));
    sock.on('close', () => {
      this.closed = true;
      this.closedWith ??= new CairnError('SOURCE_UNREACHABLE', `redis at ${loc.display} closed the connection`);
      this.stopAck();
      this.poke();
      this.onClose?.(this.closedWith);
    });
  }

  /** Connects and authenticates (AUTH [user] password when the URL has a password). */
  static async open(loc: RedisLocation, opts: { timeoutMs?: number; socketPath?: string } = {}): Promise<RedisLink> {
    const sock = opts.socketPath ? connect({ path: opts.socketPath }) : connect({ host: loc.host, port: loc.port });
    sock.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        sock.destroy();
        reject(new CairnError('SOURCE_UNREACHABLE', `cannot reach redis at ${loc.display}: connect timed out`));
      }, opts.timeoutMs ?? 10_000);
      sock.once('connect', () => {
        clearTimeout(t);
        resolve();
      });
      sock.once('error', (e) => {
        clearTimeout(t);
        reject(unreachable(loc, e));
      });
    });
    const link = new RedisLink(sock, loc);
    if (loc.password !== null) {
      const r = await link.call(loc.username ? ['AUTH', loc.username, loc.password] : ['AUTH', loc.password]);
      if (r instanceof RespError) {
        link.close();
        throw new CairnError('SOURCE_CONFIG', `redis at ${loc.display} refused authentication: ${r.message}`, {
          hint: 'check the user and password in the redis:// URL (docs/sources/redis.md, "Access")',
        });
      }
    }
    return link;
  }

  /** Sends a command and waits for its reply (never while streaming). */
  async call(args: (string | Buffer | number)[]): Promise<RespValue> {
    this.sock.write(encodeCommand(args));
    return this.readValue();
  }

  /** A command whose error reply is a thrown CairnError. */
  async callOk(args: (string | Buffer | number)[], code: 'SOURCE_CONFIG' | 'SOURCE_UNREACHABLE' = 'SOURCE_CONFIG'): Promise<RespValue> {
    const r = await this.call(args);
    if (r instanceof RespError) throw refused(this.loc, `${String(args[0])} ${args[0] === 'AUTH' ? '' : String(args[1] ?? '')}`.trim(), r.message, code);
    return r;
  }

  /** Sends raw bytes (replay). */
  write(bytes: Buffer): void {
    this.sock.write(bytes);
  }

  /** Reads one reply value. */
  async readValue(): Promise<RespValue> {
    for (;;) {
      const r = parseResp(this.buf);
      if (r) {
        this.consume(r.end);
        return r.value;
      }
      await this.more();
    }
  }

  /** REPLCONF and PSYNC: the handshake of a replica. */
  async psync(replid: string | null, offset: number): Promise<PsyncAnswer> {
    // A NOAUTH/NOPERM here means the URL lacks a password or the user lacks +replconf/+psync.
    await this.callOk(['REPLCONF', 'listening-port', '0']);
    await this.callOk(['REPLCONF', 'capa', 'eof', 'capa', 'psync2']);
    this.sock.write(encodeCommand(['PSYNC', replid ?? '?', replid ? String(offset + 1) : '-1']));
    const line = await this.readLine();
    if (line.startsWith('-')) throw refused(this.loc, 'PSYNC', line.slice(1), 'SOURCE_CONFIG');
    const full = /^\+FULLRESYNC ([0-9a-f]{40}) (\d+)$/.exec(line);
    if (full) {
      this.offset = Number(full[2]);
      return { full: true, replid: full[1]!, offset: this.offset };
    }
    const cont = /^\+CONTINUE(?: ([0-9a-f]{40}))?$/.exec(line);
    if (cont) {
      this.offset = offset;
      return { full: false, replid: cont[1] ?? replid! };
    }
    throw new CairnError('SOURCE_CONFIG', `redis at ${loc(this.loc)} answered PSYNC with "${line.slice(0, 80)}"`, { hint: 'cairn needs Redis 4 or later (PSYNC2)' });
  }

  /**
   * After +FULLRESYNC: the RDB payload into `file`. The master sends "\n" keepalives while
   * it forks; the payload is `$<len>\r\n<bytes>` or, diskless, `$EOF:<40 bytes>\r\n<bytes><the 40 bytes>`.
   * Returns its size; from then on the link acknowledges every 100 ms.
   */
  async receiveRdb(file: string, signal?: AbortSignal): Promise<number> {
    const header = await this.readLine();
    const out = createWriteStream(file, { mode: 0o600 });
    let size = 0;
    const emit = async (b: Buffer): Promise<void> => {
      if (b.length === 0) return;
      size += b.length;
      if (!out.write(b)) {
        this.sock.pause();
        await new Promise<void>((r) => out.once('drain', r));
        this.sock.resume();
      }
    };
    try {
      if (header.startsWith('$EOF:')) {
        const marker = Buffer.from(header.slice(5), 'latin1');
        if (marker.length !== 40) throw new RespProtocolError('bad EOF marker');
        for (;;) {
          if (signal?.aborted) throw new CairnError('CANCELLED', 'cancelled while receiving the RDB; nothing was stored');
          const i = this.buf.indexOf(marker);
          if (i >= 0) {
            await emit(Buffer.from(this.buf.subarray(0, i)));
            this.consume(i + 40);
            break;
          }
          if (this.buf.length > 40) {
            const keep = this.buf.length - 39;
            const chunk = Buffer.from(this.buf.subarray(0, keep));
            this.consume(keep);
            await emit(chunk);
          }
          await this.more();
        }
      } else if (header.startsWith('$')) {
        let left = Number(header.slice(1));
        if (!Number.isInteger(left) || left < 0) throw new RespProtocolError(`bad RDB length "${header}"`);
        while (left > 0) {
          if (signal?.aborted) throw new CairnError('CANCELLED', 'cancelled while receiving the RDB; nothing was stored');
          if (this.buf.length === 0) await this.more();
          const n = Math.min(left, this.buf.length);
          const chunk = Buffer.from(this.buf.subarray(0, n));
          this.consume(n);
          left -= n;
          await emit(chunk);
        }
      } else {
        throw new RespProtocolError(`expected the RDB payload, got "${header.slice(0, 40)}"`);
      }
    } finally {
      await new Promise<void>((r) => out.end(() => r()));
    }
    // Acknowledge at once: after a diskless sync the master sends the stream only once
    // the replica acks, and commands held back while we store the base would arrive (and
    // be timestamped) late. They wait in our buffer with their true arrival times.
    this.startAck();
    return size;
  }

  /** Switches to the command stream: every complete command goes to onCommand; ACKs every 100 ms. */
  startStreaming(): void {
    this.streaming = true;
    this.startAck();
    this.pumpStream();
  }

  private startAck(): void {
    if (this.ackTimer || this.closed) return;
    this.ackTimer = setInterval(() => this.ack(), 100);
    this.ack();
  }

  private ack(): void {
    if (!this.closed) this.sock.write(encodeCommand(['REPLCONF', 'ACK', String(this.offset)]));
  }

  private stopAck(): void {
    if (this.ackTimer) clearInterval(this.ackTimer);
    this.ackTimer = null;
  }

  private consume(n: number): void {
    this.buf = this.buf.subarray(n);
    this.consumed += n;
    while (this.marks.length > 0 && this.marks[0]!.end <= this.consumed) this.marks.shift();
  }

  /** When the byte at absolute position `end - 1` arrived. */
  private arrival(end: number): number {
    for (const m of this.marks) if (m.end >= end) return m.time;
    return Date.now();
  }

  private pumpStream(): void {
    let pos = 0;
    try {
      for (;;) {
        const r = parseResp(this.buf, pos);
        if (!r) break;
        const raw = Buffer.from(this.buf.subarray(pos, r.end));
        const start = this.offset;
        this.offset += raw.length;
        pos = r.end;
        this.onCommand?.({ raw, value: r.value, start, end: this.offset, time: this.arrival(this.consumed + r.end) });
      }
    } catch (err) {
      this.closedWith = new CairnError('SOURCE_UNREACHABLE', `redis at ${this.loc.display} sent an invalid replication stream: ${(err as Error).message}`);
      this.sock.destroy();
    }
    this.consume(pos);
  }

  /** A status line (after skipping the master's "\n" keepalives). */
  private async readLine(): Promise<string> {
    for (;;) {
      let i = 0;
      while (i < this.buf.length && this.buf[i] === 0x0a) i++;
      if (i > 0) this.consume(i);
      const nl = this.buf.indexOf('\r\n');
      if (nl >= 0) {
        const line = this.buf.toString('latin1', 0, nl);
        this.consume(nl + 2);
        return line;
      }
      await this.more();
    }
  }

  private async more(): Promise<void> {
    // Called only when the buffered bytes are not enough: a closed socket brings no more.
    if (this.closed) throw this.closedWith!;
    await new Promise<void>((r) => (this.wake = r));
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  close(): void {
    this.stopAck();
    this.onClose = null;
    this.sock.destroy();
  }
}

function loc(l: RedisLocation): string {
  return l.display;
}

function unreachable(l: RedisLocation, e: Error): CairnError {
  return new CairnError('SOURCE_UNREACHABLE', `cannot reach redis at ${l.display}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, {
    hint: 'check the host and port, and that redis-server runs and accepts connections from this host',
  });
}

function refused(l: RedisLocation, what: string, message: string, code: 'SOURCE_CONFIG' | 'SOURCE_UNREACHABLE'): CairnError {
  const auth = /^(NOAUTH|WRONGPASS|NOPERM)/.test(message);
  return new CairnError(code, `redis at ${l.display} refused ${what}: ${message}`, {
    hint: auth
      ? 'give a user with the replication permissions in the URL: redis://user:password@host:port (docs/sources/redis.md, "Access")'
      : 'the server must accept a replica (docs/sources/redis.md, "What the server needs")',
  });
}

/** INFO as key → value. */
export function parseInfo(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) m.set(line.slice(0, i), line.slice(i + 1));
  }
  return m;
}
