import { spawn } from 'node:child_process';
import { nodeOptionsWithHeapLimit } from '@cairn/metrics';
import { cliPath } from '@cairn/testing';

/** How one run of the cairn CLI ended, with everything it printed. */
export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
}

/**
 * Runs the built CLI (`node packages/cli/dist/bin.js ...args`) to completion. A run that
 * outlives `timeoutMs` is SIGKILLed, and the result says so (signal 'SIGKILL'), so a hung
 * command fails its test instead of the whole suite.
 */
export function runCli(args: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CliRun> {
  const started = performance.now();
  const env: Record<string, string | undefined> = { ...process.env, ...opts.env };
  // `cairn start node|coordinator` runs with its role's heap limit, as the harness and
  // start-local start them: without one it warns on stderr, a line these runs do not expect.
  const role = args[0] === 'start' && (args[1] === 'node' || args[1] === 'coordinator') ? args[1] : undefined;
  if (role) env['NODE_OPTIONS'] = nodeOptionsWithHeapLimit(role, env['NODE_OPTIONS']);
  const child = spawn(process.execPath, [cliPath(), ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** `cairn sql --host <host> [extra] -e <statement>`. */
export function sql(host: string, statement: string, extra: string[] = []): Promise<CliRun> {
  return runCli(['sql', '--host', host, ...extra, '-e', statement]);
}

/** Non-empty lines of a stream's output. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}
