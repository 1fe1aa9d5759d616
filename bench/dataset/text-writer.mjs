// Buffered writer for ASCII text generators: collects strings, writes ~1 MiB at a time.
// Generators only emit ASCII, so string length equals byte length.
import { closeSync, openSync, writeSync } from 'node:fs';

export class TextWriter {
  constructor(path, { append = false } = {}) {
    this.fd = openSync(path, append ? 'a' : 'w');
    this.parts = [];
    this.pending = 0;
    this.bytes = 0; // written by this writer (not counting what the file held before)
  }

  write(s) {
    this.parts.push(s);
    this.pending += s.length;
    this.bytes += s.length;
    if (this.pending >= 1 << 20) this.flush();
  }

  flush() {
    if (this.pending === 0) return;
    writeSync(this.fd, this.parts.join(''), null, 'latin1');
    this.parts = [];
    this.pending = 0;
  }

  close() {
    this.flush();
    closeSync(this.fd);
  }
}
