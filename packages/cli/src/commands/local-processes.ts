import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import { CairnError, ErrorCode } from '@cairn/errors';
import { nodeCommandLineFlags, nodeOptionsWithHeapLimit, type ProcessRole } from '@cairn/metrics';

/** A child process of start-local, with its output appended to a log file. */
export interface LocalProcess {
  name: string;
  child: ChildProcess;
  info: Record<string, unknown>;
}

export function binPath(): string {
  return fileURLToPath(new URL('../bin.js', import.meta.url));
}

/** The guard that runs nats-server so it dies with start-local (see child-guard.ts). */
function guardPath(): string {
  return fileURLToPath(new URL('./child-guard.js', import.meta.url));
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

function aborted(signal: AbortSignal | undefined): CairnError {
  return new CairnError(ErrorCode.Canceled, signal?.reason instanceof Error ? signal.reason.message : 'start-up interrupted');
}

/** Resolves after `ms`, or rejects at once when `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(aborted(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Two glibc malloc settings for the processes start-local spawns (an operator's own win):
 * - MALLOC_ARENA_MAX=2: glibc gives each thread that allocates its own arena (up to 8 per
 *   core) and keeps what is freed in each; a node's LMDB, zstd and libuv threads need few.
 * - MALLOC_MMAP_THRESHOLD_=131072: fixed, so buffers of 128 KiB and more (NATS replies of up to
 *   512 KiB, export batches) are always mapped and unmapped when freed. Left dynamic, glibc
 *   raises the threshold after the first such free, and later ones land in the main heap,
 *   which cannot shrink past live chunks: node 1, which serves the reads, kept 241 MiB there
 *   after a 512 MB load while its live JS heap was 54 MiB.
 * `pnpm bench backup --mb 512`: node 1's RssAnon peak during the load 343 → 254 MiB,
 * nodes 2 and 3 ~170 → ~125 MiB (machine load 2.7-4.8, one run each).
 */
export function boundedMallocEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    ...env,
    MALLOC_ARENA_MAX: env['MALLOC_ARENA_MAX'] ?? '2',
    MALLOC_MMAP_THRESHOLD_: env['MALLOC_MMAP_THRESHOLD_'] ?? '131072',
  };
}

/**
 * The environment of `cairn <args>` under start-local: bounded malloc, and for `start
 * node|coordinator` its role's V8 heap limit in NODE_OPTIONS (HEAP_LIMIT_MIB; one set in
 * `env` wins).
 */
export function cairnProcessEnv(args: readonly string[], env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = boundedMallocEnv(env);
  const role = startedRole(args);
  if (role !== undefined) out['NODE_OPTIONS'] = nodeOptionsWithHeapLimit(role, out['NODE_OPTIONS']);
  return out;
}

/**
 * node's own arguments for `cairn <args>` under start-local: the role's V8 flags that NODE_OPTIONS
 * cannot carry (nodeCommandLineFlags), then the CLI script and its arguments.
 */
export function cairnProcessArgv(args: readonly string[]): string[] {
  const role = startedRole(args);
  return [...(role === undefined ? [] : nodeCommandLineFlags(role)), binPath(), ...args];
}

function startedRole(args: readonly string[]): ProcessRole | undefined {
  const role = args[0] === 'start' ? args[1] : undefined;
  return role === 'node' || role === 'coordinator' ? role : undefined;
}

/**
 * Spawns a child that cannot outlive start-local: in its own session (Ctrl-C reaches only
 * start-local, which stops children in order), with a stdin pipe whose write end start-local
 * keeps open and never writes; when start-local ends, however it ends, the kernel closes the
 * pipe and the child (a cairn process with --exit-with-parent, or the nats-server guard) stops.
 * `onSpawn` hears of the child at once, before it is ready, so an interrupted start-up can
 * stop it too.
 */
function spawnGuarded(args: string[], logFile: string, onSpawn: (child: ChildProcess) => void, env: NodeJS.ProcessEnv = boundedMallocEnv(process.env)): ChildProcess {
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env });
  // Writing is never intended; a closed pipe (the child exited) must not throw here.
  child.stdin?.on('error', () => undefined);
  onSpawn(child);
  const log = createWriteStream(logFile, { flags: 'a' });
  // A log file that cannot be written must not take the supervisor (and its children) down.
  log.on('error', () => undefined);
  child.stderr?.pipe(log);
  // stdout is read line by line by the caller (ready lines), which logs it.
  child.stdout?.on('error', () => undefined);
  return child;
}

export interface LocalNatsOptions {
  /** 1 (a single JetStream server) or 3 (a JetStream cluster of three). */
  servers: number;
  /** `<dataDir>/nats` (one server) or `<dataDir>/nats-<i>` hold the JetStream stores. */
  dataDir: string;
  logDir: string;
  onSpawn: (child: ChildProcess) => void;
  signal?: AbortSignal;
  /**
   * Secure start-local: the servers require the password of user `cairn` (account CAIRN,
   * JetStream on); no connection without it. JetStream state lives per account, so a data
   * dir first run insecure starts secure with empty NATS state.
   */
  cairnPassword?: string;
}

export interface LocalNats {
  /** Client URLs, comma-joined (what `--nats` takes). */
  url: string;
  servers: Array<{ name: string; url: string; storeDir: string; child: ChildProcess }>;
}

/**
 * Starts nats-server(s) with JetStream, each from a config file written under
 * `<dataDir>/nats-config/` (server_name, client, route and monitoring ports on 127.0.0.1,
 * store dir under the data dir), and waits until every one reports `GET /healthz` 200 and
 * answers a JetStream request. Server names are stable, so a re-run over the same stores
 * forms the same JetStream cluster.
 *
 * The health check is `js-server-only`: this server's JetStream is up and in contact with a
 * meta leader, so JetStream API requests get answers (on a fresh cluster, requests sent before
 * that time out). The full check also waits until every stream is current, which after a
 * restart of all three servers took 30-50 s here with no client around; cairn's processes
 * retry while stream leaders are elected instead.
 */
export async function startLocalNats(o: LocalNatsOptions): Promise<LocalNats> {
  if (o.servers !== 1 && o.servers !== 3) {
    throw new CairnError(ErrorCode.InvalidArgument, `invalid --nats-servers "${o.servers}": expected 1 or 3`);
  }
  const binary = findNatsServer();
  const configDir = join(o.dataDir, 'nats-config');
  await mkdir(configDir, { recursive: true });
  // Free ports are picked before the servers bind them: another program (on a CI machine,
  // another test's cluster) may take one in between. A server that exits because its port is
  // taken is started again, all servers with new ports, since the routes name every port.
  for (let attempt = 1; ; attempt++) {
    const servers: LocalNats['servers'] = [];
    try {
      return await startLocalNatsOnce(o, binary, configDir, servers);
    } catch (err) {
      const taken = await Promise.all(servers.map(async (s) => s.child.exitCode !== null && (await portWasTaken(join(o.logDir, `${s.name}.log`)))));
      if (!taken.some(Boolean) || attempt >= 3 || o.signal?.aborted) throw err;
      await Promise.all(servers.map((s) => stopProcess(s.child, 2000)));
    }
  }
}

/** Whether a nats-server's log says it could not bind its port (it exits with 1 then). */
async function portWasTaken(logFile: string): Promise<boolean> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return /address already in use/i.test(text.slice(-4000));
}

async function startLocalNatsOnce(o: LocalNatsOptions, binary: string, configDir: string, servers: LocalNats['servers']): Promise<LocalNats> {
  const layouts = [];
  for (let i = 1; i <= o.servers; i++) {
    layouts.push({
      name: o.servers === 1 ? 'cairn-local' : `cairn-local-${i}`,
      port: await freePort(),
      httpPort: await freePort(),
      routePort: await freePort(),
      storeDir: o.servers === 1 ? join(o.dataDir, 'nats') : join(o.dataDir, `nats-${i}`),
    });
  }
  for (const l of layouts) {
    await mkdir(l.storeDir, { recursive: true });
    const lines = [
      `server_name: ${JSON.stringify(l.name)}`,
      `listen: "127.0.0.1:${l.port}"`,
      `http: "127.0.0.1:${l.httpPort}"`,
      `jetstream { store_dir: ${JSON.stringify(l.storeDir)} }`,
    ];
    if (o.cairnPassword !== undefined) {
      // The deploy kit's account (deploy/nats/cairn-accounts.conf) without its permission
      // lists: on one machine the point is that nothing connects without the password.
      lines.push(`accounts { CAIRN { jetstream: enabled, users: [ { user: "cairn", password: ${JSON.stringify(o.cairnPassword)} } ] } }`);
    }
    if (o.servers > 1) {
      const routes = layouts.map((r) => `"nats-route://127.0.0.1:${r.routePort}"`).join(', ');
      lines.push(`cluster { name: "cairn-local", listen: "127.0.0.1:${l.routePort}", routes: [${routes}] }`);
    }
    const configFile = join(configDir, `${l.name}.conf`);
    await writeFile(configFile, lines.join('\n') + '\n');
    const logFile = join(o.logDir, `${l.name}.log`);
    const child = spawnGuarded([guardPath(), binary, '-c', configFile], logFile, o.onSpawn);
    const log = createWriteStream(logFile, { flags: 'a' });
    log.on('error', () => undefined);
    child.stdout?.pipe(log);
    servers.push({ name: l.name, url: `nats://127.0.0.1:${l.port}`, storeDir: l.storeDir, child });
  }
  // All servers run before any is waited for: a JetStream cluster is healthy only once a
  // meta leader has a quorum.
  const deadline = Date.now() + 30_000;
  for (const [i, l] of layouts.entries()) {
    const s = servers[i]!;
    await waitUntil(
      async () => {
        if (s.child.exitCode !== null) {
          throw new CairnError(ErrorCode.Unavailable, `nats-server ${s.name} exited with ${s.child.exitCode}; see ${join(o.logDir, `${s.name}.log`)}`);
        }
        return (await httpStatus(`http://127.0.0.1:${l.httpPort}/healthz?js-server-only=true`)) === 200;
      },
      deadline,
      `nats-server ${s.name} did not report healthy (GET /healthz) in 30 s; see ${join(o.logDir, `${s.name}.log`)}`,
      o.signal,
    );
  }
  const url = servers.map((s) => s.url).join(',');
  await waitUntil(
    async () => {
      const auth = o.cairnPassword !== undefined ? { user: 'cairn', pass: o.cairnPassword } : {};
      const nc = await connect({ servers: servers.map((s) => s.url), timeout: 1000, ...auth }).catch(() => undefined);
      if (!nc) return false;
      try {
        await (await nc.jetstreamManager({ timeout: 2000 })).getAccountInfo();
        return true;
      } catch {
        return false;
      } finally {
        await nc.close().catch(() => undefined);
      }
    },
    deadline,
    `JetStream did not answer at ${url} in 30 s`,
    o.signal,
  );
  return { url, servers };
}

/** GET `url`'s status code (0 when nothing answers). */
function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

async function waitUntil(ok: () => Promise<boolean>, deadline: number, failure: string, signal?: AbortSignal): Promise<void> {
  for (;;) {
    if (signal?.aborted) throw aborted(signal);
    if (await ok()) return;
    if (Date.now() > deadline) throw new CairnError(ErrorCode.Unavailable, failure);
    await pause(100, signal);
  }
}

/**
 * Spawns `cairn <args> --exit-with-parent` and waits for its ready line; output goes to
 * `logFile`. `onSpawn` hears of the child before it is ready; `signal` abandons the wait.
 */
export async function spawnCairn(
  name: string,
  args: string[],
  logFile: string,
  o: { onSpawn: (child: ChildProcess) => void; signal?: AbortSignal; timeoutMs?: number },
): Promise<LocalProcess> {
  if (o.signal?.aborted) throw aborted(o.signal);
  const timeoutMs = o.timeoutMs ?? 60_000;
  const child = spawnGuarded([...cairnProcessArgv(args), '--exit-with-parent'], logFile, o.onSpawn, cairnProcessEnv(args, process.env));
  const log = createWriteStream(logFile, { flags: 'a' });
  log.on('error', () => undefined);
  const lines = createInterface({ input: child.stdout! });
  return new Promise<LocalProcess>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
    };
    const timer = setTimeout(() => {
      done();
      reject(new CairnError(ErrorCode.Timeout, `${name} did not become ready in ${timeoutMs} ms; see ${logFile}`));
    }, timeoutMs);
    const onAbort = (): void => {
      done();
      reject(aborted(o.signal));
    };
    o.signal?.addEventListener('abort', onAbort, { once: true });
    child.once('exit', (code) => {
      done();
      reject(new CairnError(ErrorCode.Unavailable, `${name} exited with code ${code} before it was ready; see ${logFile}`));
    });
    lines.on('line', (line) => {
      log.write(line + '\n');
      try {
        const info = JSON.parse(line) as Record<string, unknown>;
        if (info['event'] === 'ready') {
          done();
          resolve({ name, child, info });
        }
      } catch {
        // Not JSON: plain output, logged above.
      }
    });
  });
}

/**
 * SIGTERM, then SIGKILL to its whole process group after `graceMs` (a guard's nats-server with
 * it); resolves when the process is gone.
 */
export async function stopProcess(child: ChildProcess, graceMs = 8000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
