import { CairnError, ErrorCode } from '@cairn/errors';
import { JsApiCode, isJsApiError } from '@cairn/cluster';
import type { KV } from 'nats';
import { DEFAULT_FREQUENCY_MINUTES, DEFAULT_RETENTION_DAYS } from './allowed-values.js';

/** The bucket holding the managed-backup configuration and one record per managed backup. */
export const MANAGED_BACKUPS_BUCKET = 'cairn_managed_backups';
const CONFIG_KEY = 'config';
const RECORD_PREFIX = 'backup.';
const RESTORE_PREFIX = 'restore.';
/** Keys of `Idempotency-Key` claims: `restore-key.<key>` → the job id of the restore it started. */
const RESTORE_KEY_PREFIX = 'restore-key.';

/** A cluster's managed-backup configuration as stored. */
export interface ManagedBackupsConfig {
  readonly version: 1;
  readonly enabled: boolean;
  readonly frequencyMinutes: number;
  readonly retentionDays: number;
  /**
   * Whether retention has been changed from what the cluster started with: CockroachDB Cloud
   * lets a customer set it once (after that, only support can).
   */
  readonly retentionChanged: boolean;
}

export const DEFAULT_MANAGED_CONFIG: ManagedBackupsConfig = {
  version: 1,
  enabled: false,
  frequencyMinutes: DEFAULT_FREQUENCY_MINUTES,
  retentionDays: DEFAULT_RETENTION_DAYS,
  retentionChanged: false,
};

/** What one managed backup is, fixed when its job is created, plus its outcome once known. */
export interface ManagedBackupRecord {
  readonly version: 1;
  readonly jobId: string;
  /** The id the backup's manifest carries (what the API calls a backup's id). */
  readonly backupId: string;
  readonly type: 'FULL' | 'INCREMENTAL';
  /** The chain this layer belongs to (`/2026/12/06-071500.00`). */
  readonly fullSubdir: string;
  readonly layerPath: string;
  /** The time the backup holds the data of (its end time), ms and exact ns. */
  readonly asOfMs: number;
  readonly asOfNs: string;
  /** as_of + the retention in force when the backup was taken: never changed afterwards. */
  readonly expiresAtMs: number;
  readonly retentionDays: number;
  /** Databases with at least one table, and their tables, as the backup holds them. */
  readonly databases: ReadonlyArray<{ readonly name: string; readonly tables: readonly string[] }>;
  readonly createdAtMs: number;
  /** PENDING until the job ends; the job's own status says more while it exists. */
  readonly outcome: 'PENDING' | 'COMPLETE' | 'FAILED';
}

/** A restore started through the API, recorded (under its job's id) before the job exists. */
export interface ManagedRestoreRecord {
  readonly version: 1;
  readonly jobId: string;
  readonly backupId: string;
  readonly backupTakenAtMs: number;
  readonly type: 'CLUSTER' | 'DATABASE' | 'TABLE';
  readonly source: string;
  readonly destination: string;
  /** A cluster restore onto a cluster that had user databases: they are erased first. */
  readonly eraseExisting: boolean;
  readonly createdAtMs: number;
  /** An in-place restore's aftermath is done (the managed schedules follow the configuration again). */
  readonly settled?: boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A create that found the key, or an update that lost a race (recognised by its JetStream code). */
function conflict(err: unknown): boolean {
  return isJsApiError(err, JsApiCode.WrongLastSequence);
}

/**
 * The managed-backups bucket: the configuration (one document changed by compare-and-set, so
 * two coordinators never overwrite each other's change) and the per-backup records.
 */
export class ManagedBackupStore {
  /**
   * Records already read, by key: a record is written once and then only its outcome changes
   * (PENDING to COMPLETE or FAILED), so only pending ones are read again. A listing then costs
   * one key listing plus the new and pending records, not a read per backup.
   */
  private readonly cache = new Map<string, ManagedBackupRecord>();

  constructor(private readonly kv: KV) {}

  async readConfig(): Promise<{ config: ManagedBackupsConfig; revision: number }> {
    const e = await this.kv.get(CONFIG_KEY);
    if (!e || e.operation !== 'PUT') return { config: DEFAULT_MANAGED_CONFIG, revision: e?.revision ?? 0 };
    return { config: { ...DEFAULT_MANAGED_CONFIG, ...(JSON.parse(dec.decode(e.value)) as Partial<ManagedBackupsConfig>) }, revision: e.revision };
  }

  /**
   * Applies `change` to the stored configuration: `change` may throw to refuse (a second
   * retention change); a concurrent writer makes it run again on the newer document.
   */
  async updateConfig(change: (c: ManagedBackupsConfig) => ManagedBackupsConfig): Promise<{ before: ManagedBackupsConfig; after: ManagedBackupsConfig }> {
    for (let attempt = 0; ; attempt++) {
      const { config, revision } = await this.readConfig();
      const next = change(config);
      if (JSON.stringify(next) === JSON.stringify(config)) return { before: config, after: config };
      try {
        if (revision === 0) await this.kv.create(CONFIG_KEY, enc.encode(JSON.stringify(next)));
        else await this.kv.update(CONFIG_KEY, enc.encode(JSON.stringify(next)), revision);
        return { before: config, after: next };
      } catch (err) {
        if (!conflict(err) || attempt >= 20) {
          throw new CairnError(ErrorCode.Unavailable, `cannot store the managed-backup configuration: ${err instanceof Error ? err.message : String(err)}`, {
            retryable: true,
            cause: err,
          });
        }
      }
    }
  }

  async putRecord(r: ManagedBackupRecord): Promise<void> {
    await this.kv.put(`${RECORD_PREFIX}${r.jobId}`, enc.encode(JSON.stringify(r)));
    this.cache.set(`${RECORD_PREFIX}${r.jobId}`, r);
  }

  async getRecord(jobId: string): Promise<ManagedBackupRecord | undefined> {
    const e = await this.kv.get(`${RECORD_PREFIX}${jobId}`);
    return e && e.operation === 'PUT' ? (JSON.parse(dec.decode(e.value)) as ManagedBackupRecord) : undefined;
  }

  async deleteRecord(jobId: string): Promise<void> {
    await this.kv.delete(`${RECORD_PREFIX}${jobId}`);
    this.cache.delete(`${RECORD_PREFIX}${jobId}`);
  }

  /** Every backup record, oldest first. */
  async records(): Promise<ManagedBackupRecord[]> {
    const keys = new Set<string>();
    for await (const k of await this.kv.keys(`${RECORD_PREFIX}>`)) keys.add(k);
    for (const k of this.cache.keys()) if (!keys.has(k)) this.cache.delete(k);
    await Promise.all(
      [...keys]
        .filter((k) => this.cache.get(k)?.outcome !== 'COMPLETE' && this.cache.get(k)?.outcome !== 'FAILED')
        .map(async (k) => {
          const e = await this.kv.get(k);
          if (e && e.operation === 'PUT') this.cache.set(k, JSON.parse(dec.decode(e.value)) as ManagedBackupRecord);
          else this.cache.delete(k);
        }),
    );
    return [...this.cache.values()].sort((a, b) => a.asOfMs - b.asOfMs || a.jobId.localeCompare(b.jobId));
  }

  async putRestore(r: ManagedRestoreRecord): Promise<void> {
    await this.kv.put(`${RESTORE_PREFIX}${r.jobId}`, enc.encode(JSON.stringify(r)));
  }

  /**
   * Claims an `Idempotency-Key` for the restore that will run as `jobId`; returns the job id
   * that owns the key: `jobId` when this call claimed it, another one when a request with the
   * same key came first.
   */
  async claimRestoreKey(key: string, jobId: string): Promise<string> {
    try {
      await this.kv.create(`${RESTORE_KEY_PREFIX}${key}`, enc.encode(jobId));
      return jobId;
    } catch (err) {
      if (!isJsApiError(err, JsApiCode.WrongLastSequence)) throw err;
      const e = await this.kv.get(`${RESTORE_KEY_PREFIX}${key}`);
      if (!e || e.operation !== 'PUT') throw new CairnError(ErrorCode.Unavailable, `idempotency key "${key}" is being claimed; try again`, { retryable: true });
      return dec.decode(e.value);
    }
  }

  /** The job id of the restore that claimed `key`, if any. */
  async restoreKeyOwner(key: string): Promise<string | undefined> {
    const e = await this.kv.get(`${RESTORE_KEY_PREFIX}${key}`);
    return e && e.operation === 'PUT' ? dec.decode(e.value) : undefined;
  }

  async getRestore(jobId: string): Promise<ManagedRestoreRecord | undefined> {
    if (!/^[0-9]+$/.test(jobId)) return undefined;
    const e = await this.kv.get(`${RESTORE_PREFIX}${jobId}`);
    return e && e.operation === 'PUT' ? (JSON.parse(dec.decode(e.value)) as ManagedRestoreRecord) : undefined;
  }

  /** Every restore record, oldest first. */
  async restores(): Promise<ManagedRestoreRecord[]> {
    const out = await this.readAll<ManagedRestoreRecord>(RESTORE_PREFIX);
    return out.sort((a, b) => a.createdAtMs - b.createdAtMs || a.jobId.localeCompare(b.jobId));
  }

  private async readAll<T>(prefix: string): Promise<T[]> {
    const keys: string[] = [];
    for await (const k of await this.kv.keys(`${prefix}>`)) keys.push(k);
    const out = await Promise.all(
      keys.map(async (k) => {
        const e = await this.kv.get(k);
        return e && e.operation === 'PUT' ? (JSON.parse(dec.decode(e.value)) as T) : undefined;
      }),
    );
    return out.filter((r): r is Awaited<T> => r !== undefined) as T[];
  }
}
