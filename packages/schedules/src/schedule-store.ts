import { JsApiCode, ensureKv, isJsApiError, readAllKeys, stateReplicas } from '@cairn/cluster';
import { CairnError, ErrorCode } from '@cairn/errors';
import type { KV, NatsConnection } from 'nats';
import type { BackupSchedule } from './schedule.js';
import { decodeSchedule, encodeSchedule } from './schedule-codec.js';
import { compareScheduleIds } from './schedule-id.js';

/** The KV bucket holding every schedule, one key per schedule id. */
export const SCHEDULES_BUCKET = 'cairn_schedules';

export interface ScheduleStoreOptions {
  /** Bucket replicas: 1 on a single nats-server, 3 on a NATS cluster. */
  readonly replicas?: number;
  readonly bucket?: string;
  /**
   * Keep every schedule in memory, loaded once at open, and serve reads from it: for the
   * single writer (the coordinator leader), whose scheduler looks at every schedule each round.
   */
  readonly mirror?: boolean;
}

/**
 * Backup schedules in a NATS KV bucket, keyed by id. Written only by the coordinator leader
 * (one writer: nats-server 2.9's compare-and-set is unsafe on R3 buckets, see TOOLCHAIN.md),
 * so `put` overwrites; `create` uses `kv.create()`, which refuses an existing id. Lists read
 * the bucket with a watch that ends once the initial values are delivered.
 */
export class ScheduleStore {
  private mirror: Map<string, BackupSchedule> | undefined;

  constructor(readonly kv: KV) {}

  /** Opens the schedules bucket, creating it when missing. */
  static async open(nc: NatsConnection, options: ScheduleStoreOptions = {}): Promise<ScheduleStore> {
    try {
      const kv = await ensureKv(nc, options.bucket ?? SCHEDULES_BUCKET, { replicas: options.replicas ?? (await stateReplicas(nc)) });
      const store = new ScheduleStore(kv);
      if (options.mirror === true) store.mirror = new Map((await store.list()).map((x) => [x.id, x]));
      return store;
    } catch (err) {
      throw unavailable('cannot open the schedules bucket', err);
    }
  }

  /** Stores a new schedule; DuplicateObject when its id is taken (take another id). */
  async create(schedule: BackupSchedule): Promise<void> {
    try {
      await this.kv.create(schedule.id, encodeSchedule(schedule));
      this.mirror?.set(schedule.id, schedule);
    } catch (err) {
      if (isExistsError(err)) {
        throw new CairnError(ErrorCode.DuplicateObject, `schedule ${schedule.id} already exists`, { cause: err });
      }
      throw unavailable(`cannot create schedule ${schedule.id}`, err);
    }
  }

  /**
   * Stores several new schedules (a full and its incremental) or none: when one fails, those
   * already created are deleted again before the error is rethrown.
   */
  async createAll(schedules: readonly BackupSchedule[]): Promise<void> {
    const done: string[] = [];
    try {
      for (const s of schedules) {
        await this.create(s);
        done.push(s.id);
      }
    } catch (err) {
      for (const id of done) await this.delete(id).catch(() => undefined);
      throw err;
    }
  }

  async get(id: string): Promise<BackupSchedule | undefined> {
    if (this.mirror) return this.mirror.get(id);
    let e;
    try {
      e = await this.kv.get(id);
    } catch (err) {
      throw unavailable(`cannot read schedule ${id}`, err);
    }
    if (!e || e.operation !== 'PUT') return undefined;
    return decodeSchedule(e.value);
  }

  /** Writes a schedule (created or changed); the single writer's last write wins. */
  async put(schedule: BackupSchedule): Promise<void> {
    try {
      await this.kv.put(schedule.id, encodeSchedule(schedule));
      this.mirror?.set(schedule.id, schedule);
    } catch (err) {
      throw unavailable(`cannot write schedule ${schedule.id}`, err);
    }
  }

  /** Deletes a schedule; deleting a missing one is not an error. */
  async delete(id: string): Promise<void> {
    try {
      await this.kv.delete(id);
      this.mirror?.delete(id);
    } catch (err) {
      throw unavailable(`cannot delete schedule ${id}`, err);
    }
  }

  /** Every schedule, in creation (id) order. */
  async list(): Promise<BackupSchedule[]> {
    if (this.mirror) return [...this.mirror.values()].sort((a, b) => compareScheduleIds(a.id, b.id));
    const out: BackupSchedule[] = [];
    for (const value of (await this.readAll()).values()) out.push(decodeSchedule(value));
    return out.sort((a, b) => compareScheduleIds(a.id, b.id));
  }

  /**
   * Every schedule in no particular order: from memory when mirrored (no copy, no sort — the
   * scheduler scans all of them each round), else as `list()`.
   */
  async all(): Promise<Iterable<BackupSchedule>> {
    return this.mirror ? this.mirror.values() : this.list();
  }

  /** Schedules carrying `label` (a full and its incremental share one), in creation order. */
  async findByLabel(label: string): Promise<BackupSchedule[]> {
    return (await this.list()).filter((s) => s.label === label);
  }

  /**
   * ACTIVE schedules whose next run is at or before `now`, the longest overdue first, at most
   * `limit` (CockroachDB starts a few per round: `jobs.scheduler.max_jobs_per_iteration`).
   */
  async dueSchedules(now: number | Date, limit?: number): Promise<BackupSchedule[]> {
    const t = typeof now === 'number' ? now : now.getTime();
    const due = (await this.list())
      .filter((s) => s.state === 'ACTIVE' && s.nextRunMs !== null && s.nextRunMs <= t)
      .sort((a, b) => (a.nextRunMs ?? 0) - (b.nextRunMs ?? 0) || compareScheduleIds(a.id, b.id));
    return limit === undefined ? due : due.slice(0, limit);
  }

  private async readAll(): Promise<Map<string, Uint8Array>> {
    try {
      return await readAllKeys(this.kv);
    } catch (err) {
      throw unavailable('cannot list schedules', err);
    }
  }
}

/** JetStream's "wrong last sequence": the key exists. */
function isExistsError(err: unknown): boolean {
  return isJsApiError(err, JsApiCode.WrongLastSequence);
}

function unavailable(what: string, err: unknown): CairnError {
  if (err instanceof CairnError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new CairnError(ErrorCode.Unavailable, `${what}: ${reason}`, { cause: err, retryable: true });
}
