import { appendFileSync } from 'node:fs';

/** Which pipe a line came from. */
export type OutputStream = 'stdout' | 'stderr';

/** One complete output line; `json` is set when the line parsed as a JSON object. */
export interface OutputLine {
  stream: OutputStream;
  text: string;
  json: Record<string, unknown> | undefined;
}

const DEFAULT_LIMIT = 200 * 1024;

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Collects a child's stdout and stderr: splits them into lines for listeners, keeps a bounded
 * in-memory tail for error messages, and (optionally) appends everything to a log file that
 * survives the process, so a failed test can be read afterwards.
 */
export class OutputTail {
  private tail = '';
  private readonly partial: Record<OutputStream, string> = { stdout: '', stderr: '' };
  private readonly listeners = new Set<(line: OutputLine) => void>();

  constructor(
    private readonly logFile: string | undefined,
    private readonly limit: number = DEFAULT_LIMIT,
  ) {}

  /** Feeds a chunk read from one of the pipes. */
  write(stream: OutputStream, chunk: string): void {
    this.record(chunk);
    const text = this.partial[stream] + chunk;
    const lines = text.split('\n');
    this.partial[stream] = lines.pop() ?? '';
    for (const raw of lines) this.emit(stream, raw);
  }

  /** Flushes unterminated lines (the process exited mid-line). */
  end(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.partial[stream];
      this.partial[stream] = '';
      if (rest !== '') this.emit(stream, rest);
    }
  }

  /** Adds a harness note ("--- restarted ---") to the tail and the log file. */
  note(text: string): void {
    this.record(`--- ${text} ---\n`);
  }

  /** The captured tail, at most ~`limit` bytes, starting at a line boundary. */
  text(): string {
    return this.tail;
  }

  onLine(listener: (line: OutputLine) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private record(chunk: string): void {
    if (this.logFile !== undefined) appendFileSync(this.logFile, chunk);
    this.tail += chunk;
    // Trim in steps rather than on every chunk, so appends stay cheap.
    if (this.tail.length > this.limit * 1.25) {
      const cut = this.tail.length - this.limit;
      const nl = this.tail.indexOf('\n', cut);
      this.tail = this.tail.slice(nl < 0 ? cut : nl + 1);
    }
  }

  private emit(stream: OutputStream, raw: string): void {
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const line: OutputLine = { stream, text, json: parseJsonObject(text) };
    for (const listener of [...this.listeners]) listener(line);
  }
}
