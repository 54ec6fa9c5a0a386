import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import { CairnError, ErrorCode } from '@cairn/errors';

/** A child process of start-local, with its output appended to a log file. */
export interface LocalProcess {
  name: string;
  child: ChildProcess;
  info: Record<string, unknown>;
}

export function binPath(): string {
  return fileURLToPath(new URL('../bin.js', import.meta.url));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export function findNatsServer(): string {
  const candidates = [process.env['NATS_SERVER'], ...(process.env['PATH'] ?? '').split(':').map((d) => `${d}/nats-server`), '/usr/sbin/nats-server', '/usr/bin/nats-server'];
  const found = candidates.find((p) => p && existsSync(p));
  if (!found) {
    throw new CairnError(ErrorCode.FailedPrecondition, 'nats-server not found: install it (apt-get install -y nats-server) or pass --nats <url>');
  }
  return found;
}

/** Starts nats-server with JetStream, its store in `storeDir`, and waits until it answers. */
export async function startLocalNats(storeDir: string, logFile: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(findNatsServer(), ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const log = createWriteStream(logFile, { flags: 'a' });
  // A log file that cannot be written must not take the supervisor (and its children) down.
  log.on('error', () => undefined);
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const url = `nats://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new CairnError(ErrorCode.Unavailable, `nats-server exited with ${child.exitCode}; see ${logFile}`);
    try {
      const nc = await connect({ servers: url, timeout: 1000 });
      await (await nc.jetstreamManager()).getAccountInfo();
      await nc.close();
      return { url, child };
    } catch (err) {
      if (Date.now() > deadline) throw new CairnError(ErrorCode.Unavailable, `nats-server did not start: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Spawns `cairn <args>` and waits for its ready line; output goes to `logFile`. */
export async function spawnCairn(name: string, args: string[], logFile: string, timeoutMs = 60_000): Promise<LocalProcess> {
  // Own process group: Ctrl-C reaches only start-local, which then stops children in order.
  const child = spawn(process.execPath, [binPath(), ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const log = createWriteStream(logFile, { flags: 'a' });
  log.on('error', () => undefined);
  child.stderr?.pipe(log);
  const lines = createInterface({ input: child.stdout! });
  return new Promise<LocalProcess>((resolve, reject) => {
    const timer = setTimeout(() => reject(new CairnError(ErrorCode.Timeout, `${name} did not become ready in ${timeoutMs} ms; see ${logFile}`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new CairnError(ErrorCode.Unavailable, `${name} exited with code ${code} before it was ready; see ${logFile}`));
    });
    lines.on('line', (line) => {
      log.write(line + '\n');
      try {
        const info = JSON.parse(line) as Record<string, unknown>;
        if (info['event'] === 'ready') {
          clearTimeout(timer);
          resolve({ name, child, info });
        }
      } catch {
        // Not JSON: plain output, logged above.
      }
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopProcess(child: ChildProcess, graceMs = 8000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
