import { randomUUID } from 'node:crypto';
import { CairnError, ErrorCode } from '@cairn/errors';
import { Registry, Gauge } from 'prom-client';
import { ClusterState, CoordinatorRegistry, LeaderLease, connectNats, getOrCreate, natsRetryLog, parseLocality, reportNatsRetries, type NatsAuth } from '@cairn/cluster';
import { consoleRoutes } from '@cairn/console';
import { advertisedAddress, collectProcessMetrics, createLogger, parseListenAddress, splitHostPort, startMetricsServer, type Logger } from '@cairn/metrics';
import { startApiServer } from './api/api-server.js';
import { LeaderForwarder } from './api/leader-forwarder.js';
import { ClusterSettings } from './cluster-settings.js';
import { startLeader, type StartedLeader } from './start-leader.js';
import { CoordinatorMetrics } from './coordinator-metrics.js';
import { CoordinatorReadiness } from './coordinator-readiness.js';
import { PROMETHEUS_SD_PATH, prometheusSdRoute } from './service-discovery.js';
import { AuditLog } from './auth/audit-log.js';
import type { ApiSecurity } from './auth/guarded-server.js';
import { ReloadableCertificates } from './auth/tls-certificates.js';
import { PrivilegeStore } from './privileges/privilege-store.js';
import { ApiKeyStore } from './auth/api-keys.js';
import { HttpAuthenticator } from './auth/http-auth.js';
import { ManagedBackupStore, MANAGED_BACKUPS_BUCKET } from './managed/managed-backup-store.js';
import { ManagedBackups } from './managed/managed-backups.js';
import { CONSOLE_API_ROUTES, CONSOLE_OPENAPI } from './console/console-api.js';
import { MANAGED_API_PREFIX, managedApiRoute } from './managed/managed-api.js';
import { checkManagedBackupsUri } from './managed/managed-backups.js';

export interface CoordinatorOptions {
  natsUrl: string;
  /** host:port the gRPC API binds (default 127.0.0.1:26257; port 0 picks a free one). */
  listenAddr?: string;
  /**
   * host[:port] the lease advertises to standbys and clients (default: the bound address, or
   * this machine's hostname with the bound port when bound to 0.0.0.0 or ::).
   */
  advertiseAddr?: string;
  /** host:port of /metrics and /health (default 127.0.0.1:8080). */
  httpAddr?: string;
  /** host[:port] others (Prometheus) reach /metrics at (default: the advertised host + bound http port). */
  advertiseHttpAddr?: string;
  /** Locality tiers of this coordinator (`region=..,zone=..`), labels for service discovery. */
  locality?: string;
  /** A stable name for this coordinator (default: a random id). */
  id?: string;
  natsReplicas?: number;
  /** Credentials and TLS for NATS. */
  natsAuth?: NatsAuth;
  /**
   * Secure mode: the directory holding ca.crt, node.crt and node.key. The API then serves TLS
   * only and authenticates every call. Absent: insecure mode (the CLI refuses that without
   * --insecure).
   */
  certsDir?: string;
  leaseTtlMs?: number;
  /**
   * The collection managed backups go to (`--managed-backups-uri`). Absent: the backups-config
   * API reads but refuses to enable managed backups.
   */
  managedBackupsUri?: string;
  logger?: Logger;
}

export interface RunningCoordinator {
  id: string;
  clusterId: string;
  /** The advertised gRPC address: what clients and standbys dial. */
  grpcAddress: string;
  /** The bound gRPC address. */
  listenAddress: string;
  /** The advertised /metrics and /health address. */
  metricsAddress: string;
  /** The bound /metrics and /health address. */
  httpListenAddress: string;
  isLeader(): boolean;
  /** Whether the API serves TLS and authenticates calls. */
  secure: boolean;
  /**
   * Re-reads the node certificate (SIGHUP): new connections use it, open ones keep theirs.
   * Throws, keeping the old certificates, when the new files are missing or do not match.
   */
  reloadCertificates(): { notAfter: string };
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
  reportNatsRetries(natsRetryLog(log));
  // A bad --managed-backups-uri fails before anything connects, naming the flag.
  if (opts.managedBackupsUri !== undefined) checkManagedBackupsUri(opts.managedBackupsUri);
  // Certificates first: a bad --certs-dir fails before anything connects.
  const certificates = opts.certsDir === undefined ? undefined : new ReloadableCertificates(opts.certsDir);
  const nc = await connectNats(opts.natsUrl, `cairn-${id}`, undefined, opts.natsAuth);
  const state = await ClusterState.open(nc, {
    replicas: opts.natsReplicas,
    ...(opts.leaseTtlMs ? { leaseTtlMs: opts.leaseTtlMs } : {}),
  });
  const clusterId = await getOrCreate(state.meta, 'cluster-id', () => randomUUID());
  const settings = await ClusterSettings.open(nc, state.settings);

  let leadership: StartedLeader | undefined;
  let grpcAddress = '';
  // The lease advertises the API's address, known only once it is bound (port 0 picks one);
  // a call forwarded before the lease exists finds no leader and the client retries it.
  const leaseSlot: { lease?: LeaderLease } = {};
  const forwarder = new LeaderForwarder(
    { current: async () => leaseSlot.lease?.current() },
    () => grpcAddress,
    ...(certificates ? [() => certificates.channelCredentials()] : []),
  );
  const audit = new AuditLog((opts.logger ?? createLogger('audit')).child({ component: 'audit', coordinatorId: id }));
  const privileges = new PrivilegeStore(state.meta);
  const security: ApiSecurity = certificates
    ? { mode: 'secure', certificates, readPrivileges: () => privileges.read(), audit }
    : { mode: 'insecure', audit };

  const grpc = parseListenAddress(opts.listenAddr ?? '127.0.0.1:26257');
  const api = await startApiServer(
    { coordinatorId: id, clusterId, advertisedAddress: () => grpcAddress, leader: () => leadership?.capabilities, forwarder },
    grpc.host,
    grpc.port,
    security,
  );
  grpcAddress = advertisedAddress({ host: grpc.host, port: api.port }, opts.advertiseAddr);
  const lease = new LeaderLease(state.lease, { coordinatorId: id, grpcAddress }, state.options.leaseTtlMs, nc);
  leaseSlot.lease = lease;
  const readiness = new CoordinatorReadiness({
    nc,
    coordinatorId: id,
    leading: () => leadership !== undefined,
    leaseHolder: () => lease.current(),
    onChange: (ready) => api.setServing(ready),
  });

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
  const m = parseListenAddress(opts.httpAddr ?? '127.0.0.1:8080');
  const coordinators = await CoordinatorRegistry.open(state);
  // The console's page at `/` and its files under `/console/`, beside /metrics.
  const consolePages = consoleRoutes();
  // Managed backups: their bucket, the API keys and the one HTTP authentication (auth/http-auth.ts).
  const managed = new ManagedBackups(new ManagedBackupStore(await state.openKv(MANAGED_BACKUPS_BUCKET)), opts.managedBackupsUri);
  managed.startHousekeeping(() => leadership?.capabilities);
  const httpAuth = new HttpAuthenticator(certificates !== undefined, new ApiKeyStore(state.meta), audit);
  const managedApi = managedApiRoute({
    extraRoutes: CONSOLE_API_ROUTES,
    extraOpenApi: [CONSOLE_OPENAPI],
    clusterId,
    clusterName: `cairn-${clusterId.slice(0, 8)}`,
    auth: httpAuth,
    managed,
    leader: () => leadership?.capabilities,
    leaderHttpAddress: async () => {
      const current = await lease.current();
      return current && (await coordinators.list()).find((c) => c.coordinatorId === current.coordinatorId)?.httpAddress;
    },
    ...(certificates ? { leaderCa: () => certificates.certificates.ca } : {}),
    log: log.child({ component: 'managed-api' }),
  });
  const metrics = await startMetricsServer(m.host, m.port, registry, {
    ready: () => readiness.check(),
    routes: { [PROMETHEUS_SD_PATH]: prometheusSdRoute({ coordinators, nodes: state.nodes }), ...consolePages.routes },
    prefixRoutes: { ...consolePages.prefixRoutes, [MANAGED_API_PREFIX]: managedApi },
    // Secure mode: HTTPS with the node certificate; plaintext only for what needs no credentials.
    ...(certificates ? { tls: { options: () => ({ cert: certificates.certificates.cert, key: certificates.certificates.key }), openPaths: [PROMETHEUS_SD_PATH] } } : {}),
  });
  // What Prometheus and service discovery dial: by default the host others reach the gRPC API at.
  const metricsAddress = advertisedAddress(
    { host: splitHostPort(grpcAddress).host, port: splitHostPort(metrics.address).port },
    opts.advertiseHttpAddr,
  );
  // Registered so that any coordinator's service discovery lists this one for Prometheus.
  const locality = parseLocality(opts.locality ?? '');
  const startedAtMs = BigInt(Date.now());
  const registration = await coordinators.startHeartbeat(
    () => ({
      coordinatorId: id,
      httpAddress: metricsAddress,
      grpcAddress,
      startedAtMs,
      heartbeatAtMs: BigInt(Date.now()),
      buildVersion: 'cairn-0.1.0',
      locality,
    }),
    (err) => log.warn({ err }, 'coordinator heartbeat failed'),
  );

  let starting: Promise<void> = Promise.resolve();
  lease.on('elected', () => {
    starting = (async () => {
      log.info('elected leader');
      try {
        const started = await startLeader(nc, state, settings, id, log.child({ role: 'leader' }), jobMetrics, managed);
        leadership = started;
        // An append whose outcome is unknown (the NATS server died mid-publish) leaves this
        // leader's view of the log unreliable: start over, from the log's real end, with a
        // fresh election. Running jobs are adopted by whoever wins and resume from checkpoints.
        void started.leader.writer.whenBroken.then(async (err) => {
          if (leadership !== started) return;
          log.warn({ err }, 'write log broken; giving up leadership to start over');
          leadership = undefined;
          jobMetrics.attach(undefined);
          await started.leader.stop().catch(() => undefined);
          await lease.stop();
          lease.start();
        });
      } catch (err) {
        log.error({ err }, 'failed to start as leader; releasing the lease');
        await lease.stop();
        lease.start();
      }
    })();
  });
  lease.on('lost', (reason) => {
    log.warn({ reason }, 'lost leadership');
    const old = leadership;
    leadership = undefined;
    jobMetrics.attach(undefined);
    void old?.leader.stop();
  });
  lease.start();
  readiness.start();

  log.info(
    { clusterId, grpc: grpcAddress, listen: api.address, metrics: metricsAddress, httpListen: metrics.address, locality: opts.locality },
    'coordinator started',
  );
  return {
    id,
    clusterId,
    grpcAddress,
    listenAddress: api.address,
    metricsAddress,
    httpListenAddress: metrics.address,
    isLeader: () => leadership !== undefined,
    secure: certificates !== undefined,
    reloadCertificates: () => {
      if (!certificates) throw new CairnError(ErrorCode.FailedPrecondition, 'an insecure coordinator has no certificates to reload');
      const { notAfter } = certificates.reload();
      metrics.reloadTls();
      log.info({ certsDir: certificates.dir, notAfter }, 'reloaded node certificates');
      return { notAfter };
    },
    // A leader stops its Leader and then deletes the lease key, so a standby takes over at its
    // next lease tick instead of after the TTL; health says NOT_SERVING from the first moment.
    stop: async () => {
      readiness.drain();
      managed.stopHousekeeping();
      await registration.stop();
      await starting;
      await leadership?.leader.stop();
      leadership = undefined;
      await lease.stop();
      forwarder.close();
      await api.stop();
      readiness.stop();
      await metrics.close();
      await nc.drain().catch(() => undefined);
      log.info('coordinator stopped');
    },
  };
}
