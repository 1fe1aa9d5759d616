const SLASH = 0x2f;

/** `dir` + "/" + `name`, as raw bytes (names need not be UTF-8); no second slash after a root "/". */
export function joinPath(dir: Buffer, name: Buffer): Buffer {
  if (dir.length > 0 && dir[dir.length - 1] === SLASH) return Buffer.concat([dir, name]);
  return Buffer.concat([dir, Buffer.of(SLASH), name]);
}
