/**
 * RESP2 (the Redis wire protocol) — just what a replica needs: encoding commands, and an
 * incremental parser that also reports the exact byte length of each top-level value
 * (the replication offset advances by the bytes of every command the master sends).
 */

export type RespValue = string | number | Buffer | null | RespError | RespValue[];

export class RespError {
  constructor(readonly message: string) {}
}

/** A command as a RESP array of bulk strings. */
export function encodeCommand(args: (string | Buffer | number)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Thrown on bytes that are not RESP: the connection cannot be trusted any more. */
export class RespProtocolError extends Error {}

/**
 * Parses one RESP value from `buf` at `pos`. Returns null when more bytes are needed,
 * else the value and the position after it.
 */
export function parseResp(buf: Buffer, pos = 0): { value: RespValue; end: number } | null {
  if (pos >= buf.length) return null;
  const nl = buf.indexOf('\r\n', pos, 'latin1');
  if (nl < 0) return null;
  const type = buf[pos];
  const line = buf.toString('latin1', pos + 1, nl);
  const next = nl + 2;
  switch (type) {
    case 0x2b: // +
      return { value: buf.toString('utf8', pos + 1, nl), end: next };
    case 0x2d: // -
      return { value: new RespError(buf.toString('utf8', pos + 1, nl)), end: next };
    case 0x3a: // :
      return { value: Number(line), end: next };
    case 0x24: {
      // $
      const len = Number(line);
      if (!Number.isInteger(len)) throw new RespProtocolError(`bad bulk length "${line}"`);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return null;
      return { value: buf.subarray(next, next + len), end: next + len + 2 };
    }
    case 0x2a: {
      // *
      const n = Number(line);
      if (!Number.isInteger(n)) throw new RespProtocolError(`bad array length "${line}"`);
      if (n < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parseResp(buf, p);
        if (!r) return null;
        items.push(r.value);
        p = r.end;
      }
      return { value: items, end: p };
    }
    default:
      throw new RespProtocolError(`unexpected byte 0x${(type ?? 0).toString(16)} in the RESP stream`);
  }
}

/** The arguments of a command value as strings (for inspection; replay uses the raw bytes). */
export function commandName(value: RespValue): string {
  if (!Array.isArray(value) || value.length === 0) return '';
  const first = value[0];
  return (Buffer.isBuffer(first) ? first.toString('latin1') : String(first)).toUpperCase();
}

export function argString(value: RespValue, i: number): string {
  if (!Array.isArray(value)) return '';
  const a = value[i];
  return Buffer.isBuffer(a) ? a.toString('utf8') : a === undefined || a === null ? '' : String(a);
}
