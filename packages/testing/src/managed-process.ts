import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { registerCleanup } from './cleanup.js';
import { ProcessStartError, WaitTimeoutError } from './harness-errors.js';
import { OutputTail, type OutputLine } from './output-tail.js';

/** How a process ended: exit code or signal, or the spawn error (e.g. ENOENT). */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** Decides when a freshly spawned process is ready; returns what becomes `readyInfo`. */
export type ReadyCheck = (
  proc: ManagedProcess,
  signal: AbortSignal,
) => Promise<Record<string, unknown>>;

/** Matches a log line: a substring of its text, or a predicate over the parsed line. */
export type LogMatch = string | ((line: OutputLine) => boolean);

export interface ManagedProcessOptions {
  /** Names the process in errors and log notes ("coordinator-0"). */
  name: string;
  command: string;
  args: readonly string[];
  /** Merged over `process.env`; an `undefined` value removes the variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Full output of every incarnation is appended here (the in-memory tail is bounded). */
  logFile?: string;
  /**
   * The command line of every later incarnation, from the first one's `readyInfo`: a process
   * started on port 0 (so the kernel, not a racing probe, picks a free port) restarts on the
   * port it got, where its clients still dial it.
   */
  pinArgs?: (readyInfo: Record<string, unknown>, args: readonly string[]) => readonly string[];
  /** How long `start`/`restart` wait for readiness; default 30 s. */
  readyTimeoutMs?: number;
  /** How long `stop` waits after SIGTERM before SIGKILL; default 5 s. */
  stopTimeoutMs?: number;
  /**
   * Readiness check. Default: a stdout JSON line `{"event":"ready", ...}`, which becomes
   * `readyInfo`.
   */
  ready?: ReadyCheck;
}

/** Waits for the `{"event":"ready"}` stdout line of the current incarnation. */
export const readyLine: ReadyCheck = (proc) => proc.readyLine();

/**
 * Resolves with `promise`'s value, or with `onTimeout` after `ms`. The timer is cancelled when
 * the promise wins, so a finished wait keeps no timer alive.
 */
async function withTimeout<T, U>(promise: Promise<T>, ms: number, onTimeout: U): Promise<T | U> {
  const controller = new AbortController();
  try {
    return await Promise.race([
      promise,
      sleep(ms, onTimeout, { signal: controller.signal }),
    ]);
  } finally {
    controller.abort();
  }
}

function describe(match: LogMatch): string {
  return typeof match === 'string' ? JSON.stringify(match) : 'predicate';
}

function matches(match: LogMatch, line: OutputLine): boolean {
  return typeof match === 'string' ? line.text.includes(match) : match(line);
}

/**
 * A child process under test: spawned with piped output, captured to a bounded tail and a log
 * file, killed at test-process exit, and restartable with the same command line.
 */
export class ManagedProcess {
  /** What the ready check returned for the current incarnation (the parsed ready line). */
  readyInfo: Record<string, unknown> = {};

  private child: ChildProcess | undefined;
  private exit: ProcessExit | undefined;
  private exited: Promise<ProcessExit> = Promise.resolve({ code: null, signal: null });
  private pendingReadyLine: Promise<Record<string, unknown>> = new Promise(() => {});
  private readonly output: OutputTail;
  private args: readonly string[];
  private pinned = false;

  private constructor(readonly options: ManagedProcessOptions) {
    this.output = new OutputTail(options.logFile);
    this.args = options.args;
  }

  /** Spawns the process and waits until it is ready (see `ManagedProcessOptions.ready`). */
  static async start(options: ManagedProcessOptions): Promise<ManagedProcess> {
    const proc = new ManagedProcess(options);
    await proc.launch();
    return proc;
  }

  get name(): string {
    return this.options.name;
  }

  /** OS pid of the current incarnation. */
  get pid(): number {
    return this.child?.pid ?? -1;
  }

  /** True from spawn until the process has exited. */
  get running(): boolean {
    return this.child !== undefined && this.exit === undefined;
  }

  /** How the last incarnation ended, or undefined while it runs. */
  get exitStatus(): ProcessExit | undefined {
    return this.exit;
  }

  /** The captured output tail (stdout and stderr interleaved, ~200 KB at most). */
  logs(): string {
    return this.output.text();
  }

  /** Resolves when the current incarnation has exited. */
  waitForExit(): Promise<ProcessExit> {
    return this.exited;
  }

  /** The ready line of the current incarnation; used by the default ready check. */
  readyLine(): Promise<Record<string, unknown>> {
    return this.pendingReadyLine;
  }

  /** Sends `signal` (SIGKILL by default) and waits until the process has exited. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.child?.kill(signal);
    await this.exited;
  }

  /** SIGTERM, then SIGKILL if the process is still alive after `timeoutMs`. */
  async stop(timeoutMs: number = this.options.stopTimeoutMs ?? 5_000): Promise<void> {
    if (!this.running) return;
    this.child?.kill('SIGTERM');
    const graceful = await withTimeout(this.exited.then(() => true), timeoutMs, false);
    if (!graceful) await this.kill('SIGKILL');
  }

  /** Stops the process if it runs, starts it again with the same command line, waits for ready. */
  async restart(): Promise<void> {
    await this.stop();
    this.output.note(`restarting ${this.name}`);
    await this.launch();
  }

  /**
   * Waits for an output line matching `match` and returns it. Lines already in the tail count
   * unless `fromNow` is set (their `stream` then reads 'stdout': the tail interleaves both).
   */
  async waitForLog(
    match: LogMatch,
    timeoutMs = 10_000,
    options: { fromNow?: boolean } = {},
  ): Promise<OutputLine> {
    let unsubscribe = (): void => {};
    const found = new Promise<OutputLine>((resolve) => {
      unsubscribe = this.output.onLine((line) => {
        if (matches(match, line)) resolve(line);
      });
    });
    try {
      if (options.fromNow !== true) {
        const seen = this.scanTail(match);
        if (seen !== undefined) return seen;
      }
      const timedOut = Symbol('timeout');
      const result = await withTimeout(found, timeoutMs, timedOut);
      if (result === timedOut) {
        throw new WaitTimeoutError(
          `${this.name} to log ${describe(match)}`,
          timeoutMs,
          new Error(`output tail:\n${this.logs().slice(-4_000)}`),
        );
      }
      return result;
    } finally {
      unsubscribe();
    }
  }

  private scanTail(match: LogMatch): OutputLine | undefined {
    const probe = new OutputTail(undefined);
    let hit: OutputLine | undefined;
    probe.onLine((line) => {
      if (hit === undefined && matches(match, line)) hit = line;
    });
    probe.write('stdout', this.output.text());
    probe.end();
    return hit;
  }

  private async launch(): Promise<void> {
    const { name, command } = this.options;
    const args = this.args;
    const env: Record<string, string | undefined> = { ...process.env, ...this.options.env };
    for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];

    // Listen before spawning so a fast process cannot print its ready line unseen.
    let stopListening = (): void => {};
    this.pendingReadyLine = new Promise((resolve) => {
      stopListening = this.output.onLine((line) => {
        if (line.stream === 'stdout' && line.json?.['event'] === 'ready') {
          stopListening();
          resolve(line.json);
        }
      });
    });
    this.pendingReadyLine.catch(() => {});

    this.output.note(`${new Date().toISOString()} spawn ${name}: ${command} ${args.join(' ')}`);
    const child = spawn(command, [...args], {
      cwd: this.options.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exit = undefined;
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => this.output.write('stdout', chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => this.output.write('stderr', chunk));

    const unregister = registerCleanup({
      stop: () => this.stop(),
      killNow: () => {
        if (this.running && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      },
    });
    this.exited = new Promise<ProcessExit>((resolve) => {
      const settle = (exit: ProcessExit): void => {
        if (this.child !== child || this.exit !== undefined) return;
        stopListening();
        this.output.end();
        this.exit = exit;
        unregister();
        resolve(exit);
      };
      // 'close' rather than 'exit', so the output tail is complete when we report it.
      child.once('close', (code, signal) => settle({ code, signal }));
      child.once('error', (error) => {
        if (child.pid === undefined) settle({ code: null, signal: null, error });
      });
    });

    await this.awaitReady();
  }

  private async awaitReady(): Promise<void> {
    const timeoutMs = this.options.readyTimeoutMs ?? 30_000;
    const check = this.options.ready ?? readyLine;
    const controller = new AbortController();
    type Outcome =
      | { kind: 'ready'; info: Record<string, unknown> }
      | { kind: 'failed'; error: unknown }
      | { kind: 'exited'; exit: ProcessExit }
      | { kind: 'timeout' };
    const outcome = await withTimeout<Outcome, Outcome>(
      Promise.race<Outcome>([
        check(this, controller.signal).then(
          (info) => ({ kind: 'ready', info }),
          (error: unknown) => ({ kind: 'failed', error }),
        ),
        this.exited.then((exit) => ({ kind: 'exited', exit })),
      ]),
      timeoutMs,
      { kind: 'timeout' },
    );
    // Ends a ready check still polling (e.g. after the process exited).
    controller.abort();
    if (outcome.kind === 'ready') {
      this.readyInfo = outcome.info;
      if (!this.pinned && this.options.pinArgs) {
        this.args = this.options.pinArgs(outcome.info, this.args);
        this.pinned = true;
      }
      return;
    }
    await this.kill('SIGKILL');
    const reason =
      outcome.kind === 'exited'
        ? outcome.exit.error !== undefined
          ? `failed to spawn: ${outcome.exit.error.message}`
          : `exited before ready (code ${outcome.exit.code}, signal ${outcome.exit.signal})`
        : outcome.kind === 'timeout'
          ? `not ready after ${timeoutMs} ms`
          : `ready check failed: ${outcome.error instanceof Error ? outcome.error.message : String(outcome.error)}`;
    const where = this.options.logFile !== undefined ? ` (full log: ${this.options.logFile})` : '';
    throw new ProcessStartError(
      this.name,
      reason + where,
      this.logs(),
      outcome.kind === 'failed' ? outcome.error : outcome.kind === 'exited' ? outcome.exit.error : undefined,
    );
  }
}
