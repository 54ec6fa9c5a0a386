import { formatError } from '../output/index.js';

/** Extra time beyond the drain timeout for a stop to close connections and stores. */
const STOP_MARGIN_MS = 15_000;
/**
 * How long a stop may take once the parent is gone: its other children (NATS among them) are
 * going away too, so waiting long for a clean goodbye would only leave processes behind.
 */
const PARENT_GONE_STOP_MS = 5_000;

export interface LifecycleOptions {
  /**
   * Stop when stdin reaches EOF: the supervisor (start-local) holds the other end of the pipe,
   * and the kernel closes it however the supervisor ends, SIGKILL included.
   */
  exitWithParent: boolean;
  /** How long a graceful stop may take before the process exits anyway. */
  drainTimeoutMs: number;
}

export interface Lifecycle {
  /** From now on a signal stops the process with `stop` (before this, it exits at once). */
  started(stop: () => Promise<void>): void;
}

/**
 * Signals and parent death for `cairn start`: installed before start-up begins, so a SIGINT,
 * SIGTERM or lost parent during start-up ends the process at once (nothing to drain yet),
 * while one after start-up drains and stops it cleanly (exit 0). A second signal exits at once.
 */
export function processLifecycle(o: LifecycleOptions): Lifecycle {
  let stop: (() => Promise<void>) | undefined;
  let stopping = false;
  const onSignal = (why: string, limitMs = o.drainTimeoutMs + STOP_MARGIN_MS): void => {
    if (stopping || stop === undefined) {
      process.stderr.write(`${why}: exiting at once\n`);
      process.exit(1);
    }
    stopping = true;
    // A stop that hangs (an unreachable NATS, a stuck store) must not keep the process alive
    // past what the operator allowed for draining.
    const guard = setTimeout(() => {
      process.stderr.write(`stop took longer than ${limitMs} ms: exiting\n`);
      process.exit(1);
    }, limitMs);
    guard.unref();
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(formatError(err) + '\n');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  if (o.exitWithParent) {
    // Once the parent is gone nobody reads our output: a write must not crash a clean stop.
    process.stdout.on('error', () => undefined);
    process.stderr.on('error', () => undefined);
    process.stdin.on('error', () => undefined);
    let parentGone = false;
    const onParentGone = (): void => {
      if (parentGone) return;
      parentGone = true;
      onSignal('parent exited', PARENT_GONE_STOP_MS);
    };
    process.stdin.once('end', onParentGone);
    process.stdin.once('close', onParentGone);
    process.stdin.resume();
  }
  return {
    started(s) {
      stop = s;
    },
  };
}
