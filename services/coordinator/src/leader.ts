import type { NatsConnection } from 'nats';
import type { StagedIngest } from './backup/staged-ingest.js';
import type { SchedulerDaemon } from './schedules/scheduler-daemon.js';
import type { ProtectedTimestampReconciler } from './protected-ts/protected-ts-reconciler.js';
import { CairnError, ErrorCode } from '@cairn/errors';
import type { ClusterState } from '@cairn/cluster';
import {
  RemoteNodelocalStorage,
  isLive,
  type LogWriter,
  type NodeDirectory,
  type WorkQueue,
} from '@cairn/cluster';
import type { StorageContext } from '@cairn/cloud';
import { Catalog, decodeDescriptor, descriptorSpan } from '@cairn/catalog';
import { FIRST_USER_ID } from '@cairn/keys';
import type { Logger } from '@cairn/metrics';
import type { JobRegistry } from '@cairn/jobs';
import type { Descriptor, KeyValueOp, NodeRecord, RangeDescriptor } from '@cairn/proto';
import type { ClusterSettings } from './cluster-settings.js';
import type { RangeDirectory } from './range-directory.js';
import { ReplicaReader } from './replica-reader.js';
import { WriteLock } from './write-lock.js';
import { ensureDefaultDatabases } from './catalog/default-databases.js';
import { DescriptorWriter } from './catalog/descriptor-writer.js';
import type { ClusterMetadataStores } from './backup/cluster-metadata.js';
import type { BackupPlanning, KeyReads, KeyWrites, NodeView, Readiness, RestorePlanning, StorageResolver } from './leader-capabilities.js';

const MAINTENANCE_INTERVAL_MS = 1000;
/**
 * An idle log gets an empty entry this often. Nodes tell time by the leader-stamped entries
 * they apply (it is what their GC threshold moves with), so time must pass in the log too.
 */
const IDLE_LOG_TICK_MS = 10_000;

/** What a Leader is made of; `startLeader` (start-leader.ts) builds every part. */
export interface LeaderParts {
  readonly nc: NatsConnection;
  readonly state: ClusterState;
  readonly settings: ClusterSettings;
  readonly writer: LogWriter;
  readonly ranges: RangeDirectory;
  readonly jobs: JobRegistry;
  readonly workQueue: WorkQueue;
  readonly nodes: NodeDirectory;
  readonly stagedIngest: StagedIngest;
  readonly ptsReconciler: ProtectedTimestampReconciler;
  /** The scheduler needs the leader it serves (readiness, starting runs): built from it. */
  readonly scheduler: (leader: Leader) => SchedulerDaemon;
  /** Users, grants, schedules, settings and connections: what a cluster backup takes and restores. */
  readonly clusterMetadata: ClusterMetadataStores;
  readonly log: Logger;
}

/**
 * Everything the coordinator leader owns while it holds the lease: the single log writer,
 * the range directory, the catalog and the read router. A new Leader is built at each
 * election from what is durable (log tail, ranges bucket, descriptors in the keyspace), by
 * `startLeader`; every field is set by the constructor. It implements the narrow
 * capabilities (leader-capabilities.ts) that startLeader hands to planners, statements and
 * services; only startLeader and the coordinator process (which stops it) hold the Leader.
 */
export class Leader implements BackupPlanning, RestorePlanning, Readiness, KeyReads, KeyWrites, NodeView, StorageResolver {
  readonly writeLock = new WriteLock();
  private loadedCatalog = new Catalog();
  readonly nc: NatsConnection;
  private readonly state: ClusterState;
  readonly settings: ClusterSettings;
  readonly writer: LogWriter;
  readonly ranges: RangeDirectory;
  private readonly jobs: JobRegistry;
  private readonly workQueue: WorkQueue;
  private readonly log: Logger;
  private readonly nodes: NodeDirectory;
  private readonly stagedIngest: StagedIngest;
  readonly schedules: SchedulerDaemon;
  private readonly ptsReconciler: ProtectedTimestampReconciler;
  private timer: NodeJS.Timeout | undefined;
  private catalogLoaded = false;
  private maintaining = false;
  private nextDescriptorId = FIRST_USER_ID;
  readonly reader: ReplicaReader;
  /** The one path for schema changes (lock, write descriptors, apply to the catalog). */
  readonly descriptors: DescriptorWriter;
  readonly clusterMetadata: ClusterMetadataStores;

  constructor(parts: LeaderParts) {
    this.nc = parts.nc;
    this.state = parts.state;
    this.settings = parts.settings;
    this.writer = parts.writer;
    this.ranges = parts.ranges;
    this.jobs = parts.jobs;
    this.workQueue = parts.workQueue;
    this.log = parts.log;
    this.nodes = parts.nodes;
    this.stagedIngest = parts.stagedIngest;
    this.ptsReconciler = parts.ptsReconciler;
    this.clusterMetadata = parts.clusterMetadata;
    this.reader = new ReplicaReader(parts.nc, parts.ranges, () => new Set(this.liveNodes().map((n) => n.nodeId)));
    this.descriptors = new DescriptorWriter({
      writeLock: this.writeLock,
      write: (ops) => this.write(ops),
      catalog: () => this.catalog,
      allocateDescriptorId: () => this.allocateDescriptorId(),
      splitAt: (keys) => this.splitAt(keys),
    });
    this.schedules = parts.scheduler(this);
  }

  /**
   * Starts leading the data plane: re-announces the range directory, then maintains it (and
   * loads the catalog) every second. Jobs, the scheduler and ingest are started by `startLeader`.
   */
  async begin(): Promise<void> {
    if (this.ranges.isBootstrapped) {
      // Re-announce the directory: the previous leader may have died between publishing a
      // range change and saving it, and replicas must agree with what we now believe.
      await this.publishRanges([...this.ranges.all()]);
    }
    this.timer = setInterval(() => void this.maintain(), MAINTENANCE_INTERVAL_MS);
    await this.maintain();
  }

  /** Stops acting as leader: running jobs are left as they are, for the next leader to adopt. */
  async stop(): Promise<void> {
    // First, and synchronously: nothing of this leader's may reach the log any more. A
    // successor (possibly this very process) reads the log's end as soon as it is elected;
    // an entry this writer re-sent after that would land behind its back.
    this.writer.close();
    this.stagedIngest.stop();
    this.schedules.stop();
    await this.ptsReconciler.stop();
    if (this.timer) clearInterval(this.timer);
    this.nodes.stop();
    await this.jobs.stop();
    this.workQueue.close();
  }

  /** The live catalog: replaced once when the leader loads it, then changed in place by the descriptor writer. */
  get catalog(): Catalog {
    return this.loadedCatalog;
  }

  get ready(): boolean {
    return this.catalogLoaded && this.writer.broken === undefined;
  }

  /** Throws a retryable error until the leader can serve statements. */
  assertReady(): void {
    if (this.writer.broken) throw this.writer.broken;
    if (!this.ranges.isBootstrapped) {
      throw new CairnError(ErrorCode.Unavailable, 'cluster is not initialized yet: waiting for a node to join', { retryable: true });
    }
    if (!this.catalogLoaded) {
      throw new CairnError(ErrorCode.Unavailable, 'cluster is starting: catalog not loaded yet', { retryable: true });
    }
  }

  liveNodes(): NodeRecord[] {
    const now = Date.now();
    return this.nodes.list().filter((n) => isLive(n, now));
  }

  allNodes(): NodeRecord[] {
    return this.nodes.list();
  }

  /** A timestamp above every write so far, and the log position a read at it must wait for. */
  readPoint(): { timestamp: bigint; seq: number } {
    return { timestamp: this.writer.now(), seq: this.writer.assignedSeq };
  }

  /** Appends one atomic batch of key writes; resolves with its timestamp once it is durable. */
  async write(ops: KeyValueOp[]): Promise<bigint> {
    return (await this.appendWrite(ops)).timestamp;
  }

  /**
   * Like `write`, but returns as soon as the batch has its place in the log (call under the
   * write lock, then await `stored` outside it so writers pipeline).
   */
  appendWrite(ops: KeyValueOp[]): { timestamp: bigint; stored: Promise<bigint> } {
    const { timestamp, stored } = this.writer.append((ts) => ({ timestamp: ts, kind: { $case: 'write', value: { ops } } }));
    return { timestamp, stored: stored.then(() => timestamp) };
  }

  /** How the coordinator reaches storage: nodelocal:// through the node that owns it. */
  storageContext(): StorageContext {
    return {
      remoteNodelocal: (nodeId, base) => new RemoteNodelocalStorage(this.nc, nodeId, base),
      resolveExternalConnection: async (name) => {
        const e = await this.state.meta.get(`external-connection.${name}`);
        if (!e || e.operation !== 'PUT') throw new CairnError(ErrorCode.UndefinedObject, `external connection "${name}" does not exist`);
        return e.string();
      },
    };
  }

  /** The catalog as it was at `ts`, read from the descriptors in the keyspace. */
  async catalogAt(ts: bigint, seq: number): Promise<Catalog> {
    const ds: Descriptor[] = [];
    for await (const kv of this.reader.scan(descriptorSpan(), ts, seq)) ds.push(decodeDescriptor(kv.value));
    return Catalog.fromDescriptors(ds);
  }

  allocateDescriptorId(): number {
    return this.nextDescriptorId++;
  }

  /** Splits ranges at the given keys (table boundaries) and publishes the change. */
  private async splitAt(keys: Uint8Array[]): Promise<void> {
    const changed = this.ranges.splitAtKeys(keys);
    if (changed.length > 0) await this.publishRanges(changed);
  }

  private async publishRanges(changed: RangeDescriptor[]): Promise<void> {
    const { stored } = this.writer.append((ts) => ({ timestamp: ts, kind: { $case: 'rangeUpdate', value: { ranges: changed } } }));
    await stored;
    await this.ranges.persist(changed);
  }

  /** Periodic work: bootstrap, replication, size-based splits, catalog load. */
  private async maintain(): Promise<void> {
    if (this.maintaining || this.writer.broken) return;
    this.maintaining = true;
    try {
      const live = this.liveNodes();
      const rf = this.settings.getNumber('kv.replication_factor');
      if (!this.ranges.isBootstrapped) {
        if (live.length === 0) return;
        const initial = this.ranges.bootstrap(live, rf);
        await this.publishRanges(initial);
        this.log.info({ ranges: initial.length, replicas: initial[0]?.replicas }, 'cluster bootstrapped');
      }
      const upreplicated = this.ranges.upreplicate(live, rf);
      if (upreplicated.length > 0) {
        await this.publishRanges(upreplicated);
        this.log.info({ ranges: upreplicated.map((r) => [r.rangeId, r.replicas]) }, 'ranges upreplicated');
      }
      if (!this.catalogLoaded) await this.loadCatalog();
      if (!this.defaultDatabasesChecked) {
        const created = await ensureDefaultDatabases({ descriptors: this.descriptors, meta: this.state.meta });
        if (created.length > 0) this.log.info({ databases: created }, 'default databases created');
        this.defaultDatabasesChecked = true;
      }
      if (Date.now() - this.writer.lastAppendAtMs >= IDLE_LOG_TICK_MS) await this.appendWrite([]).stored;
      // Every tick: the sizes come from counters the nodes keep, so a check costs one small
      // request per node, and a load is split as it grows rather than seconds behind.
      await this.splitLargeRanges();
      await this.stagedIngest?.purgeApplied(live);
    } catch (err) {
      this.log.warn({ err }, 'leader maintenance failed; will retry');
    } finally {
      this.maintaining = false;
    }
  }

  /** Ranges over the maximum that had no key to split at, and their size then. */
  private readonly unsplittable = new Map<number, { generation: number; bytes: number }>();

  /** Whether this leader has made sure the cluster got defaultdb and postgres once. */
  private defaultDatabasesChecked = false;

  private async loadCatalog(): Promise<void> {
    const { timestamp, seq } = this.readPoint();
    const ds: Descriptor[] = [];
    for await (const kv of this.reader.scan(descriptorSpan(), timestamp, seq)) ds.push(decodeDescriptor(kv.value));
    this.loadedCatalog = Catalog.fromDescriptors(ds);
    this.nextDescriptorId = Math.max(FIRST_USER_ID, this.loadedCatalog.maxId() + 1);
    this.catalogLoaded = true;
    this.log.info({ descriptors: ds.length }, 'catalog loaded');
  }

  /**
   * Size-based splits. Every live node reports the sizes of the ranges it holds from the
   * counters its store keeps as writes apply (it scans nothing); a range over
   * `kv.range.max_bytes` is cut into pieces of about half the maximum in one go (halved when
   * just over it), with split keys from one pass over it on the replica that reported it, so
   * a range a bulk load or a restore made many times too big is caught up with in one check,
   * not halved once a check.
   */
  private async splitLargeRanges(): Promise<void> {
    const maxBytes = this.settings.getNumber('kv.range.max_bytes');
    const sizes = await this.rangeSizes();
    for (const r of [...this.ranges.all()]) {
      const size = sizes.get(r.rangeId);
      if (size === undefined || size.bytes <= maxBytes) continue;
      // A range with no key to cut at (one key's long history) is not read again each tick,
      // only once it has grown by a tenth.
      const unsplittable = this.unsplittable.get(r.rangeId);
      if (unsplittable !== undefined && unsplittable.generation === r.generation && size.bytes < unsplittable.bytes * 1.1) continue;
      const pieces = Math.max(2, Math.round(size.bytes / (maxBytes / 2)));
      let keys: Uint8Array[];
      try {
        keys = await this.reader.splitKeys(r, size.bytes / pieces, pieces - 1, size.nodeId);
      } catch (err) {
        this.log.warn({ err, rangeId: r.rangeId }, 'cannot find split keys; will retry');
        continue;
      }
      if (keys.length === 0) {
        this.unsplittable.set(r.rangeId, { generation: r.generation, bytes: size.bytes });
        continue;
      }
      this.unsplittable.delete(r.rangeId);
      await this.splitAt(keys);
      this.log.info({ rangeId: r.rangeId, bytes: size.bytes, pieces: keys.length + 1 }, 'range split by size');
    }
  }

  /**
   * Each range's size, as the live replica that has applied its current descriptor and holds
   * the most bytes of it reports it (replicas differ by what their GC has collected yet).
   * A node that does not answer is left out of this check.
   */
  private async rangeSizes(): Promise<Map<number, { bytes: number; nodeId: number }>> {
    const generations = new Map(this.ranges.all().map((r) => [r.rangeId, r.generation]));
    const answers = await Promise.all(
      this.liveNodes().map(async (n) => ({ nodeId: n.nodeId, res: await this.reader.rangeStats(n.nodeId).catch(() => undefined) })),
    );
    const sizes = new Map<number, { bytes: number; nodeId: number }>();
    for (const { nodeId, res } of answers) {
      for (const s of res?.ranges ?? []) {
        if (generations.get(s.rangeId) !== s.generation) continue;
        const bytes = Number(s.bytes);
        if ((sizes.get(s.rangeId)?.bytes ?? -1) < bytes) sizes.set(s.rangeId, { bytes, nodeId });
      }
    }
    return sizes;
  }
}
