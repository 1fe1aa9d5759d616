import { createHash } from 'node:crypto';

/** SHA-256 as 64 lowercase hex digits: the name of every content-addressed file. */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
