import { randomUUID } from 'node:crypto';
import { Registry, Gauge } from 'prom-client';
import { ClusterState, LeaderLease, connectNats, getOrCreate } from '@cairn/cluster';
import { collectProcessMetrics, createLogger, parseListenAddress, startMetricsServer, type Logger } from '@cairn/metrics';
import { startApiServer } from './api/api-server.js';
import { LeaderForwarder } from './api/leader-forwarder.js';
import { ClusterSettings } from './cluster-settings.js';
import { Leader } from './leader.js';
import { CoordinatorMetrics } from './coordinator-metrics.js';

export interface CoordinatorOptions {
  natsUrl: string;
  /** host:port of the gRPC API (default 127.0.0.1:26257). */
  grpcListen?: string;
  /** host:port of /metrics (default 127.0.0.1:8080). */
  metricsListen?: string;
  /** A stable name for this coordinator (default: a random id). */
  id?: string;
  natsReplicas?: number;
  leaseTtlMs?: number;
  logger?: Logger;
}

export interface RunningCoordinator {
  id: string;
  clusterId: string;
  grpcAddress: string;
  metricsAddress: string;
  isLeader(): boolean;
  stop(): Promise<void>;
}

/**
 * Starts a coordinator: it serves the gRPC API at once and competes for the leader lease;
 * while it leads, it runs the Leader (log writer, ranges, catalog). Standbys forward API
 * calls to the leader and take over within a lease TTL of its death.
 */
export async function startCoordinator(opts: CoordinatorOptions): Promise<RunningCoordinator> {
  const id = opts.id ?? `coordinator-${randomUUID().slice(0, 8)}`;
  const log = (opts.logger ?? createLogger('coordinator')).child({ coordinatorId: id });
  const nc = await connectNats(opts.natsUrl, `cairn-${id}`);
  const state = await ClusterState.open(nc, {
    replicas: opts.natsReplicas ?? 1,
    ...(opts.leaseTtlMs ? { leaseTtlMs: opts.leaseTtlMs } : {}),
  });
  const clusterId = await getOrCreate(state.meta, 'cluster-id', () => randomUUID());
  const settings = await ClusterSettings.open(state.settings);

  let leader: Leader | undefined;
  let grpcAddress = '';
  const lease = new LeaderLease(state.lease, { coordinatorId: id, grpcAddress: '' }, state.options.leaseTtlMs);
  const forwarder = new LeaderForwarder(lease, () => grpcAddress);

  const grpc = parseListenAddress(opts.grpcListen ?? '127.0.0.1:26257');
  const api = await startApiServer({ coordinatorId: id, clusterId, leader: () => leader, forwarder }, grpc.host, grpc.port);
  grpcAddress = api.address;
  // The lease advertises where clients (and standbys forwarding) reach this coordinator.
  (lease as unknown as { self: { grpcAddress: string } }).self.grpcAddress = api.address;

  const registry = new Registry();
  collectProcessMetrics(registry, 'cairn_coordinator_');
  new Gauge({
    name: 'cairn_coordinator_is_leader',
    help: '1 while this coordinator holds the leader lease',
    registers: [registry],
    collect() {
      this.set(lease.isLeader ? 1 : 0);
    },
  });
  const jobMetrics = new CoordinatorMetrics(registry);
  const m = parseListenAddress(opts.metricsListen ?? '127.0.0.1:8080');
  const metrics = await startMetricsServer(m.host, m.port, registry);

  let starting: Promise<void> = Promise.resolve();
  lease.on('elected', () => {
    starting = (async () => {
      log.info('elected leader');
      try {
        leader = await Leader.start(nc, state, settings, id, log.child({ role: 'leader' }), jobMetrics);
      } catch (err) {
        log.error({ err }, 'failed to start as leader; releasing the lease');
        await lease.stop();
        lease.start();
      }
    })();
  });
  lease.on('lost', (reason) => {
    log.warn({ reason }, 'lost leadership');
    const old = leader;
    leader = undefined;
    jobMetrics.attach(undefined);
    void old?.stop();
  });
  lease.start();

  log.info({ clusterId, grpc: api.address, metrics: metrics.address }, 'coordinator started');
  return {
    id,
    clusterId,
    grpcAddress: api.address,
    metricsAddress: metrics.address,
    isLeader: () => leader !== undefined,
    stop: async () => {
      await starting;
      await leader?.stop();
      leader = undefined;
      await lease.stop();
      forwarder.close();
      await api.stop();
      await metrics.close();
      await nc.drain().catch(() => undefined);
      log.info('coordinator stopped');
    },
  };
}
