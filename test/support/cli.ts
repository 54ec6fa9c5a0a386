import { spawn } from 'node:child_process';
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
  const child = spawn(process.execPath, [cliPath(), ...args], {
    env: { ...process.env, ...opts.env },
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
