import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { CairnError, ErrorCode } from '@cairn/errors';
import { spawnCairn, startLocalNats, stopProcess, type LocalProcess } from './local-processes.js';
import { listenAddrFlag, natsUrlsFlag } from './process-flags.js';
import { createCa, createClientCert, createNodeCert, CA_CERT } from '../certs/certificate-authority.js';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';

/** Localities of start-local's nodes: one region each, cycling, with a zone. */
export const LOCAL_REGIONS = ['us-east1', 'us-west1', 'eu-west1'] as const;

export function localLocality(i: number): string {
  const region = LOCAL_REGIONS[i % LOCAL_REGIONS.length]!;
  const zone = `${region}-${'bcd'[Math.floor(i / LOCAL_REGIONS.length) % 3]}`;
  return `region=${region},zone=${zone}`;
}

export interface LocalCluster {
  /** NATS client URL(s), comma-joined. */
  natsUrl: string;
  grpcAddress: string;
  processes: LocalProcess[];
  /** Secure clusters: the certificates directory clients connect with. */
  certsDir?: string;
  stop(): Promise<void>;
}

export interface LocalClusterOptions {
  nodes: number;
  dataDir: string;
  /** Use this NATS instead of starting nats-server. */
  natsUrl?: string;
  /** nats-servers to start when no `natsUrl`: 1 (default) or 3 (a JetStream cluster, R3 state). */
  natsServers?: number;
  /** The coordinator's gRPC listen address. */
  listenAddr: string;
  /** The coordinator's /metrics and /health listen address. */
  httpAddr: string;
  /** The coordinator's --managed-backups-uri (default DEFAULT_LOCAL_MANAGED_BACKUPS_URI). */
  managedBackupsUri?: string;
  log?: (line: string) => void;
  /** Aborting it (Ctrl-C) stops whatever has started and rejects with CANCELED. */
  signal?: AbortSignal;
  /**
   * Run secure: a CA and node and root client certificates under `<dataDir>/certs` (created
   * on the first secure run, reused after), the CA key apart in `<dataDir>/ca-key/ca.key`.
   */
  secure?: boolean;
}

/** The NATS password of a secure local cluster: made on its first secure run, kept (0600) after. */
async function localNatsPassword(dataDir: string): Promise<string> {
  const file = join(dataDir, 'nats-config', 'cairn-nats.password');
  const existing = await readFile(file, 'utf8').catch(() => undefined);
  if (existing !== undefined && existing.trim() !== '') return existing.trim();
  await mkdir(dirname(file), { recursive: true });
  const password = randomBytes(18).toString('base64url');
  await writeFile(file, password + '\n', { mode: 0o600 });
  return password;
}

/**
 * The certificates of a secure local cluster, created once: a CA, a node certificate for
 * localhost and 127.0.0.1, and root's client certificate. Returns the certs dir.
 */
export async function ensureLocalCertificates(dataDir: string): Promise<string> {
  const certsDir = join(dataDir, 'certs');
  const caKey = join(dataDir, 'ca-key', 'ca.key');
  if (await stat(join(certsDir, CA_CERT)).then(() => true, () => false)) return certsDir;
  await mkdir(join(dataDir, 'ca-key'), { recursive: true, mode: 0o700 });
  const o = { certsDir, caKey };
  await createCa(o);
  await createNodeCert(o, ['localhost', '127.0.0.1']);
  await createClientCert(o, 'root');
  return certsDir;
}

/** Where start-local's managed backups go: node 1's extern directory. */
export const DEFAULT_LOCAL_MANAGED_BACKUPS_URI = 'nodelocal://1/managed-backups';

/**
 * Starts nats-server(s) (unless given), one coordinator and N nodes, all under `dataDir`.
 * Every child is tracked from the moment it is spawned, so a failure or an abort at any point
 * stops all of them; none outlives this process, however it ends (see spawnGuarded).
 */
export async function startLocalCluster(o: LocalClusterOptions): Promise<LocalCluster> {
  const dataDir = resolve(o.dataDir);
  const logs = join(dataDir, 'logs');
  await mkdir(logs, { recursive: true });
  const say = o.log ?? (() => undefined);
  const spawned: ChildProcess[] = [];
  const track = (child: ChildProcess): void => void spawned.push(child);
  const stop = async (): Promise<void> => {
    // Nodes and coordinator first, NATS last, so everyone can say goodbye cleanly.
    for (const child of [...spawned].reverse()) await stopProcess(child);
  };
  try {
    // start-local is for development: insecure unless asked, and it says so when it starts.
    const certsDir = o.secure ? await ensureLocalCertificates(dataDir) : undefined;
    const natsPassword = o.secure && !o.natsUrl ? await localNatsPassword(dataDir) : undefined;
    // The children inherit it: a password on their command lines would be visible to every user.
    if (natsPassword !== undefined) process.env['CAIRN_NATS_PASSWORD'] = natsPassword;
    const security = [...(certsDir ? ['--certs-dir', certsDir] : ['--insecure']), ...(natsPassword !== undefined ? ['--nats-user', 'cairn'] : [])];
    say(certsDir ? `secure mode      certificates in ${certsDir}${natsPassword !== undefined ? `, NATS user cairn (password in ${join(dataDir, 'nats-config', 'cairn-nats.password')})` : ''}` : 'insecure mode    no TLS, no authentication: anyone who reaches these ports is root (--secure runs with certificates)');
    let natsUrl = o.natsUrl;
    const natsServers = natsUrl ? undefined : (o.natsServers ?? 1);
    if (!natsUrl) {
      const nats = await startLocalNats({
        servers: natsServers ?? 1,
        dataDir,
        logDir: logs,
        onSpawn: track,
        ...(o.signal ? { signal: o.signal } : {}),
        ...(natsPassword !== undefined ? { cairnPassword: natsPassword } : {}),
      });
      natsUrl = nats.url;
      for (const s of nats.servers) say(`nats-server      ${s.url} (${s.name}, JetStream store ${s.storeDir})`);
    }
    // R3 state on a cluster of three servers, so one server's loss loses nothing.
    const replicas = natsServers === 3 ? ['--nats-replicas', '3'] : [];
    const spawnOptions = { onSpawn: track, ...(o.signal ? { signal: o.signal } : {}) };
    const coordinator = await spawnCairn(
      'coordinator',
      [
        'start', 'coordinator', '--nats', natsUrl, ...replicas, '--listen-addr', o.listenAddr, '--http-addr', o.httpAddr, '--id', 'coordinator-1',
        // Managed backups go to node 1's extern dir unless told otherwise (the deploy kit uses its MinIO bucket).
        '--managed-backups-uri', o.managedBackupsUri ?? DEFAULT_LOCAL_MANAGED_BACKUPS_URI,
        ...security,
      ],
      join(logs, 'coordinator-1.log'),
      spawnOptions,
    );
    say(`coordinator      gRPC ${String(coordinator.info['grpc'])}, metrics http://${String(coordinator.info['metrics'])}/metrics`);
    // The console shares the HTTP port; a secure cluster serves it over TLS only.
    say(`console          ${o.secure === true ? 'https' : 'http'}://${String(coordinator.info['metrics'])}/`);
    const processes: LocalProcess[] = [coordinator];
    // One at a time, so a fresh cluster numbers its nodes in start order (node-1 is n1).
    for (let i = 0; i < o.nodes; i++) {
      const n = await spawnCairn(
        `node-${i + 1}`,
        ['start', 'node', '--nats', natsUrl, ...replicas, '--locality', localLocality(i), '--store', join(dataDir, `node-${i + 1}`), ...security],
        join(logs, `node-${i + 1}.log`),
        spawnOptions,
      );
      processes.push(n);
      say(`node ${String(n.info['nodeId']).padEnd(11)} ${localLocality(i)} (store ${join(dataDir, `node-${i + 1}`)})`);
    }
    return { natsUrl, grpcAddress: String(coordinator.info['grpc']), processes, stop, ...(certsDir ? { certsDir } : {}) };
  } catch (err) {
    await stop();
    throw err;
  }
}

export function registerStartLocal(program: Command): void {
  program
    .command('start-local')
    .description('start a local cluster: nats-server(s), a coordinator and N nodes in distinct localities')
    .option('--nodes <n>', 'number of nodes', '3')
    .option('--data <dir>', 'data directory (kept across runs)', './cairn-data')
    .option('--nats <url>', 'use this NATS instead of starting nats-server')
    .addOption(new Option('--nats-servers <n>', 'nats-servers to start: 1, or 3 for a JetStream cluster with R3 state').choices(['1', '3']).default('1'))
    .option('--listen-addr <host:port>', 'coordinator gRPC listen address', '127.0.0.1:26257')
    .option('--http-addr <host:port>', 'coordinator /metrics and /health listen address', '127.0.0.1:8080')
    .option('--secure', 'run with TLS and authentication: creates a CA and certificates under <data>/certs')
    .option('--managed-backups-uri <uri>', 'collection for managed backups', DEFAULT_LOCAL_MANAGED_BACKUPS_URI)
    .action(async (o: { nodes: string; data: string; nats?: string; natsServers: string; listenAddr: string; httpAddr: string; secure?: boolean; managedBackupsUri: string }) => {
      const nodes = Number(o.nodes);
      if (!Number.isInteger(nodes) || nodes < 0) throw new CairnError(ErrorCode.InvalidArgument, `invalid --nodes "${o.nodes}": expected a whole number`);
      const listenAddr = listenAddrFlag('--listen-addr', o.listenAddr);
      const httpAddr = listenAddrFlag('--http-addr', o.httpAddr);
      const natsUrl = o.nats !== undefined ? natsUrlsFlag(o.nats) : undefined;

      // Installed before anything starts: Ctrl-C during start-up stops what has started.
      const interrupt = new AbortController();
      let cluster: LocalCluster | undefined;
      let stopping = false;
      const shutdown = (): void => {
        if (stopping) return;
        stopping = true;
        process.stdout.write('\nstopping...\n');
        if (!cluster) {
          // startLocalCluster stops what it started and rejects; the catch below exits.
          interrupt.abort(new Error('interrupted during start-up'));
          return;
        }
        cluster.stop().then(() => process.exit(0));
      };
      process.on('SIGINT', shutdown);
      process.on('SIGTERM', shutdown);

      try {
        cluster = await startLocalCluster({
          nodes,
          dataDir: o.data,
          natsServers: Number(o.natsServers),
          listenAddr,
          httpAddr,
          signal: interrupt.signal,
          log: (l) => process.stdout.write(l + '\n'),
          ...(natsUrl ? { natsUrl } : {}),
          ...(o.secure ? { secure: true } : {}),
          managedBackupsUri: o.managedBackupsUri,
        });
      } catch (err) {
        if (interrupt.signal.aborted) {
          process.stdout.write('stopped during start-up\n');
          process.exit(130);
        }
        throw err;
      }
      process.stdout.write(`\ncairn is running. gRPC: ${cluster.grpcAddress}\n`);
      const connect = cluster.certsDir ? `--certs-dir ${cluster.certsDir} ` : '--insecure ';
      process.stdout.write(`Try: pnpm cairn sql ${connect}--host ${cluster.grpcAddress} -e "SHOW NODES"\nCtrl-C stops the cluster.\n`);
      // If a child dies on its own, say so (the rest keeps running, as a real cluster would).
      for (const p of cluster.processes) {
        p.child.once('exit', (code, signal) => {
          if (!stopping) process.stderr.write(`${p.name} exited (${signal ?? code})\n`);
        });
      }
    });
}
