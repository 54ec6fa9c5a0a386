import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type ConnectionOptions, type NatsConnection } from 'nats';
import { tempDir } from './cleanup.js';
import { ProcessStartError } from './harness-errors.js';
import { ManagedProcess } from './managed-process.js';
import { freePort } from './ports.js';
import { waitFor } from './wait-for.js';

/** The nats-server binary: `NATS_SERVER` if set, else `nats-server` on PATH (Debian: /usr/sbin). */
function natsServerBinary(): string {
  return process.env['NATS_SERVER'] ?? 'nats-server';
}

/** PATH with /usr/sbin added: Debian installs nats-server there and it is not always on PATH. */
function pathWithSbin(): string {
  const path = process.env['PATH'] ?? '';
  return path.split(':').includes('/usr/sbin') ? path : `${path}:/usr/sbin`;
}

export interface NatsServerOptions {
  /** Enable JetStream (default true). */
  jetstream?: boolean;
  /** JetStream store dir; default a fresh temp dir. Reuse one to start over existing data. */
  storeDir?: string;
  /** Client port; default chosen by the server (`port: -1`) and kept across restarts. */
  port?: number;
  /**
   * Server configuration appended to the generated one: `accounts { ... }` or
   * `authorization { ... }` blocks, `tls { ... }`, an `include` of a file. A server with
   * accounts or TLS needs `readyAuth` to be checked.
   */
  extraConfig?: string;
  /** How the readiness check connects, when the server requires credentials or TLS. */
  readyAuth?: NatsReadyAuth;
}

/** Credentials and TLS a readiness check connects with: user/password, an nkey or creds authenticator, TLS files. */
export type NatsReadyAuth = Pick<ConnectionOptions, 'user' | 'pass' | 'authenticator' | 'tls'>;

/** A running nats-server process. */
export interface NatsServerHandle {
  /** `server_name`, as reported in stream cluster info (e.g. the stream leader). */
  readonly name: string;
  /** Client URL, `nats://127.0.0.1:PORT`. Stable across restarts. */
  readonly url: string;
  readonly port: number;
  /** `http://127.0.0.1:PORT` of the monitoring endpoint (/healthz, /connz, /jsz); changes on restart. */
  readonly monitoringUrl: string;
  readonly storeDir: string;
  /** pid of the current incarnation. */
  readonly pid: number;
  /** True while the process runs. */
  readonly running: boolean;
  /** Tail of the server's log output. */
  logs(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** Send `signal` (SIGKILL by default) and wait for exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same port with the same store; waits until JetStream answers. */
  restart(): Promise<void>;
}

/** Several nats-servers joined in one cluster with JetStream. */
export interface NatsClusterHandle {
  readonly servers: NatsServerHandle[];
  /** Client URLs, one per server. */
  readonly urls: string[];
  /** All client URLs joined with commas (the form `--nats` takes). */
  readonly url: string;
  /** Stops every server. */
  stop(): Promise<void>;
}

interface ServerLayout {
  name: string;
  dir: string;
  configFile: string;
  portsDir: string;
  storeDir: string | undefined;
  logFile: string;
  cluster?: { name: string; port: number; routes: number[] };
  extraConfig?: string;
  readyAuth?: NatsReadyAuth;
}

function renderConfig(layout: ServerLayout, port: number): string {
  const lines = [
    `server_name: ${JSON.stringify(layout.name)}`,
    'host: "127.0.0.1"',
    `port: ${port}`,
    `ports_file_dir: ${JSON.stringify(layout.portsDir)}`,
    // The monitoring endpoint (/healthz, /connz, /jsz) on a free port, listed in the ports file.
    'http_port: -1',
  ];
  if (layout.storeDir !== undefined) {
    lines.push('jetstream {', `  store_dir: ${JSON.stringify(layout.storeDir)}`, '}');
  }
  if (layout.cluster !== undefined) {
    const routes = layout.cluster.routes.map((p) => `    "nats-route://127.0.0.1:${p}"`);
    lines.push(
      'cluster {',
      `  name: ${JSON.stringify(layout.cluster.name)}`,
      '  host: "127.0.0.1"',
      `  port: ${layout.cluster.port}`,
      '  routes: [',
      ...routes,
      '  ]',
      '}',
    );
  }
  if (layout.extraConfig !== undefined) lines.push(layout.extraConfig);
  return `${lines.join('\n')}\n`;
}

/** The client URL from the ports file nats-server writes once it listens. */
async function readPortsFile(portsDir: string, pid: number): Promise<string | undefined> {
  const files = await readdir(portsDir).catch(() => [] as string[]);
  const file = files.find((f) => f.endsWith(`_${pid}.ports`));
  if (file === undefined) return undefined;
  const text = await readFile(join(portsDir, file), 'utf8');
  if (text.trim() === '') return undefined;
  const ports = JSON.parse(text) as { nats?: string[] };
  return ports.nats?.[0];
}

/** The monitoring URL from the ports file of process `pid`. */
async function readMonitoringUrl(portsDir: string, pid: number): Promise<string | undefined> {
  const files = await readdir(portsDir).catch(() => [] as string[]);
  const file = files.find((f) => f.endsWith(`_${pid}.ports`));
  if (file === undefined) return undefined;
  const ports = JSON.parse(await readFile(join(portsDir, file), 'utf8')) as { monitoring?: string[] };
  return ports.monitoring?.find((u) => u.startsWith('http://127.0.0.1:')) ?? ports.monitoring?.[0];
}

/** Polls until JetStream on `url` answers an account-info request. */
async function waitForJetStream(url: string, signal: AbortSignal, timeoutMs: number, auth?: NatsReadyAuth): Promise<void> {
  await waitFor(
    async () => {
      let nc: NatsConnection | undefined;
      try {
        nc = await connect({ servers: url, reconnect: false, timeout: 2_000, ...auth });
        const jsm = await nc.jetstreamManager({ timeout: 2_000, checkAPI: false });
        await jsm.getAccountInfo();
        return true;
      } finally {
        await nc?.close().catch(() => {});
      }
    },
    { what: `JetStream on ${url}`, timeoutMs, intervalMs: 200, signal },
  );
}

class NatsServer implements NatsServerHandle {
  private port_ = 0;

  private constructor(
    private readonly layout: ServerLayout,
    private readonly proc: ManagedProcess,
  ) {}

  static async start(layout: ServerLayout, port: number, readyTimeoutMs: number, waitForJs = true): Promise<NatsServer> {
    await mkdir(layout.portsDir, { recursive: true });
    if (layout.storeDir !== undefined) await mkdir(layout.storeDir, { recursive: true });
    await writeFile(layout.configFile, renderConfig(layout, port));
    const proc = await ManagedProcess.start({
      name: `nats-server ${layout.name}`,
      command: natsServerBinary(),
      args: ['-c', layout.configFile],
      env: { PATH: pathWithSbin() },
      logFile: layout.logFile,
      readyTimeoutMs,
      stopTimeoutMs: 10_000,
      ready: async (p, signal) => {
        const url = await waitFor(() => readPortsFile(layout.portsDir, p.pid), {
          what: `ports file of ${p.name}`,
          timeoutMs: readyTimeoutMs,
          intervalMs: 25,
          signal,
        });
        if (layout.storeDir !== undefined && waitForJs) await waitForJetStream(url, signal, readyTimeoutMs, layout.readyAuth);
        return { url, monitoring: (await readMonitoringUrl(layout.portsDir, p.pid)) ?? '' };
      },
    });
    const server = new NatsServer(layout, proc);
    server.port_ = Number(new URL(String(proc.readyInfo['url'])).port);
    // Pin the chosen port, so a restart comes back where clients expect it.
    if (port !== server.port_) await writeFile(layout.configFile, renderConfig(layout, server.port_));
    return server;
  }

  get name(): string {
    return this.layout.name;
  }
  get url(): string {
    return `nats://127.0.0.1:${this.port_}`;
  }
  get port(): number {
    return this.port_;
  }
  get monitoringUrl(): string {
    return String(this.proc.readyInfo['monitoring'] ?? '');
  }
  get storeDir(): string {
    return this.layout.storeDir ?? '';
  }
  get pid(): number {
    return this.proc.pid;
  }
  get running(): boolean {
    return this.proc.running;
  }
  logs(): string {
    return this.proc.logs();
  }
  stop(): Promise<void> {
    return this.proc.stop();
  }
  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    return this.proc.kill(signal);
  }
  restart(): Promise<void> {
    return this.proc.restart();
  }
}

/**
 * Starts a real nats-server (with JetStream unless disabled) from a generated config in a
 * temp dir, and waits until it answers (JetStream account info, when enabled).
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const dir = await tempDir('cairn-nats');
  const jetstream = options.jetstream ?? true;
  const layout: ServerLayout = {
    name: `cairn-test-${randomUUID().slice(0, 8)}`,
    dir,
    configFile: join(dir, 'nats.conf'),
    portsDir: join(dir, 'ports'),
    storeDir: jetstream ? (options.storeDir ?? join(dir, 'jetstream')) : undefined,
    logFile: join(dir, 'nats-server.log'),
    ...(options.extraConfig !== undefined ? { extraConfig: options.extraConfig } : {}),
    ...(options.readyAuth !== undefined ? { readyAuth: options.readyAuth } : {}),
  };
  return NatsServer.start(layout, options.port ?? -1, 30_000);
}

function bindConflict(err: unknown): boolean {
  return err instanceof ProcessStartError && /address already in use/i.test(err.outputTail);
}

async function startClusterOnce(
  dir: string,
  n: number,
  clusterName: string,
  waitForJetStream: boolean,
  extra: Pick<NatsClusterOptions, 'extraConfig' | 'readyAuth'> = {},
): Promise<NatsServer[]> {
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < n; i++) {
    clientPorts.push(await freePort());
    routePorts.push(await freePort());
  }
  const layouts = clientPorts.map((port, i): [ServerLayout, number] => {
    const serverDir = join(dir, `n${i + 1}`);
    return [
      {
        name: `n${i + 1}`,
        dir: serverDir,
        configFile: join(serverDir, 'nats.conf'),
        portsDir: join(serverDir, 'ports'),
        storeDir: join(serverDir, 'jetstream'),
        logFile: join(serverDir, 'nats-server.log'),
        ...(extra.extraConfig !== undefined ? { extraConfig: extra.extraConfig } : {}),
        ...(extra.readyAuth !== undefined ? { readyAuth: extra.readyAuth } : {}),
        cluster: {
          name: clusterName,
          port: routePorts[i] ?? 0,
          routes: routePorts.filter((_, j) => j !== i),
        },
      },
      port,
    ];
  });
  // All at once: each server's JetStream only answers once a meta leader has a quorum.
  const results = await Promise.allSettled(
    layouts.map(async ([layout, port]) => {
      await mkdir(layout.dir, { recursive: true });
      return NatsServer.start(layout, port, 60_000, waitForJetStream);
    }),
  );
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    await Promise.allSettled(started.map((s) => s.stop()));
    throw failed.reason;
  }
  return started;
}

/** Creates and deletes a stream replicated on every server, proving JetStream can place R-n. */
async function probeReplicatedStream(urls: string[], replicas: number, auth?: NatsReadyAuth): Promise<void> {
  const name = `harness_probe_${randomUUID().slice(0, 8)}`;
  await waitFor(
    async () => {
      let nc: NatsConnection | undefined;
      try {
        nc = await connect({ servers: urls, timeout: 2_000, ...auth });
        const jsm = await nc.jetstreamManager({ timeout: 5_000 });
        await jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: replicas });
        await jsm.streams.delete(name);
        return true;
      } finally {
        await nc?.close().catch(() => {});
      }
    },
    { what: `a JetStream R${replicas} stream on ${urls.join(',')}`, timeoutMs: 60_000, intervalMs: 250 },
  );
}

export interface NatsClusterOptions {
  /**
   * Wait until the cluster can create an R-n stream (meta leader elected, peers in); default
   * true. Off, it returns as soon as every server listens: the state in which a fresh
   * deployment's processes all start at once, while JetStream still elects its leaders.
   */
  waitForJetStream?: boolean;
  /** Appended to every server's configuration (NatsServerOptions.extraConfig). */
  extraConfig?: string;
  /** How the readiness checks connect, when the servers require credentials or TLS. */
  readyAuth?: NatsReadyAuth;
}

/**
 * Starts `n` nats-servers clustered over routes on free ports, each with its own JetStream
 * store, and (by default) waits until the cluster can create an R-n stream.
 */
export async function startNatsCluster(n = 3, options: NatsClusterOptions = {}): Promise<NatsClusterHandle> {
  const dir = await tempDir('cairn-nats-cluster');
  const clusterName = `cairn-test-${randomUUID().slice(0, 8)}`;
  let servers: NatsServer[] | undefined;
  for (let attempt = 1; servers === undefined; attempt++) {
    const attemptDir = join(dir, `attempt-${attempt}`);
    try {
      servers = await startClusterOnce(attemptDir, n, clusterName, options.waitForJetStream ?? true, options);
    } catch (err) {
      // A port picked by freePort() can be taken before the server binds it; pick again.
      if (attempt >= 3 || !bindConflict(err)) throw err;
    }
  }
  const urls = servers.map((s) => s.url);
  const all = servers;
  const stop = async (): Promise<void> => {
    await Promise.allSettled(all.map((s) => s.stop()));
  };
  try {
    if (options.waitForJetStream ?? true) await probeReplicatedStream(urls, n, options.readyAuth);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    servers,
    urls,
    url: urls.join(','),
    stop,
  };
}
