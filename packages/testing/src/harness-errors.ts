/** Raised by `waitFor` when the condition did not hold in time; `cause` is the last error seen. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  readonly what: string;
  readonly timeoutMs: number;

  constructor(what: string, timeoutMs: number, cause?: unknown) {
    const detail = cause instanceof Error ? ` (last error: ${cause.message})` : '';
    super(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`, cause === undefined ? undefined : { cause });
    this.what = what;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A supervised process exited, or never became ready. The message carries the tail of the
 * process's output so a failing test shows why without digging through log files.
 */
export class ProcessStartError extends Error {
  override readonly name = 'ProcessStartError';
  readonly processName: string;
  readonly outputTail: string;

  constructor(processName: string, reason: string, outputTail: string, cause?: unknown) {
    super(
      `${processName}: ${reason}\n--- output tail ---\n${outputTail.slice(-8_000)}`,
      cause === undefined ? undefined : { cause },
    );
    this.processName = processName;
    this.outputTail = outputTail;
  }
}
