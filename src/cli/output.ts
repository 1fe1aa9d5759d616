import type { CliWritable } from './cli-deps.js';

export interface OutputMode {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
}

/**
 * The only way commands write. stdout carries results (human text, or exactly one JSON
 * document under --json, or raw bytes for `cat file`); stderr carries warnings,
 * progress, verbose lines and errors.
 */
export class Output {
  private jsonWritten = false;

  constructor(
    private readonly stdout: CliWritable,
    private readonly stderr: CliWritable,
    readonly mode: OutputMode,
  ) {}

  /** Data the user asked for (tables, listings): printed unless --json. */
  print(line = ''): void {
    if (!this.mode.json) this.stdout.write(`${line}\n`);
  }

  printLines(lines: readonly string[]): void {
    for (const l of lines) this.print(l);
  }

  /** Summaries and explanations: printed unless --quiet or --json. */
  info(line = ''): void {
    if (!this.mode.json && !this.mode.quiet) this.stdout.write(`${line}\n`);
  }

  /** The single JSON document of a --json run. A second call is a bug. */
  json(value: unknown): void {
    if (this.jsonWritten) throw new Error('internal: a command tried to print a second JSON document');
    this.jsonWritten = true;
    this.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** Either the JSON document (under --json) or the human rendering of the same result. */
  result(value: unknown, human: () => void): void {
    if (this.mode.json) this.json(value);
    else human();
  }

  /** Raw bytes (cat file). */
  raw(bytes: Uint8Array | string): void {
    this.stdout.write(bytes);
  }

  /** Always shown, on stderr. */
  warn(message: string): void {
    this.stderr.write(`cairn: warning: ${message}\n`);
  }

  /** Side remarks on stderr, hidden by --quiet. */
  note(message: string): void {
    if (!this.mode.quiet) this.stderr.write(`${message}\n`);
  }

  /** Per-file detail on stderr under --verbose. */
  verbose(message: string): void {
    if (this.mode.verbose) this.stderr.write(`${message}\n`);
  }
}
