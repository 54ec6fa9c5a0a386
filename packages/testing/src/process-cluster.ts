import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeCommandLineFlags, nodeOptionsWithHeapLimit, type ProcessRole } from '@cairn/metrics';
import { tempDir } from './cleanup.js';
import { ManagedProcess, type ManagedProcessOptions } from './managed-process.js';
import { cliPath as defaultCliPath } from './repo-paths.js';

/** One storage node to start: its locality, `region=..,zone=..`. */
export interface NodeSpec {
  locality: string;
  /** Further `cairn start node` flags (e.g. `--drain-timeout 5s`). */
  args?: string[];
  /** Environment of this node only, over the cluster's `env` (e.g. its own cloud credentials). */
  env?: Record<string, string>;
}

export interface ProcessClusterOptions {
  /** NATS URL(s) handed to every process as `--nats` (comma-joined for a cluster). */
  nats: string;
  nodes: NodeSpec[];
  /** Number of coordinators, started before the nodes; default 1. */
  coordinators?: number;
  /** Stores (`node-i/`) and process logs (`logs/`) go here; default a fresh temp dir. */
  dataDir?: string;
  /** The CLI script run with `node`; default `cliPath()`. */
  cliPath?: string;
  /** Extra environment for every process. */
  env?: Record<string, string>;
  /** Further `cairn start coordinator` flags for every coordinator. */
  coordinatorArgs?: string[];
  /** How long each process may take to print its ready line; default 30 s. */
  readyTimeoutMs?: number;
  /** How long `stop` waits after SIGTERM before SIGKILL; default 5 s. */
  stopTimeoutMs?: number;
  /**
   * Start every process at once instead of one by one, as a deployment does (a compose file,
   * a Kubernetes rollout): they race to create the cluster's state. Node ids then follow no
   * particular order.
   */
  startTogether?: boolean;
}

/**
 * A cairn cluster made of real processes: coordinators and storage nodes run from the CLI
 * (`node <cli> start coordinator|node ...`), each on its own free ports, each with its full
 * log in `<dataDir>/logs/<name>.log`.
 */
export class ProcessCluster {
  readonly coordinators: ManagedProcess[] = [];
  readonly nodes: ManagedProcess[] = [];
  /** `--http-addr` (/metrics and /health) address of each process, by process name. */
  readonly metricsAddresses = new Map<string, string>();
  private coordinatorSlots = 0;
  private nodeSlots = 0;

  private constructor(
    readonly dataDir: string,
    private readonly options: ProcessClusterOptions,
    private readonly cli: string,
  ) {}

  /**
   * Spawns the coordinators, then the nodes, waiting for each one's ready line. If any fails
   * to start, everything already started is stopped and the error carries its output tail.
   */
  static async start(options: ProcessClusterOptions): Promise<ProcessCluster> {
    const dataDir = options.dataDir ?? (await tempDir('cairn-cluster'));
    const cli = options.cliPath ?? defaultCliPath();
    if (!existsSync(cli)) throw new Error(`cairn CLI not found at ${cli} (run \`pnpm build\` first)`);
    await mkdir(join(dataDir, 'logs'), { recursive: true });
    const cluster = new ProcessCluster(dataDir, options, cli);
    try {
      if (options.startTogether === true) {
        await Promise.all([
          ...Array.from({ length: options.coordinators ?? 1 }, () => cluster.addCoordinator()),
          ...options.nodes.map((spec) => cluster.addNode(spec)),
        ]);
      } else {
        for (let i = 0; i < (options.coordinators ?? 1); i++) await cluster.addCoordinator();
        for (const spec of options.nodes) await cluster.addNode(spec);
      }
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Starts one more coordinator (`coordinator-<i>`, `--id coordinator-<i>`). */
  async addCoordinator(): Promise<ManagedProcess> {
    // The slot is taken before the first await, so processes started together get distinct names.
    const slot = this.coordinatorSlots++;
    const name = `coordinator-${slot}`;
    const args = ['start', 'coordinator', '--nats', this.options.nats, '--listen-addr', ANY_PORT, '--http-addr', ANY_PORT, '--id', name, ...(this.options.coordinatorArgs ?? [])];
    const proc = await this.spawn(name, 'coordinator', withSecurityMode(args), {}, (info, a) =>
      pinFlags(a, { '--listen-addr': info['listen'], '--http-addr': info['httpListen'] }),
    );
    this.metricsAddresses.set(name, String(proc.readyInfo['httpListen']));
    this.coordinators[slot] = proc;
    return proc;
  }

  /** Starts one more storage node (`node-<i>`, store in `<dataDir>/node-<i>`). */
  async addNode(spec: NodeSpec): Promise<ManagedProcess> {
    const slot = this.nodeSlots++;
    const name = `node-${slot}`;
    const store = join(this.dataDir, name);
    await mkdir(store, { recursive: true });
    const args = ['start', 'node', '--nats', this.options.nats, '--locality', spec.locality, '--store', store, '--http-addr', ANY_PORT, ...(spec.args ?? [])];
    const proc = await this.spawn(name, 'node', withSecurityMode(args), spec.env, (info, a) => pinFlags(a, { '--http-addr': info['httpListen'] }));
    this.metricsAddresses.set(name, String(proc.readyInfo['httpListen']));
    this.nodes[slot] = proc;
    return proc;
  }

  /** gRPC addresses (`127.0.0.1:PORT`) the coordinators reported in their ready lines. */
  grpcAddresses(): string[] {
    return this.coordinators.map((c) => String(c.readyInfo['grpc']));
  }

  /** Every process, coordinators first. */
  all(): ManagedProcess[] {
    return [...this.coordinators, ...this.nodes];
  }

  /** SIGTERM to all at once, SIGKILL for any still running after the grace period. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.all().map((p) => p.stop()));
  }

  private spawn(
    name: string,
    role: ProcessRole,
    args: string[],
    env: Record<string, string> = {},
    pinArgs?: ManagedProcessOptions['pinArgs'],
  ): Promise<ManagedProcess> {
    const merged: Record<string, string> = { ...this.options.env, ...env };
    // The role's V8 heap limit, as start-local and the deploy kit give it: tests run the
    // processes as operators do, and a limit too small for a test's load fails that test.
    merged['NODE_OPTIONS'] = nodeOptionsWithHeapLimit(role, merged['NODE_OPTIONS'] ?? process.env['NODE_OPTIONS']);
    return ManagedProcess.start({
      name,
      command: process.execPath,
      // The role's V8 flags NODE_OPTIONS cannot carry go before the script, as in start-local.
      args: [...nodeCommandLineFlags(role), this.cli, ...args],
      env: merged,
      ...(pinArgs ? { pinArgs } : {}),
      logFile: join(this.dataDir, 'logs', `${name}.log`),
      readyTimeoutMs: this.options.readyTimeoutMs ?? 30_000,
      stopTimeoutMs: this.options.stopTimeoutMs ?? 5_000,
    });
  }
}

/**
 * Listeners start on port 0: the kernel hands out a port nobody holds. A port probed free
 * beforehand can be taken by another test worker's process before ours binds it (seen in CI
 * as EADDRINUSE at start-up).
 */
const ANY_PORT = '127.0.0.1:0';

/**
 * The command line with each flag's value replaced by the address the process reported, so a
 * restart binds the same port. A flag the caller gave twice keeps its last (winning) value.
 */
function pinFlags(args: readonly string[], bound: Record<string, unknown>): string[] {
  const out = [...args];
  for (const [flag, address] of Object.entries(bound)) {
    if (typeof address !== 'string' || address === '') continue;
    const at = out.lastIndexOf(flag);
    if (at >= 0 && out[at + 1] === ANY_PORT) out[at + 1] = address;
  }
  return out;
}

/**
 * `cairn start` refuses to run without `--certs-dir` or `--insecure`: a cluster whose
 * arguments name no certificates is an insecure one. Appended after the caller's arguments.
 */
function withSecurityMode(args: string[]): string[] {
  return args.includes('--certs-dir') || args.includes('--insecure') ? args : [...args, '--insecure'];
}
