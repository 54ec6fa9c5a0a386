import type { NatsConnection } from 'nats';
import { LogWriter, NodeRegistry, ProtectedTimestampStore, WorkQueue, ensureIngestStream, openSpanConfigs, type ClusterState } from '@cairn/cluster';
import { JobRegistry, JobStore } from '@cairn/jobs';
import type { Logger } from '@cairn/metrics';
import { ScheduleStore, scheduleIdGenerator } from '@cairn/schedules';
import { StagedIngest } from './backup/staged-ingest.js';
import { durationMs, type ClusterSettings } from './cluster-settings.js';
import type { CoordinatorMetrics } from './coordinator-metrics.js';
import { JOB_TYPES } from './jobs/job-types.js';
import { Leader, type LeaderParts } from './leader.js';
import type { LeaderCapabilities } from './leader-capabilities.js';
import { ProtectedTimestampReconciler } from './protected-ts/protected-ts-reconciler.js';
import { RangeDirectory } from './range-directory.js';
import { afterScheduledRun } from './schedules/after-scheduled-run.js';
import { PrivilegeStore } from './privileges/privilege-store.js';
import { SpanConfigReconciler } from './zones/span-config-reconciler.js';
import { scheduledBackupStarter } from './schedules/scheduled-backup-starter.js';
import { SchedulerDaemon } from './schedules/scheduler-daemon.js';
import { authorizeStatement } from './privileges/privilege-statements.js';
import { openSession } from './statements/session.js';
import type { ManagedBackups } from './managed/managed-backups.js';
import { ClusterRestoreGate } from './managed/restore-gate.js';
import { replicaCatchUp } from './backup/replica-catch-up.js';

/**
 * The one construction function of a leader: opens what is durable, builds every part,
 * registers each job type's resumer (its planner is reached through the same entry,
 * jobs/job-types.ts), and starts them in order (data plane, ingest, job
 * adoption, scheduler, protected timestamp reconciliation). Parts receive the capabilities
 * they use (leader-capabilities.ts); statements, services, the console and managed backups
 * get the leader's `LeaderCapabilities`, built here, and name the fields they use. Only this
 * function and the coordinator process hold the Leader itself (to start and stop it). Kept
 * apart from leader.ts so that the Leader's module imports none of the parts that use it.
 */
export async function startLeader(
  nc: NatsConnection,
  state: ClusterState,
  settings: ClusterSettings,
  coordinatorId: string,
  log: Logger,
  metrics?: CoordinatorMetrics,
  /** Managed backups (`--managed-backups-uri`): their schedules' runs are recorded, restores gated. */
  managed?: ManagedBackups,
): Promise<StartedLeader> {
  // What is durable opens side by side: right after a NATS server died, several of these
  // streams may be electing a leader at once, and waiting out each election in turn added
  // up to many seconds before the new leader served anything. Each step's time is logged.
  const timed = stepTimer();
  const [writer, ranges, jobStore, protectedTs, scheduleStore, workQueue, nodes, spanConfigs] = await Promise.all([
    timed('write log', () => LogWriter.open(state.js, state.jsm, nc.info?.max_payload)),
    timed('range directory', () => RangeDirectory.load(state.ranges)),
    timed('job store', () => JobStore.open(nc, { replicas: state.options.replicas })),
    timed('protected timestamps', () => ProtectedTimestampStore.open(state)),
    timed('schedules', () => ScheduleStore.open(nc, { replicas: state.options.replicas, mirror: true })),
    timed('work queue', () => WorkQueue.open(state)),
    timed('node directory', () => new NodeRegistry(state.nodes).watch(nc)),
    timed('span configs', () => openSpanConfigs(nc, state.options.replicas)),
    timed('ingest stream', () => ensureIngestStream(state.jsm, state.options.replicas)),
  ]);
  const jobs = new JobRegistry({
    store: jobStore,
    coordinatorId,
    logger: log.child({ component: 'jobs' }),
    ...(metrics ? { onEvent: metrics.onJobEvent } : {}),
  });
  metrics?.attach(jobs, protectedTs);
  const stagedIngest = new StagedIngest(nc, state.jsm, log);
  // Records of jobs that ended (or schedules dropped) without releasing them go; started after adoption.
  const ptsReconciler = new ProtectedTimestampReconciler(
    protectedTs,
    { getJob: (id) => jobs.get(id), scheduleExists: async (id) => (await scheduleStore.get(id)) !== undefined },
    log,
  );
  const restoreGate = new ClusterRestoreGate(jobs);
  for (const r of (await managed?.store.restores()) ?? []) if (r.eraseExisting) restoreGate.add(r.jobId);
  // Users, grants, schedules, settings and connections: read by BACKUP's planner, written by a cluster RESTORE.
  const clusterMetadata = {
    privileges: new PrivilegeStore(state.meta),
    schedules: scheduleStore,
    meta: state.meta,
    settings: state.settings,
    setSetting: (name: string, value: string) => settings.set(name, value),
    log,
  };
  const startScheduled = (l: Leader) => {
    const start = scheduledBackupStarter({
      planning: l,
      jobs,
      protectedTs,
      // `capabilities` is built right after the Leader; runs start only once the scheduler has.
      authorize: (owner, stmt) => authorizeStatement(openSession(capabilities, { database: '', user: owner }), stmt),
    });
    return async (runs: Parameters<typeof start>[0]) => {
      const outcomes = await start(runs);
      // A managed backup's record (what it holds, when it expires) is written as it is taken.
      // A failure here leaves the job without a record; the next leader writes it (onElected).
      for (const [i, run] of runs.entries()) {
        if (outcomes[i] !== undefined || !managed?.isManaged(run.schedule)) continue;
        await managed.recordStarted({ jobs }, run.jobId).catch((err: unknown) => log.warn({ err, jobId: run.jobId }, 'could not record a managed backup'));
      }
      return outcomes;
    };
  };
  const after = afterScheduledRun({ jobs, schedules: scheduleStore, protectedTs, log });
  const afterRun = async (...args: Parameters<typeof after>) => {
    await after(...args);
    if (managed?.isManaged(args[0])) await managed.afterRun(capabilities, args[1]);
  };
  const leader = new Leader({
    nc,
    state,
    settings,
    writer,
    ranges,
    jobs,
    workQueue,
    nodes,
    stagedIngest,
    ptsReconciler,
    clusterMetadata,
    log,
    scheduler: (l) =>
      new SchedulerDaemon({
        store: scheduleStore,
        jobs,
        startJobs: startScheduled(l),
        pollIntervalMs: () => durationMs(settings.get('jobs.scheduler.poll_interval')),
        isReady: () => l.ready,
        log: log.child({ component: 'scheduler' }),
        afterRun,
        ...(metrics ? { metrics } : {}),
      }),
  });
  const capabilities = leaderCapabilities(leader, { state, settings, jobs, scheduleStore, protectedTs, ranges, restoreGate, clusterMetadata, log });
  await timed('catalog', () => leader.begin());
  // Zone configurations (gc.ttlseconds) reach the nodes' GC as span configs.
  new SpanConfigReconciler({
    kv: spanConfigs,
    catalog: () => leader.catalog,
    isReady: () => leader.ready,
    isLeading: () => leader.writer.broken === undefined,
    log: log.child({ component: 'span-configs' }),
  }).start();
  const deps = {
    workQueue,
    storage: () => leader.storageContext(),
    protectedTs,
    descriptors: leader.descriptors,
    clusterMetadata,
    log,
    replicaCatchUp: replicaCatchUp(nc, ranges, () => leader.readPoint().seq),
    ...(managed ? { restoresInPlace: async (id: string) => (await managed.store.getRestore(id))?.eraseExisting === true } : {}),
  };
  for (const t of JOB_TYPES) jobs.registerResumer(t.type, (job) => t.resumer(job, deps));
  stagedIngest.serve((ref) => writer.append((ts) => ({ timestamp: ts, kind: { $case: 'ingest', value: ref } })));
  // Adopts every unfinished job, including those of a coordinator that died.
  await timed('job adoption', () => jobs.start());
  log.info({ steps: timed.steps }, 'leader ready');
  // Queues of jobs that succeeded just before a coordinator died (closed after `succeeded`).
  workQueue
    .closeFinishedJobs((id) => jobs.isOver(id))
    .then((closed) => closed.length > 0 && log.info({ component: 'jobs', jobIds: closed }, 'closed the work queues of finished jobs'))
    .catch((err: unknown) => log.warn({ component: 'jobs', err }, 'could not sweep the work queues of finished jobs'));
  leader.schedules.start();
  ptsReconciler.start();
  if (managed) void managed.onElected(capabilities);
  return { leader, capabilities };
}

/** A started leader: what the coordinator stops, and what its API and console serve requests with. */
export interface StartedLeader {
  readonly leader: Leader;
  readonly capabilities: LeaderCapabilities;
}

/**
 * The leader's capabilities, each a narrow view of one part. The live ones (catalog,
 * readiness, read point, writes, nodes, storage) are the Leader's own members behind their
 * interfaces; the rest are the parts startLeader built.
 */
function leaderCapabilities(
  leader: Leader,
  parts: Pick<LeaderParts, 'state' | 'settings' | 'jobs' | 'ranges' | 'clusterMetadata' | 'log'> & {
    scheduleStore: ScheduleStore;
    protectedTs: ProtectedTimestampStore;
    restoreGate: ClusterRestoreGate;
  },
): LeaderCapabilities {
  const ids = scheduleIdGenerator();
  return {
    readiness: leader,
    get catalog() {
      return leader.catalog;
    },
    reads: leader,
    writes: leader,
    descriptors: leader.descriptors,
    jobs: parts.jobs,
    schedules: { store: parts.scheduleStore, lock: leader.schedules.lock, wake: () => leader.schedules.wake(), ids },
    protectedTs: parts.protectedTs,
    settings: parts.settings,
    storage: leader,
    nodes: leader,
    ranges: parts.ranges,
    meta: parts.state.meta,
    privileges: parts.clusterMetadata.privileges,
    nodeCalls: { nc: leader.nc },
    restoreGate: parts.restoreGate,
    planning: leader,
    log: parts.log,
  };
}

/**
 * Times named start-up steps (concurrent ones too), so that a slow takeover says which part
 * of it was slow.
 */
function stepTimer(): (<T>(step: string, run: () => Promise<T>) => Promise<T>) & { steps: Record<string, number> } {
  const steps: Record<string, number> = {};
  const timed = async <T>(step: string, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await run();
    } finally {
      steps[step] = Math.round(performance.now() - started);
    }
  };
  return Object.assign(timed, { steps });
}
