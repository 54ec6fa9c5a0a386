import { JsApiCode, ensureKv, isJsApiError, readAllKeys, stateReplicas } from '@cairn/cluster';
import { randomUUID } from 'node:crypto';
import { CairnError, ErrorCode } from '@cairn/errors';
import { ScheduleRunsRecord } from '@cairn/proto';
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
 * A scheduler round's record of the runs it starts (`recordRuns`): the keys it was written
 * under and the schedules it holds, which `finishRuns` writes to their own keys.
 */
export interface RunRecord {
  readonly keys: readonly string[];
  readonly scheduleIds: readonly string[];
}

/** Keys of run records (`runs.<round>.<n>`), apart from the schedules' numeric ids. */
const RUNS_PREFIX = 'runs.';
/** Encoded schedules per run record message: well under NATS's default 1 MiB max payload. */
const RUNS_CHUNK_BYTES = 256 * 1024;
/** Schedule keys `finishRuns` (and a new leader finishing a left record) writes at once. */
const FINISH_CONCURRENCY = 1024;

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
      if (options.mirror === true) {
        // The single writer starts here: first finish a round its predecessor left half done.
        await store.finishLeftRuns();
        store.mirror = new Map((await store.list()).map((x) => [x.id, x]));
      }
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

  /**
   * Stores changed schedules durably in a few large writes (about 256 KiB each) under
   * `runs.*` keys, not one write per schedule: what a scheduler round starting thousands of
   * runs at once (10,000 `@daily` schedules at midnight) must have stored before it creates
   * their jobs. Reads see a recorded schedule at once (from the mirror); its own key is
   * written by `finishRuns`, after the jobs. Resolves with, per schedule in order, undefined
   * when it was recorded or the error its part of the record met, and the record to finish.
   * A store opened later (the next leader) finishes a record left behind.
   */
  async recordRuns(schedules: readonly BackupSchedule[]): Promise<{ outcomes: Array<Error | undefined>; record: RunRecord }> {
    const round = `${RUNS_PREFIX}${Date.now()}-${randomUUID().slice(0, 8)}`;
    const outcomes: Array<Error | undefined> = new Array(schedules.length).fill(undefined);
    const chunks: Array<{ from: number; to: number; bytes: Uint8Array[] }> = [];
    let chunk: { from: number; to: number; bytes: Uint8Array[] } | undefined;
    let size = 0;
    schedules.forEach((x, i) => {
      const bytes = encodeSchedule(x);
      if (!chunk || size + bytes.length > RUNS_CHUNK_BYTES) {
        chunks.push((chunk = { from: i, to: i, bytes: [] }));
        size = 0;
      }
      chunk.bytes.push(bytes);
      chunk.to = i + 1;
      size += bytes.length;
    });
    const keys: string[] = [];
    const scheduleIds: string[] = [];
    await Promise.all(
      chunks.map(async (c, n) => {
        const key = `${round}.${n}`;
        try {
          await this.kv.put(key, ScheduleRunsRecord.encode({ schedules: c.bytes }).finish());
          keys.push(key);
          for (let i = c.from; i < c.to; i++) {
            scheduleIds.push(schedules[i]!.id);
            this.mirror?.set(schedules[i]!.id, schedules[i]!);
          }
        } catch (err) {
          const e = unavailable('cannot record scheduled runs', err);
          for (let i = c.from; i < c.to; i++) outcomes[i] = e;
        }
      }),
    );
    return { outcomes, record: { keys, scheduleIds } };
  }

  /**
   * Writes each schedule of a run record to its own key, as it is now (a change made since
   * the record, such as a run that failed to start, is kept), then deletes the record.
   */
  async finishRuns(record: RunRecord): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < record.scheduleIds.length) {
        const id = record.scheduleIds[next++]!;
        const now = this.mirror?.get(id);
        if (now) await this.put(now);
      }
    };
    await Promise.all(Array.from({ length: Math.min(FINISH_CONCURRENCY, record.scheduleIds.length) }, worker));
    for (const key of record.keys) {
      try {
        await this.kv.delete(key);
      } catch (err) {
        throw unavailable(`cannot delete the run record ${key}`, err);
      }
    }
  }

  /**
   * Finishes run records a previous writer left (it died between recording a round's runs
   * and writing their schedules' keys): a recorded schedule whose key was not written after
   * the record (a lower revision) is written from the record; one written since (or dropped)
   * is kept as it is.
   */
  private async finishLeftRuns(): Promise<void> {
    const entries = [];
    for await (const k of await this.kv.keys(`${RUNS_PREFIX}>`)) {
      const entry = await this.kv.get(k);
      if (entry && entry.operation === 'PUT') entries.push(entry);
    }
    // The newest record first: an older one's copy of a schedule then loses to it on revision.
    entries.sort((a, b) => b.revision - a.revision);
    for (const entry of entries) {
      const key = entry.key;
      const recorded = ScheduleRunsRecord.decode(entry.value).schedules.map((b) => decodeSchedule(b));
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < recorded.length) {
          const x = recorded[next++]!;
          const current = await this.kv.get(x.id);
          // Absent, dropped, or written since the record: nothing of the record to apply.
          if (!current || current.revision > entry.revision) continue;
          await this.kv.put(x.id, encodeSchedule(x));
        }
      };
      await Promise.all(Array.from({ length: Math.min(FINISH_CONCURRENCY, recorded.length) }, worker));
      await this.kv.delete(key);
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
    for (const [key, value] of await this.readAll()) if (!key.startsWith(RUNS_PREFIX)) out.push(decodeSchedule(value));
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
