import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Something the harness started that must not outlive the test run. `stop` is the polite
 * asynchronous path; `killNow` must be synchronous because it also runs from
 * `process.on('exit')`, where no further event-loop turns happen.
 */
export interface Cleanup {
  stop(): Promise<void>;
  killNow(): void;
}

const live = new Set<Cleanup>();
const tempDirs = new Set<string>();
let handlersInstalled = false;

/** Set CAIRN_KEEP_TEMP=1 to keep temp dirs (stores, process logs) after the run for debugging. */
function keepTemp(): boolean {
  const v = process.env['CAIRN_KEEP_TEMP'];
  return v !== undefined && v !== '' && v !== '0';
}

function cleanupNow(): void {
  for (const c of live) {
    try {
      c.killNow();
    } catch {
      // Already gone; nothing more we can do while exiting.
    }
  }
  live.clear();
  if (!keepTemp()) {
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    tempDirs.clear();
  }
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanupNow();
      process.removeListener(signal, onSignal);
      // Only re-raise when nobody else handles the signal, so the default action (exit) runs.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** Registers a resource for cleanup at exit; returns the function that unregisters it. */
export function registerCleanup(c: Cleanup): () => void {
  installHandlers();
  live.add(c);
  return () => {
    live.delete(c);
  };
}

/** Creates a fresh directory under the OS temp dir, removed at process exit. */
export async function tempDir(prefix: string): Promise<string> {
  installHandlers();
  const dir = await mkdtemp(join(tmpdir(), prefix.endsWith('-') ? prefix : `${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

/**
 * Stops everything the harness started in this process (servers, clusters, processes), for
 * use in a global teardown. Temp dirs are removed at exit.
 */
export async function stopAll(): Promise<void> {
  const all = [...live];
  await Promise.allSettled(all.map((c) => c.stop()));
}
