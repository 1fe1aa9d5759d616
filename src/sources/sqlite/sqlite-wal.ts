/**
 * SQLite WAL file format (https://www.sqlite.org/fileformat2.html#walformat): a 32-byte
 * header, then frames of a 24-byte header and one page. Frames are valid while their
 * salts equal the header's and the running checksum (over the header's first 24 bytes,
 * then each frame's first 8 header bytes and page) matches. A frame whose "db size"
 * field is non-zero ends a transaction (a commit frame).
 */
export const WAL_HEADER = 32;
export const FRAME_HEADER = 24;

export interface WalHeader {
  bigEndian: boolean;
  pageSize: number;
  ckptSeq: number;
  salt1: number;
  salt2: number;
  chk: [number, number];
}

export interface WalFrame {
  /** 1-based frame index within this WAL generation. */
  index: number;
  page: number;
  /** Database size in pages after the commit (commit frames only, else 0). */
  dbPages: number;
  /** 24-byte header + page, as in the file. */
  bytes: Buffer;
  /** Running checksum after this frame. */
  chk: [number, number];
}

export function parseWalHeader(buf: Buffer): WalHeader | null {
  if (buf.length < WAL_HEADER) return null;
  const magic = buf.readUInt32BE(0);
  if (magic !== 0x377f0682 && magic !== 0x377f0683) return null;
  const bigEndian = (magic & 1) === 1;
  const pageSize = buf.readUInt32BE(8) === 1 ? 65536 : buf.readUInt32BE(8);
  const chk = checksum(buf.subarray(0, 24), bigEndian, [0, 0]);
  if (chk[0] !== buf.readUInt32BE(24) || chk[1] !== buf.readUInt32BE(28)) return null;
  return { bigEndian, pageSize, ckptSeq: buf.readUInt32BE(12), salt1: buf.readUInt32BE(16), salt2: buf.readUInt32BE(20), chk };
}

export function checksum(data: Buffer, bigEndian: boolean, init: [number, number]): [number, number] {
  let s1 = init[0];
  let s2 = init[1];
  for (let i = 0; i + 8 <= data.length; i += 8) {
    const x0 = bigEndian ? data.readUInt32BE(i) : data.readUInt32LE(i);
    const x1 = bigEndian ? data.readUInt32BE(i + 4) : data.readUInt32LE(i + 4);
    s1 = (s1 + x0 + s2) >>> 0;
    s2 = (s2 + x1 + s1) >>> 0;
  }
  return [s1, s2];
}

/**
 * Valid frames of `buf` (bytes starting at frame `firstIndex`), continuing the running
 * checksum `chk`, up to the first invalid or incomplete one. Only frames up to the last
 * commit frame are returned: the rest belong to a transaction still being written.
 */
export function parseFrames(buf: Buffer, h: WalHeader, firstIndex: number, chk: [number, number]): WalFrame[] {
  const size = FRAME_HEADER + h.pageSize;
  const out: WalFrame[] = [];
  let lastCommit = -1;
  let c = chk;
  for (let off = 0, i = firstIndex; off + size <= buf.length; off += size, i++) {
    const fh = buf.subarray(off, off + FRAME_HEADER);
    if (fh.readUInt32BE(8) !== h.salt1 || fh.readUInt32BE(12) !== h.salt2) break;
    let n = checksum(fh.subarray(0, 8), h.bigEndian, c);
    n = checksum(buf.subarray(off + FRAME_HEADER, off + size), h.bigEndian, n);
    if (n[0] !== fh.readUInt32BE(16) || n[1] !== fh.readUInt32BE(20)) break;
    c = n;
    const dbPages = fh.readUInt32BE(4);
    out.push({ index: i, page: fh.readUInt32BE(0), dbPages, bytes: Buffer.from(buf.subarray(off, off + size)), chk: c });
    if (dbPages > 0) lastCommit = out.length - 1;
  }
  return out.slice(0, lastCommit + 1);
}

/** Byte offset of frame `index` (1-based) in the WAL file. */
export function frameOffset(index: number, pageSize: number): number {
  return WAL_HEADER + (index - 1) * (FRAME_HEADER + pageSize);
}

/** Applies raw frames (24-byte header + page each) to a database image. */
export function applyFrames(db: Buffer, frames: Buffer, pageSize: number): Buffer {
  const size = FRAME_HEADER + pageSize;
  let out = db;
  for (let off = 0; off + size <= frames.length; off += size) {
    const page = frames.readUInt32BE(off);
    const at = (page - 1) * pageSize;
    if (at + pageSize > out.length) {
      const grown = Buffer.alloc(at + pageSize);
      out.copy(grown);
      out = grown;
    }
    frames.copy(out, at, off + FRAME_HEADER, off + size);
  }
  return out;
}

/** The SQLite file header magic. */
export function isSqliteHeader(b: Buffer): boolean {
  return b.length >= 16 && b.subarray(0, 16).toString('latin1') === 'SQLite format 3\u0000';
}
