import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir } from 'node:fs/promises';
import { Registry, Counter, Gauge, Histogram } from 'prom-client';
import { CairnError, ErrorCode } from '@cairn/errors';
import {
  ClusterState,
  NodeRegistry,
  ProtectedTimestampCache,
  LocalStagedBatches,
  RemoteNodelocalStorage,
  DirectUploadClient,
  DirectUploadRoute,
  DIRECT_UPLOAD_PATH,
  SettingsView,
  SpanConfigView,
  openSpanConfigs,
  WorkClaimer,
  serveNodelocal,
  HEARTBEAT_INTERVAL_MS,
  allocateId,
  connectNats,
  loadNodeCertificates,
  type NatsAuth,
  getOrCreate,
  parseLocality,
  serveNodeMethod,
  natsRetryLog,
  reportNatsRetries,
  type WorkContext,
} from '@cairn/cluster';
import { MvccStore } from '@cairn/mvcc';
import { LocalDirStorage, probeStorageUri, type StorageContext } from '@cairn/cloud';
import { join } from 'node:path';
import { advertisedAddress, collectProcessMetrics, createLogger, parseListenAddress, splitHostPort, startMetricsServer, type Logger } from '@cairn/metrics';
import {
  NodeAppliedRequest,
  NodeAppliedResponse,
  NodeExportRequest,
  NodeExportResponse,
  NodeFingerprintRequest,
  NodeFingerprintResponse,
  NodeGcThresholdRequest,
  NodeGcThresholdResponse,
  NodeMultiScanRequest,
  NodeMultiScanResponse,
  NodeStorageProbeRequest,
  NodeStorageProbeResponse,
  NodeRangeStatsRequest,
  NodeRangeStatsResponse,
  NodeScanRequest,
  NodeScanResponse,
  NodeSplitKeysRequest,
  NodeSplitKeysResponse,
  NodeStatsRequest,
  NodeStatsResponse,
  RangeUpdate,
} from '@cairn/proto';
import { AppliedPosition } from './applied-position.js';
import { NodeReadiness } from './node-readiness.js';
import { RangeTable } from './range-table.js';
import { ReplicaApplyLoop, META_APPLIED_SEQ, META_RANGES, decodeSeq, encodeSeq } from './replica-apply-loop.js';
import { ReplicaReads } from './replica-reads.js';
import { MvccGcLoop, logTimestampAt } from './mvcc-gc-loop.js';
import { processBackupItem, type ProcessorDeps } from './processors/backup-processor.js';
import { processRestoreItem } from './processors/restore-processor.js';

export interface NodeOptions {
  natsUrl: string;
  /** `region=us-east1,zone=us-east1-b` */
  locality: string;
  storeDir: string;
  /** host:port /metrics and /health bind; port 0 picks a free one (default 127.0.0.1:0). */
  httpAddr?: string;
  /** The host other processes reach this node at (nodes serve their RPC over NATS: no port). */
  advertiseHost?: string;
  /**
   * host[:port] recorded as the node's address (service discovery scrapes it); default: the
   * advertised host and the bound http port, else the bound http address.
   */
  advertiseHttpAddr?: string;
  /** On stop, how long in-flight work items may take before they are released (default 30 s). */
  drainTimeoutMs?: number;
  /** Replicas for the cluster's JetStream state; default: 3 on a NATS cluster of 3+ servers, else 1. */
  natsReplicas?: number;
  /** Credentials and TLS for NATS: in a secure deployment, the node's only network identity. */
  natsAuth?: NatsAuth;
  /**
   * Secure mode: ca.crt, node.crt and node.key, checked at start and on reload. They are the
   * node's identity on NATS when NATS runs TLS (the CLI makes them the --nats-tls-* defaults,
   * read again at each NATS (re)connection), and its HTTP port's certificate for the uploads
   * other nodes stream to its nodelocal:// (their chains checked against ca.crt).
   */
  certsDir?: string;
  logger?: Logger;
}

export interface RunningNode {
  nodeId: number;
  clusterId: string;
  /** The advertised /metrics and /health address (NodeRecord.address). */
  address: string;
  /** The bound /metrics and /health address. */
  httpListenAddress: string;
  /**
   * Checks the certificates directory again (SIGHUP): NATS reads the files at its next
   * connection. Throws when the new files are missing or do not match.
   */
  reloadCertificates(): { notAfter: string };
  /** Drains (heartbeat `draining`, in-flight work finished or released) and stops. */
  stop(): Promise<void>;
}

const META_CLUSTER_ID = 'cluster-id';
const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
const META_NODE_ID = 'node-id';

/** Starts a cairn node: its store, its replicas' apply loop, read endpoints and heartbeat. */
export async function startNode(opts: NodeOptions): Promise<RunningNode> {
  const log = opts.logger ?? createLogger('node');
  reportNatsRetries(natsRetryLog(log));
  // A bad --certs-dir fails before anything is opened.
  let certs = opts.certsDir !== undefined ? loadNodeCertificates(opts.certsDir) : undefined;
  const locality = parseLocality(opts.locality);
  await mkdir(opts.storeDir, { recursive: true });
  const store = await MvccStore.open(opts.storeDir);
  const cleanup: Array<() => Promise<void> | void> = [() => store.close()];
  try {
    const nc = await connectNats(opts.natsUrl, `cairn-node:${opts.storeDir}`, undefined, opts.natsAuth);
    cleanup.unshift(() => nc.drain().catch(() => undefined));
    const state = await ClusterState.open(nc, { replicas: opts.natsReplicas });

    // A store that already belongs to a cluster must not claim a fresh NATS as a new cluster:
    // check before creating anything.
    const storedCluster = store.getMeta(META_CLUSTER_ID);
    let clusterId: string;
    if (storedCluster) {
      clusterId = Buffer.from(storedCluster).toString();
      const entry = await state.meta.get('cluster-id');
      const natsCluster = entry && entry.operation === 'PUT' ? entry.string() : undefined;
      if (natsCluster !== clusterId) {
        throw new CairnError(
          ErrorCode.WrongCluster,
          `store ${opts.storeDir} belongs to cluster ${clusterId}, not to ${natsCluster ? `cluster ${natsCluster}` : 'the new cluster'} at ${opts.natsUrl}`,
        );
      }
    } else {
      clusterId = await getOrCreate(state.meta, 'cluster-id', () => randomUUID());
    }
    let nodeId = decodeSeq(store.getMeta(META_NODE_ID));
    if (nodeId === 0) {
      nodeId = await allocateId(state.meta, 'node', `${hostname()}:${opts.storeDir}`);
      await store.putMeta(META_CLUSTER_ID, Buffer.from(clusterId));
      await store.putMeta(META_NODE_ID, encodeSeq(nodeId));
    }
    const nodeLog = log.child({ nodeId });

    const storedRanges = store.getMeta(META_RANGES);
    const ranges = new RangeTable(nodeId, storedRanges ? RangeUpdate.decode(storedRanges).ranges : []);
    // Range sizes are counted per range as writes apply; the counters follow the stored table.
    await store.setStatsSpans(ranges.starts());
    const appliedSeq = decodeSeq(store.getMeta(META_APPLIED_SEQ));
    const applied = new AppliedPosition(appliedSeq, await logTimestampAt(state.jsm, appliedSeq));

    const registry = new Registry();
    collectProcessMetrics(registry, 'cairn_node_');
    new Gauge({
      name: 'cairn_node_applied_log_seq',
      help: 'Position of the last write-log entry applied to this node store',
      registers: [registry],
      collect() {
        this.set(applied.seq);
      },
    });
    new Gauge({
      name: 'cairn_node_replicas',
      help: 'Range replicas held by this node',
      registers: [registry],
      collect() {
        this.set(ranges.held().length);
      },
    });
    const readiness = new NodeReadiness({ nc, jsm: state.jsm, appliedSeq: () => applied.seq });
    const { host, port } = parseListenAddress(opts.httpAddr ?? '127.0.0.1:0');
    // Other nodes stream the files they write to this node's nodelocal:// here (over TLS with
    // the node's certificate in secure mode; /metrics and /health stay plaintext-readable).
    let address = '';
    const directUploads = new DirectUploadRoute(() => `${certs !== undefined ? 'https' : 'http'}://${address}`);
    const metrics = await startMetricsServer(host, port, registry, {
      ready: () => readiness.check(),
      prefixRoutes: { [DIRECT_UPLOAD_PATH]: directUploads.route },
      ...(certs !== undefined ? { tls: { options: () => ({ cert: certs!.cert, key: certs!.key }) } } : {}),
    });
    cleanup.unshift(() => metrics.close());
    address = advertisedAddress({ host: opts.advertiseHost ?? host, port: splitHostPort(metrics.address).port }, opts.advertiseHttpAddr);

    const reads = new ReplicaReads(nodeId, store, ranges, applied);
    const subs = [
      serveNodeMethod(nc, nodeId, 'scan', NodeScanRequest, NodeScanResponse, (r) => reads.scan(r)),
      serveNodeMethod(nc, nodeId, 'multiScan', NodeMultiScanRequest, NodeMultiScanResponse, (r) => reads.multiScan(r)),
      serveNodeMethod(nc, nodeId, 'export', NodeExportRequest, NodeExportResponse, (r) => reads.exportRevisions(r)),
      serveNodeMethod(nc, nodeId, 'fingerprint', NodeFingerprintRequest, NodeFingerprintResponse, (r) => reads.fingerprint(r)),
      serveNodeMethod(nc, nodeId, 'stats', NodeStatsRequest, NodeStatsResponse, (r) => reads.stats(r)),
      serveNodeMethod(nc, nodeId, 'rangeStats', NodeRangeStatsRequest, NodeRangeStatsResponse, async () => reads.rangeStats()),
      serveNodeMethod(nc, nodeId, 'splitKeys', NodeSplitKeysRequest, NodeSplitKeysResponse, (r) => reads.splitKeys(r)),
      serveNodeMethod(nc, nodeId, 'gcThreshold', NodeGcThresholdRequest, NodeGcThresholdResponse, (r) => reads.gcThreshold(r)),
      serveNodeMethod(nc, nodeId, 'applied', NodeAppliedRequest, NodeAppliedResponse, (r) => reads.appliedPosition(r)),
    ];
    cleanup.unshift(() => subs.forEach((s) => s.unsubscribe()));

    // nodelocal://<this node>/... lives in <store>/extern, as CockroachDB's extern dir.
    const externDir = join(opts.storeDir, 'extern');
    await mkdir(externDir, { recursive: true });
    const externSub = serveNodelocal(nc, nodeId, new LocalDirStorage(externDir), directUploads);
    cleanup.unshift(() => externSub.unsubscribe());
    const uploadBytes = new Counter({
      name: 'cairn_nodelocal_upload_bytes_total',
      help: "Bytes this node wrote to other nodes' nodelocal://, by the way they went (http: straight to the node; nats: relayed as messages, where the node's HTTP port could not be reached)",
      labelNames: ['via'],
      registers: [registry],
    });
    const uploadClient = new DirectUploadClient({ ca: () => certs?.ca, onUploaded: (via, bytes) => uploadBytes.inc({ via }, bytes) });
    const storage: StorageContext = {
      nodeId,
      nodelocalDir: externDir,
      remoteNodelocal: (n, base) => new RemoteNodelocalStorage(nc, n, base, uploadClient),
      resolveExternalConnection: async (name) => {
        const e = await state.meta.get(`external-connection.${name}`);
        if (!e || e.operation !== 'PUT') throw new CairnError(ErrorCode.UndefinedObject, `external connection "${name}" does not exist`);
        return e.string();
      },
    };
    // CHECK EXTERNAL CONNECTION: the probe runs here, with this node's credentials and network.
    const probeSub = serveNodeMethod(nc, nodeId, 'probeStorage', NodeStorageProbeRequest, NodeStorageProbeResponse, async (r) => {
      const p = await probeStorageUri(r.uri, storage, Number(r.transferBytes), `node${String(nodeId)}`);
      return { ...p, transferredBytes: BigInt(p.transferredBytes) };
    });
    cleanup.unshift(() => probeSub.unsubscribe());
    const bytesWritten = new Counter({
      name: 'cairn_backup_bytes_written_total',
      help: 'Bytes of backup data files this node wrote, by destination locality',
      labelNames: ['locality'],
      registers: [registry],
    });
    const filesWritten = new Counter({
      name: 'cairn_backup_files_written_total',
      help: 'Backup data files this node wrote, by destination locality',
      labelNames: ['locality'],
      registers: [registry],
    });
    const workItems = new Counter({
      name: 'cairn_work_items_total',
      help: 'Work items this node processed, by kind and outcome (ok, error)',
      labelNames: ['kind', 'outcome'],
      registers: [registry],
    });
    const redeliveries = new Counter({
      name: 'cairn_work_redeliveries_total',
      help: 'Work items this node claimed that had been delivered before (another node died or failed)',
      labelNames: ['kind'],
      registers: [registry],
    });
    const workDuration = new Histogram({
      name: 'cairn_work_item_duration_seconds',
      help: 'Time to export (backup) or restore one span',
      labelNames: ['kind'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    });
    // Shared by this node's restore processors (which stage batches) and its replica (which loads them).
    const stagedHere = new LocalStagedBatches();
    const deps: ProcessorDeps = {
      nodeId,
      locality,
      store,
      ranges,
      applied,
      nc,
      storage,
      onFileWritten: (bytes, loc) => {
        bytesWritten.labels(loc).inc(bytes);
        filesWritten.labels(loc).inc();
      },
      stagedHere,
    };
    /** Runs a processor with its metrics and a log line per item. */
    const instrumented =
      (kind: string, run: (payload: Uint8Array, ctx: WorkContext) => Promise<Uint8Array>) =>
      async (payload: Uint8Array, ctx: WorkContext): Promise<Uint8Array> => {
        if (ctx.attempt > 1) redeliveries.labels(kind).inc();
        const end = workDuration.labels(kind).startTimer();
        try {
          const out = await run(payload, ctx);
          workItems.labels(kind, 'ok').inc();
          nodeLog.info({ kind, jobId: ctx.jobId, itemId: ctx.itemId, attempt: ctx.attempt, seconds: end() }, 'work item done');
          return out;
        } catch (err) {
          workItems.labels(kind, 'error').inc();
          end();
          throw err;
        }
      };
    const claimer = new WorkClaimer(state, {
      nodeId,
      locality,
      handlers: {
        backup: instrumented('backup', (payload, ctx) => processBackupItem(deps, payload, ctx)),
        restore: instrumented('restore', (payload, ctx) => processRestoreItem(deps, payload, ctx)),
      },
      onError: (err, ctx) => nodeLog.warn({ err, jobId: ctx.jobId, itemId: ctx.itemId, attempt: ctx.attempt }, 'work item failed'),
    });

    const loop = new ReplicaApplyLoop(nodeId, nc, state.js, store, ranges, applied, nodeLog, stagedHere);
    loop.start();
    cleanup.unshift(() => loop.stop());

    const settings = await SettingsView.open(nc, state.settings);
    cleanup.unshift(() => settings.stop());
    const protectedTimestamps = await ProtectedTimestampCache.watch(state, (err) => nodeLog.warn({ err }, 'unreadable protected timestamp record'));
    cleanup.unshift(() => protectedTimestamps.stop());
    const gcRemoved = new Counter({
      name: 'cairn_node_gc_removed_revisions_total',
      help: 'MVCC revisions this node garbage-collected (older than gc.ttlseconds and not protected)',
      registers: [registry],
    });
    // Tables' own GC TTLs (zone configurations), as the leader derives them from the catalog.
    const spanConfigs = await SpanConfigView.open(nc, await openSpanConfigs(nc, state.options.replicas));
    cleanup.unshift(() => spanConfigs.stop());
    const gc = new MvccGcLoop({
      store,
      ranges,
      applied,
      settings,
      protectedTimestamps,
      tableGcTtlSeconds: (id) => spanConfigs.gcTtlSecondsForTable(id),
      log: nodeLog,
      onRound: (r) => gcRemoved.inc(r.removed),
    });
    gc.start();
    cleanup.unshift(() => gc.stop());

    await claimer.start();
    cleanup.unshift(() => claimer.stop());

    const nodes = new NodeRegistry(state.nodes);
    const startedAtMs = Date.now();
    const heartbeat = async () =>
      nodes.put({
        nodeId,
        address,
        locality,
        startedAtMs: BigInt(startedAtMs),
        heartbeatAtMs: BigInt(Date.now()),
        ranges: ranges.held().length,
        appliedSeq: BigInt(applied.seq),
        draining: readiness.isDraining,
        buildVersion: 'cairn-0.1.0',
      });
    await heartbeat();
    readiness.joined();
    // One heartbeat at a time: through a NATS failover a put retries for seconds, and ticks
    // that started their own beside it piled up a dozen concurrent retries of stale records.
    let beating = false;
    const timer = setInterval(() => {
      if (beating) return;
      beating = true;
      heartbeat()
        .catch((err: unknown) => nodeLog.warn({ err }, 'heartbeat failed'))
        .finally(() => {
          beating = false;
        });
    }, HEARTBEAT_INTERVAL_MS);
    cleanup.unshift(async () => {
      clearInterval(timer);
      await heartbeat().catch(() => undefined);
    });

    nodeLog.info({ clusterId, locality: opts.locality, address, httpListen: metrics.address, appliedSeq: applied.seq }, 'node started');
    return {
      nodeId,
      clusterId,
      address,
      httpListenAddress: metrics.address,
      reloadCertificates: () => {
        if (opts.certsDir === undefined) throw new CairnError(ErrorCode.FailedPrecondition, 'an insecure node has no certificates to reload');
        certs = loadNodeCertificates(opts.certsDir);
        metrics.reloadTls();
        const { notAfter } = certs;
        nodeLog.info({ certsDir: opts.certsDir, notAfter }, 'node certificates reloaded: the HTTP port now, NATS from its next connection');
        return { notAfter };
      },
      stop: async () => {
        // Drain first: say so (service discovery drops the node, probes fail), claim no more
        // work, let what runs finish within the timeout and hand the rest back at once. The
        // node keeps applying the log and serving reads meanwhile: other nodes' work may
        // still read its replicas.
        readiness.drain();
        const drainTimeoutMs = opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
        const drainStarted = Date.now();
        const inFlight = claimer.busy;
        // Stops claiming at once, before the heartbeat's round trip could let one more in.
        const drained = claimer.drain(drainTimeoutMs);
        nodeLog.info({ drainTimeoutMs, inFlight }, 'draining');
        await heartbeat().catch((err: unknown) => nodeLog.warn({ err }, 'draining heartbeat failed'));
        await drained;
        nodeLog.info({ ms: Date.now() - drainStarted }, 'drained: no work item in hand');
        for (const c of cleanup) await c();
        nodeLog.info('node stopped');
      },
    };
  } catch (err) {
    for (const c of cleanup) await Promise.resolve(c()).catch(() => undefined);
    throw err;
  }
}
