import type { Command } from 'commander';
import { startCoordinator, type RunningCoordinator } from '@cairn/coordinator';
import { startNode, type RunningNode } from '@cairn/node';
import { formatError } from '../output/index.js';

/** Prints the machine-readable line supervisors (start-local, the test harness) wait for. */
function ready(info: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ event: 'ready', ...info }) + '\n');
}

/** Stops cleanly on SIGINT/SIGTERM; a second signal exits at once. */
function stopOnSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (): void => {
    if (stopping) process.exit(1);
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(formatError(err) + '\n');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

export function registerStartCommands(program: Command): void {
  const start = program.command('start').description('start a cairn process');

  start
    .command('coordinator')
    .description('start a coordinator (leader or standby)')
    .requiredOption('--nats <url>', 'NATS server URL(s), comma-separated')
    .option('--grpc <addr>', 'gRPC listen address', '127.0.0.1:26257')
    .option('--metrics <addr>', 'Prometheus /metrics listen address', '127.0.0.1:8080')
    .option('--id <name>', 'coordinator name (default: random)')
    .option('--nats-replicas <n>', 'replicas of the JetStream state (3 on a NATS cluster)', '1')
    .action(async (o: { nats: string; grpc: string; metrics: string; id?: string; natsReplicas: string }) => {
      const c: RunningCoordinator = await startCoordinator({
        natsUrl: o.nats,
        grpcListen: o.grpc,
        metricsListen: o.metrics,
        natsReplicas: Number(o.natsReplicas),
        ...(o.id ? { id: o.id } : {}),
      });
      stopOnSignals(() => c.stop());
      ready({ role: 'coordinator', id: c.id, grpc: c.grpcAddress, metrics: c.metricsAddress, clusterId: c.clusterId });
    });

  start
    .command('node')
    .description('start a node holding range replicas')
    .requiredOption('--nats <url>', 'NATS server URL(s), comma-separated')
    .requiredOption('--locality <tiers>', 'locality tiers, e.g. region=us-east1,zone=us-east1-b')
    .requiredOption('--store <dir>', 'directory of the node store')
    .option('--metrics <addr>', 'Prometheus /metrics listen address', '127.0.0.1:0')
    .option('--nats-replicas <n>', 'replicas of the JetStream state (3 on a NATS cluster)', '1')
    .action(async (o: { nats: string; locality: string; store: string; metrics: string; natsReplicas: string }) => {
      const n: RunningNode = await startNode({
        natsUrl: o.nats,
        locality: o.locality,
        storeDir: o.store,
        metricsListen: o.metrics,
        natsReplicas: Number(o.natsReplicas),
      });
      stopOnSignals(() => n.stop());
      ready({ role: 'node', nodeId: n.nodeId, address: n.address, clusterId: n.clusterId });
    });
}
