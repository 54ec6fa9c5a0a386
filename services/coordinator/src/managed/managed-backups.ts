import { CairnError, ErrorCode } from '@cairn/errors';
import { Catalog, decodeDescriptor } from '@cairn/catalog';
import { isTerminalStatus, type Job, type JobRegistry } from '@cairn/jobs';
import { ObjectKind } from '@cairn/proto';
import { parseStorageUri } from '@cairn/cloud';
import type { BackupSchedule } from '@cairn/schedules';
import { quoteString, redactUri } from '@cairn/sql';
import { decodeBackupDetails } from '../jobs/job-details.js';
import type { LeaderCapabilities } from '../leader-capabilities.js';
import { executeSql } from '../statements/execute.js';
import { WriteLock } from '../write-lock.js';
import { FREQUENCY_MINUTES, RETENTION_DAYS } from './allowed-values.js';
import type { ManagedBackupRecord, ManagedBackupStore, ManagedBackupsConfig } from './managed-backup-store.js';
import { deleteExpiredChains } from './managed-expiry.js';

/** What reading a managed backup's job takes: the leader's job registry. */
type JobLookup = { readonly jobs: Pick<JobRegistry, 'get'> };
/** What deleting expired chains takes: storage and a logger. */
type ExpiryRunner = Pick<LeaderCapabilities, 'storage' | 'log'>;

/** The label of the managed schedules (reserved: a schedule with it is taken for a managed one). */
export const MANAGED_SCHEDULE_LABEL = 'cairn-managed-backups';

const DAY_MS = 86_400_000;

/** Refuses a `--managed-backups-uri` that is not a storage URI cairn can write to. */
export function checkManagedBackupsUri(uri: string): void {
  try {
    parseStorageUri(uri);
  } catch (err) {
    throw new CairnError(ErrorCode.InvalidArgument, `invalid --managed-backups-uri: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** The configuration as the API shows it. */
export interface BackupsConfigView {
  enabled: boolean;
  frequency_minutes: number;
  retention_days: number;
  retention_modifiable: boolean;
  collection_uri: string | null;
}

/** A PATCH body, checked. */
export interface BackupsConfigChange {
  enabled?: boolean;
  frequency_minutes?: number;
  retention_days?: number;
}

/**
 * The incremental cadence (RECURRING) and the full cadence that meet a frequency: fulls daily
 * (so a chain is never older than a day and no retention choice strands incrementals), every
 * backup a full at the daily frequency. The type is cairn's choice, as in CockroachDB Cloud.
 */
export function schedulePlan(frequencyMinutes: number): { recurring: string; full: string } {
  switch (frequencyMinutes) {
    case 5:
    case 10:
    case 30:
      return { recurring: `*/${frequencyMinutes} * * * *`, full: "'@daily'" };
    case 60:
      return { recurring: '@hourly', full: "'@daily'" };
    case 240:
      return { recurring: '0 */4 * * *', full: "'@daily'" };
    case 1440:
      return { recurring: '@daily', full: 'ALWAYS' };
    default:
      throw new CairnError(ErrorCode.InvalidArgument, `frequency_minutes must be one of ${FREQUENCY_MINUTES.join(', ')}`);
  }
}

/** Checks a PATCH body: known fields, allowed values (a 400 naming them). */
export function parseConfigChange(body: unknown): BackupsConfigChange {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new CairnError(ErrorCode.InvalidArgument, 'the body must be a JSON object with enabled, frequency_minutes and/or retention_days');
  }
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !['enabled', 'frequency_minutes', 'retention_days'].includes(k));
  if (unknown.length > 0) {
    throw new CairnError(ErrorCode.InvalidArgument, `unknown field ${unknown.map((k) => `"${k}"`).join(', ')}: allowed fields are enabled, frequency_minutes, retention_days`);
  }
  const out: BackupsConfigChange = {};
  if (b['enabled'] !== undefined) {
    if (typeof b['enabled'] !== 'boolean') throw new CairnError(ErrorCode.InvalidArgument, 'enabled must be true or false');
    out.enabled = b['enabled'];
  }
  if (b['frequency_minutes'] !== undefined) {
    const f = b['frequency_minutes'];
    if (typeof f !== 'number' || !(FREQUENCY_MINUTES as readonly number[]).includes(f)) {
      throw new CairnError(ErrorCode.InvalidArgument, `frequency_minutes ${JSON.stringify(f)} is not allowed: allowed values are ${FREQUENCY_MINUTES.join(', ')}`);
    }
    out.frequency_minutes = f;
  }
  if (b['retention_days'] !== undefined) {
    const r = b['retention_days'];
    if (typeof r !== 'number' || !(RETENTION_DAYS as readonly number[]).includes(r)) {
      throw new CairnError(ErrorCode.InvalidArgument, `retention_days ${JSON.stringify(r)} is not allowed: allowed values are ${RETENTION_DAYS.join(', ')}`);
    }
    out.retention_days = r;
  }
  return out;
}

/** Applies a change to a configuration; refuses a second retention change as Cloud does. */
export function applyConfigChange(c: ManagedBackupsConfig, change: BackupsConfigChange): ManagedBackupsConfig {
  const retentionDays = change.retention_days ?? c.retentionDays;
  if (retentionDays !== c.retentionDays && c.retentionChanged) {
    throw new CairnError(
      ErrorCode.FailedPrecondition,
      `retention can be set once and was already changed to ${c.retentionDays} days; it cannot be changed again`,
    );
  }
  return {
    version: 1,
    enabled: change.enabled ?? c.enabled,
    frequencyMinutes: change.frequency_minutes ?? c.frequencyMinutes,
    retentionDays,
    retentionChanged: c.retentionChanged || retentionDays !== c.retentionDays,
  };
}

/** A backup as the API lists it. */
export interface BackupView {
  id: string;
  as_of_time: string;
  status: 'IN_PROGRESS' | 'COMPLETE';
  type: 'FULL' | 'INCREMENTAL';
  expires_at: string;
  database_count: number;
  full_backup_id: string;
}

/** A backup job that has not (or not yet) succeeded, as the Incomplete Backups tab shows it. */
export interface IncompleteBackupView {
  job_id: string;
  status: 'PENDING' | 'RUNNING' | 'PAUSED' | 'FAILED' | 'CANCELED';
  started_at: string;
  duration_seconds: number;
  error_code: string | null;
  error_message: string | null;
  description: string;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function incompleteStatus(job: Job | undefined, record: ManagedBackupRecord): IncompleteBackupView['status'] | undefined {
  if (job === undefined) return record.outcome === 'FAILED' ? 'FAILED' : undefined;
  switch (job.status) {
    case 'succeeded':
      return undefined;
    case 'pending':
      return 'PENDING';
    case 'running':
    case 'pause-requested':
      return 'RUNNING';
    case 'paused':
      return 'PAUSED';
    case 'canceled':
    case 'cancel-requested':
      return 'CANCELED';
    default:
      return 'FAILED';
  }
}

/**
 * Managed backups on the leader: the configuration and its schedules, the records each
 * managed backup leaves (with the expiry fixed when it is taken), and the listings the API
 * serves. Built by the coordinator process with the bucket and the collection; every method
 * takes the Leader it runs on, since leadership changes under a long-lived coordinator.
 */
export class ManagedBackups {
  constructor(
    readonly store: ManagedBackupStore,
    /** `--managed-backups-uri`; undefined: managed backups cannot be enabled here. */
    readonly collectionUri: string | undefined,
    private readonly clock: () => number = Date.now,
  ) {}

  view(c: ManagedBackupsConfig): BackupsConfigView {
    return {
      enabled: c.enabled,
      frequency_minutes: c.frequencyMinutes,
      retention_days: c.retentionDays,
      retention_modifiable: !c.retentionChanged,
      collection_uri: this.collectionUri === undefined ? null : redactUri(this.collectionUri),
    };
  }

  async getConfig(): Promise<BackupsConfigView> {
    return this.view((await this.store.readConfig()).config);
  }

  /**
   * PATCH: stores the new configuration, then puts the schedules in step with it. Enabling, or
   * a new frequency or retention while enabled, takes a full backup at once (Cloud's rule:
   * "following a change ... the cluster will take a full backup immediately").
   */
  async updateConfig(leader: LeaderCapabilities, change: BackupsConfigChange): Promise<BackupsConfigView> {
    // Stored and applied under one lock, so schedules are made from the newest configuration.
    return this.configLock.run(() => this.applyChange(leader, change));
  }

  private readonly configLock = new WriteLock();

  private async applyChange(leader: LeaderCapabilities, change: BackupsConfigChange): Promise<BackupsConfigView> {
    const { before, after } = await this.store.updateConfig((c) => {
      const next = applyConfigChange(c, change);
      // Without a collection this leader could only drop the schedules, silently stopping backups.
      if (next.enabled && this.collectionUri === undefined) {
        throw new CairnError(ErrorCode.FailedPrecondition, 'managed backups need a collection: start the coordinators with --managed-backups-uri');
      }
      return next;
    });
    const changed = before.enabled !== after.enabled || before.frequencyMinutes !== after.frequencyMinutes || before.retentionDays !== after.retentionDays;
    if (changed) await this.reconcile(leader, after, { force: true });
    leader.log.info({ before, after }, 'managed backup configuration changed');
    return this.view(after);
  }

  /** The managed schedules (full first), as stored. */
  async schedules(leader: Pick<LeaderCapabilities, 'schedules'>): Promise<BackupSchedule[]> {
    return (await leader.schedules.store.findByLabel(MANAGED_SCHEDULE_LABEL)).sort((a, b) => (a.args.backupType === 'FULL' ? -1 : 1) - (b.args.backupType === 'FULL' ? -1 : 1));
  }

  /**
   * Makes the schedules match `config`: drops the managed ones, then (when enabled) creates a
   * schedule pair for the frequency whose full runs at once. On a change (`force`) always; at
   * a leader's start only when they disagree (enabled without schedules, or the reverse): a
   * change stored by a leader that died before making its schedules is completed by the next.
   */
  async reconcile(leader: LeaderCapabilities, config: ManagedBackupsConfig, o: { force: boolean }): Promise<void> {
    // One at a time: two changes dropping and creating at once could leave two pairs.
    return this.scheduleLock.run(() => this.reconcileNow(leader, config, o));
  }

  private readonly scheduleLock = new WriteLock();

  private async reconcileNow(leader: LeaderCapabilities, config: ManagedBackupsConfig, o: { force: boolean }): Promise<void> {
    const want = config.enabled && this.collectionUri !== undefined;
    const existing = await this.schedules(leader);
    if (!o.force && (want ? existing.length > 0 : existing.length === 0)) return;
    // Dropping a full drops its incremental; anything left (an orphan) goes next.
    for (const s of existing.filter((x) => x.args.backupType === 'FULL')) await executeSql(leader, `DROP SCHEDULE ${s.id}`, '', 'root');
    for (const s of await this.schedules(leader)) await executeSql(leader, `DROP SCHEDULE ${s.id}`, '', 'root');
    if (!want) return;
    const plan = schedulePlan(config.frequencyMinutes);
    await executeSql(
      leader,
      `CREATE SCHEDULE ${quoteString(MANAGED_SCHEDULE_LABEL)} FOR BACKUP INTO ${quoteString(this.collectionUri!)} ` +
        `RECURRING ${quoteString(plan.recurring)} FULL BACKUP ${plan.full} ` +
        `WITH SCHEDULE OPTIONS first_run = 'now', ignore_existing_backups, on_execution_failure = 'reschedule'`,
      '',
      'root',
    );
  }

  /**
   * What a new leader does once it can run statements: puts the schedules in step with the
   * stored configuration, records managed backups whose record a dead leader did not write,
   * and deletes expired chains.
   */
  async onElected(leader: LeaderCapabilities): Promise<void> {
    const deadline = this.clock() + 120_000;
    while (!leader.readiness.ready) {
      if (this.clock() > deadline) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    try {
      const { config } = await this.store.readConfig();
      if (this.collectionUri === undefined) {
        // A coordinator started without the flag leaves the schedules as they are.
        if (config.enabled) leader.log.warn('managed backups are enabled but this coordinator has no --managed-backups-uri; their schedules are left as they are');
        return;
      }
      await this.reconcile(leader, config, { force: false });
      const managedIds = new Set((await this.schedules(leader)).map((s) => s.id));
      const recorded = new Set((await this.store.records()).map((r) => r.jobId));
      for (const job of await leader.jobs.list({ types: ['BACKUP'] })) {
        if (job.spec.scheduleId !== null && managedIds.has(job.spec.scheduleId) && !recorded.has(job.id)) await this.recordStarted(leader, job.id);
      }
      // Outcomes a dead leader did not store.
      for (const r of (await this.store.records()).filter((x) => x.outcome === 'PENDING')) {
        const job = await leader.jobs.get(r.jobId).catch(() => undefined);
        if (job === undefined || isTerminalStatus(job.status)) await this.store.putRecord({ ...r, outcome: job?.status === 'succeeded' ? 'COMPLETE' : 'FAILED' });
      }
      this.expireInBackground(leader);
      for (const r of await this.store.restores()) if (r.eraseExisting && r.settled !== true) this.settleInPlaceRestoreLater(leader, r.jobId);
    } catch (err) {
      leader.log.warn({ err }, 'managed backups: catching up after the election failed');
    }
  }

  /**
   * After a cluster restored in place: the cluster restore brings the backup's schedules back
   * (paused, as CockroachDB does), the managed ones among them; the managed schedules follow
   * the configuration instead, so they are made again (a full at once starts a chain of the
   * restored cluster). Waits for the job; a leader taking over calls it again (onElected).
   */
  settleInPlaceRestoreLater(leader: LeaderCapabilities, jobId: string): void {
    void (async () => {
      const job = await leader.jobs.waitForTerminal(jobId);
      const r = await this.store.getRestore(jobId);
      if (!r || r.settled === true) return;
      if (job.status === 'succeeded' && this.collectionUri !== undefined) await this.reconcile(leader, (await this.store.readConfig()).config, { force: true });
      await this.store.putRestore({ ...r, settled: true });
      leader.log.info({ jobId, status: job.status }, 'managed schedules put back in step after a cluster restore in place');
    })().catch((err: unknown) => leader.log.warn({ err, jobId }, 'managed schedules not yet in step after a cluster restore; the next leader retries'));
  }

  /** Whether a schedule is one of the managed ones. */
  isManaged(schedule: BackupSchedule): boolean {
    return schedule.label === MANAGED_SCHEDULE_LABEL;
  }

  /**
   * Records a managed backup as its job is created: what it holds and when it expires, fixed
   * now from the retention in force ("a changed retention applies only to new backups").
   */
  async recordStarted(leader: JobLookup, jobId: string): Promise<void> {
    const job = await leader.jobs.get(jobId);
    const d = decodeBackupDetails(job.spec);
    const { config } = await this.store.readConfig();
    const asOfNs = BigInt(d.endTime);
    const asOfMs = Number(asOfNs / 1_000_000n);
    const catalog = Catalog.fromDescriptors(d.descriptors.map((b) => decodeDescriptor(new Uint8Array(Buffer.from(b, 'base64')))));
    const databases = catalog
      .databases()
      .map((db) => ({ name: db.name, tables: catalog.tablesIn(db.id).filter((t) => t.kind === ObjectKind.TABLE).map((t) => t.name) }))
      .filter((db) => db.tables.length > 0);
    await this.store.putRecord({
      version: 1,
      jobId,
      backupId: d.backupId,
      type: d.incremental ? 'INCREMENTAL' : 'FULL',
      fullSubdir: d.fullSubdir,
      layerPath: d.layerPath,
      asOfMs,
      asOfNs: String(asOfNs),
      expiresAtMs: asOfMs + config.retentionDays * DAY_MS,
      retentionDays: config.retentionDays,
      databases,
      createdAtMs: job.spec.createdAtMs,
      outcome: 'PENDING',
    });
  }

  /** After a managed run ends: its outcome, then the deletion of chains whose full has expired. */
  async afterRun(leader: ExpiryRunner, job: Job): Promise<void> {
    const record = await this.store.getRecord(job.id);
    if (record) await this.store.putRecord({ ...record, outcome: job.status === 'succeeded' ? 'COMPLETE' : 'FAILED' });
    this.expireInBackground(leader);
  }

  private expiring = false;
  private housekeeping: NodeJS.Timeout | undefined;

  /**
   * Deletes expired chains every hour on whichever coordinator leads, besides after each run:
   * with backups disabled no run comes to do it.
   */
  startHousekeeping(currentLeader: () => (ExpiryRunner & Pick<LeaderCapabilities, 'readiness'>) | undefined, everyMs = 3_600_000): void {
    this.housekeeping = setInterval(() => {
      const leader = currentLeader();
      if (leader?.readiness.ready) this.expireInBackground(leader);
    }, everyMs);
    this.housekeeping.unref();
  }

  stopHousekeeping(): void {
    if (this.housekeeping) clearInterval(this.housekeeping);
  }

  /**
   * Deletes expired chains without holding up the scheduler's round that called it; one
   * deletion at a time. Listings hide expired backups from the moment they expire, so the
   * deletion is storage housekeeping, retried after every managed run and at each election.
   */
  expireInBackground(leader: ExpiryRunner): void {
    if (this.expiring || this.collectionUri === undefined) return;
    this.expiring = true;
    const uri = this.collectionUri;
    void deleteExpiredChains({ store: this.store, storage: leader.storage.storageContext(), log: leader.log }, uri, this.clock())
      .catch((err: unknown) => leader.log.warn({ err }, 'deleting expired managed backups failed; will retry after the next run'))
      .finally(() => {
        this.expiring = false;
      });
  }

  /**
   * Every record, newest first, with its job where the outcome needs it: a run not known to
   * have succeeded (its status, its error). A completed backup's record says all.
   */
  private async withJobs(leader: JobLookup): Promise<Array<{ record: ManagedBackupRecord; job: Job | undefined }>> {
    const records = await this.store.records();
    return Promise.all(
      records
        .reverse()
        .map(async (record) => ({ record, job: record.outcome === 'COMPLETE' ? undefined : await leader.jobs.get(record.jobId).catch(() => undefined) })),
    );
  }

  /**
   * The listable backups, newest first: complete or in progress, not past their expiry, and
   * (incrementals) on a full that is itself complete and unexpired, i.e. restorable.
   */
  async backups(leader: JobLookup): Promise<BackupView[]> {
    const now = this.clock();
    const all = await this.withJobs(leader);
    const statusOf = ({ record, job }: { record: ManagedBackupRecord; job: Job | undefined }): BackupView['status'] | undefined => {
      if (record.outcome === 'COMPLETE' || job?.status === 'succeeded') return 'COMPLETE';
      if (record.outcome === 'FAILED' || job === undefined || isTerminalStatus(job.status)) return undefined;
      return 'IN_PROGRESS';
    };
    const fulls = new Map(all.filter((x) => x.record.type === 'FULL').map((x) => [x.record.fullSubdir, x]));
    const out: BackupView[] = [];
    for (const x of all) {
      const status = statusOf(x);
      if (status === undefined || x.record.expiresAtMs <= now) continue;
      const full = fulls.get(x.record.fullSubdir);
      if (full === undefined || full.record.expiresAtMs <= now) continue;
      if (x.record.type === 'INCREMENTAL' && statusOf(full) !== 'COMPLETE') continue;
      out.push({
        id: x.record.backupId,
        as_of_time: iso(x.record.asOfMs),
        status,
        type: x.record.type,
        expires_at: iso(x.record.expiresAtMs),
        database_count: status === 'COMPLETE' ? x.record.databases.length : 0,
        full_backup_id: full.record.backupId,
      });
    }
    return out;
  }

  /** A listable backup's record, or NOT_FOUND (unknown, expired, or not restorable). */
  async backup(leader: JobLookup, backupId: string): Promise<{ view: BackupView; record: ManagedBackupRecord }> {
    const view = (await this.backups(leader)).find((b) => b.id === backupId);
    const record = view && (await this.store.records()).find((r) => r.backupId === backupId);
    if (!view || !record) throw new CairnError(ErrorCode.NotFound, `backup "${backupId}" does not exist (or has expired)`);
    return { view, record };
  }

  /** A complete backup's record, or NOT_FOUND / FAILED_PRECONDITION (still in progress). */
  async completeBackup(leader: JobLookup, backupId: string): Promise<{ view: BackupView; record: ManagedBackupRecord }> {
    const b = await this.backup(leader, backupId);
    if (b.view.status !== 'COMPLETE') throw new CairnError(ErrorCode.FailedPrecondition, `backup "${backupId}" is still in progress`);
    return b;
  }

  async incomplete(leader: JobLookup): Promise<IncompleteBackupView[]> {
    const now = this.clock();
    const out: IncompleteBackupView[] = [];
    for (const { record, job } of await this.withJobs(leader)) {
      const status = incompleteStatus(job, record);
      if (status === undefined) continue;
      const started = job?.startedAtMs ?? job?.spec.createdAtMs ?? record.createdAtMs;
      const ended = job?.finishedAtMs ?? (job && !isTerminalStatus(job.status) ? now : job?.modifiedAtMs ?? started);
      out.push({
        job_id: record.jobId,
        status,
        started_at: iso(started),
        duration_seconds: Math.max(0, (ended - started) / 1000),
        error_code: status === 'FAILED' ? ErrorCode.JobFailed : status === 'CANCELED' ? ErrorCode.Canceled : null,
        error_message: job?.error ?? (status === 'FAILED' ? 'the job no longer exists' : null),
        description: job?.spec.description ?? '',
      });
    }
    return out;
  }
}
