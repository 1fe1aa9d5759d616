import { assertBackendName, assertBackendPrefix } from './assert-backend-name.js';
import { checkRange } from './check-range.js';
import { BackendNotFoundError, type Backend, type ByteRange, type FileInfo, type SaveOptions } from './types.js';

/**
 * An in-memory Backend: the fake that tests and `cairn demo` run on. Bytes are copied
 * on the way in and out so that a caller reusing its buffer can never change what is
 * "stored" — the same guarantee a real disk gives.
 */
export class MemBackend implements Backend {
  readonly location: string;
  private readonly files = new Map<string, Buffer>();

  constructor(location = 'mem:') {
    this.location = location;
  }

  async save(name: string, data: Uint8Array, _options?: SaveOptions): Promise<void> {
    assertBackendName(name);
    // Overwrite or not, replacing is atomic here; the contract allows either outcome
    // for a non-overwrite save of different bytes.
    this.files.set(name, Buffer.from(data));
  }

  async load(name: string, range?: ByteRange): Promise<Buffer> {
    assertBackendName(name);
    const stored = this.files.get(name);
    if (!stored) throw new BackendNotFoundError(name);
    if (!range) return Buffer.from(stored);
    checkRange(name, range, stored.length);
    return Buffer.from(stored.subarray(range.offset, range.offset + range.length));
  }

  async *list(prefix: string): AsyncIterable<FileInfo> {
    assertBackendPrefix(prefix);
    // Snapshot the entries so saves and removes during iteration don't disturb it.
    const entries = [...this.files].filter(([name]) => name.startsWith(prefix));
    for (const [name, bytes] of entries) yield { name, size: bytes.length };
  }

  async stat(name: string): Promise<FileInfo> {
    assertBackendName(name);
    const stored = this.files.get(name);
    if (!stored) throw new BackendNotFoundError(name);
    return { name, size: stored.length };
  }

  async remove(name: string): Promise<void> {
    assertBackendName(name);
    this.files.delete(name);
  }

  async close(): Promise<void> {}
}
