import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { spawnCairn, startLocalNats, stopProcess, type LocalProcess } from './local-processes.js';

/** Localities of start-local's nodes: one region each, cycling, with a zone. */
export const LOCAL_REGIONS = ['us-east1', 'us-west1', 'eu-west1'] as const;

export function localLocality(i: number): string {
  const region = LOCAL_REGIONS[i % LOCAL_REGIONS.length]!;
  const zone = `${region}-${'bcd'[Math.floor(i / LOCAL_REGIONS.length) % 3]}`;
  return `region=${region},zone=${zone}`;
}

export interface LocalCluster {
  natsUrl: string;
  grpcAddress: string;
  processes: LocalProcess[];
  stop(): Promise<void>;
}

export interface LocalClusterOptions {
  nodes: number;
  dataDir: string;
  natsUrl?: string;
  grpc: string;
  metrics: string;
  log?: (line: string) => void;
}

/** Starts nats-server (unless given), one coordinator and N nodes, all under `dataDir`. */
export async function startLocalCluster(o: LocalClusterOptions): Promise<LocalCluster> {
  const dataDir = resolve(o.dataDir);
  const logs = join(dataDir, 'logs');
  await mkdir(logs, { recursive: true });
  const say = o.log ?? (() => undefined);
  const started: Array<{ child: ChildProcess }> = [];
  const stop = async (): Promise<void> => {
    // Nodes and coordinator first, NATS last, so everyone can say goodbye cleanly.
    for (const p of [...started].reverse()) await stopProcess(p.child);
  };
  try {
    let natsUrl = o.natsUrl;
    let natsChild: ChildProcess | undefined;
    if (!natsUrl) {
      await mkdir(join(dataDir, 'nats'), { recursive: true });
      const nats = await startLocalNats(join(dataDir, 'nats'), join(logs, 'nats-server.log'));
      natsUrl = nats.url;
      natsChild = nats.child;
      started.push({ child: natsChild });
      say(`nats-server      ${natsUrl} (JetStream store ${join(dataDir, 'nats')})`);
    }
    const coordinator = await spawnCairn(
      'coordinator',
      ['start', 'coordinator', '--nats', natsUrl, '--grpc', o.grpc, '--metrics', o.metrics, '--id', 'coordinator-1'],
      join(logs, 'coordinator-1.log'),
    );
    started.push(coordinator);
    say(`coordinator      gRPC ${String(coordinator.info['grpc'])}, metrics http://${String(coordinator.info['metrics'])}/metrics`);
    const processes: LocalProcess[] = [coordinator];
    // One at a time, so a fresh cluster numbers its nodes in start order (node-1 is n1).
    for (let i = 0; i < o.nodes; i++) {
      const n = await spawnCairn(
        `node-${i + 1}`,
        ['start', 'node', '--nats', natsUrl, '--locality', localLocality(i), '--store', join(dataDir, `node-${i + 1}`)],
        join(logs, `node-${i + 1}.log`),
      );
      started.push(n);
      processes.push(n);
      say(`node ${String(n.info['nodeId']).padEnd(11)} ${localLocality(i)} (store ${join(dataDir, `node-${i + 1}`)})`);
    }
    return { natsUrl, grpcAddress: String(coordinator.info['grpc']), processes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export function registerStartLocal(program: Command): void {
  program
    .command('start-local')
    .description('start a local cluster: nats-server, a coordinator and N nodes in distinct localities')
    .option('--nodes <n>', 'number of nodes', '3')
    .option('--data <dir>', 'data directory (kept across runs)', './cairn-data')
    .option('--nats <url>', 'use this NATS instead of starting nats-server')
    .option('--grpc <addr>', 'coordinator gRPC listen address', '127.0.0.1:26257')
    .option('--metrics <addr>', 'coordinator metrics listen address', '127.0.0.1:8080')
    .action(async (o: { nodes: string; data: string; nats?: string; grpc: string; metrics: string }) => {
      const cluster = await startLocalCluster({
        nodes: Number(o.nodes),
        dataDir: o.data,
        grpc: o.grpc,
        metrics: o.metrics,
        log: (l) => process.stdout.write(l + '\n'),
        ...(o.nats ? { natsUrl: o.nats } : {}),
      });
      process.stdout.write(`\ncairn is running. gRPC: ${cluster.grpcAddress}\n`);
      process.stdout.write(`Try: pnpm cairn sql --host ${cluster.grpcAddress} -e "SHOW NODES"\nCtrl-C stops the cluster.\n`);
      let stopping = false;
      const shutdown = (): void => {
        if (stopping) return;
        stopping = true;
        process.stdout.write('\nstopping...\n');
        cluster.stop().then(() => process.exit(0));
      };
      process.on('SIGINT', shutdown);
      process.on('SIGTERM', shutdown);
      // If a child dies on its own, say so (the rest keeps running, as a real cluster would).
      for (const p of cluster.processes) {
        p.child.once('exit', (code, signal) => {
          if (!stopping) process.stderr.write(`${p.name} exited (${signal ?? code})\n`);
        });
      }
    });
}
