import { closeSync, mkdirSync, openSync, statSync, utimesSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Ports handed out recently in this process: the OS may offer a port again as soon as the
// probe socket closes, and two callers racing to bind it would collide.
const handedOut = new Set<number>();

// The same across processes: vitest runs test files in parallel workers, and each worker's
// probe can be offered the port another worker probed a moment before. A port is claimed by
// creating a marker file exclusively; a marker older than RESERVATION_MS is stale (its test
// has long bound the port or gone) and may be claimed again.
const RESERVATIONS = join(tmpdir(), 'cairn-test-ports');
const RESERVATION_MS = 10 * 60_000;

function reserveAcrossProcesses(port: number): boolean {
  mkdirSync(RESERVATIONS, { recursive: true });
  const marker = join(RESERVATIONS, String(port));
  try {
    closeSync(openSync(marker, 'wx'));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  try {
    if (Date.now() - statSync(marker).mtimeMs < RESERVATION_MS) return false;
    const now = new Date();
    utimesSync(marker, now, now);
    return true;
  } catch {
    return false;
  }
}

function probePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. Prefer letting the server pick its own
 * port (port 0 / `port: -1`) where it can report it back; use this when a port must be known
 * before the process starts (cluster routes, CLI flags).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await probePort();
    if (port !== 0 && !handedOut.has(port) && reserveAcrossProcesses(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('could not find a free TCP port on 127.0.0.1');
}
