import { randomUUID } from 'node:crypto';
import { connectNats } from '@cairn/cluster';
import { CairnError, ErrorCode } from '@cairn/errors';
import { parseOne, type CreateScheduleStatement } from '@cairn/sql';
import { startNatsServer, type NatsServerHandle } from '@cairn/testing';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planCreateSchedule } from './create-schedule.js';
import type { BackupSchedule } from './schedule.js';
import { decodeSchedule, encodeSchedule } from './schedule-codec.js';
import { scheduleIdGenerator } from './schedule-id.js';
import { ScheduleStore } from './schedule-store.js';
import { decideRun, onJobFinished, recordJobStarted } from './scheduler-policy.js';

let server: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectNats(server.url, 'schedules-store-test');
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

const NOW = Date.UTC(2024, 2, 1, 10, 30);
const ids = scheduleIdGenerator(() => NOW);
const openStore = () => ScheduleStore.open(nc, { bucket: `schedules_${randomUUID().slice(0, 8)}` });

function create(label: string, clauses: string): BackupSchedule[] {
  const s = parseOne(
    `CREATE SCHEDULE ${label} FOR BACKUP INTO 's3://b/${label}?AWS_SECRET_ACCESS_KEY=S' ${clauses}`,
  ) as CreateScheduleStatement;
  return planCreateSchedule(s, new Date(NOW), ids, { owner: 'root', timezone: 'Europe/Paris' }).schedules;
}

describe('schedule codec', () => {
  it('round-trips every field', () => {
    const [inc, full] = create('rt', `RECURRING '@hourly' WITH SCHEDULE OPTIONS on_execution_failure = 'pause'`);
    if (!inc || !full) throw new Error('no pair');
    const busy: BackupSchedule = {
      ...inc,
      args: { ...inc.args, chainedProtectedTimestampRecord: 'pts-1', updatesLastBackupMetric: true, retention: '30d' },
      lastRun: { scheduledAtMs: NOW, startedAtMs: NOW + 5, jobId: '590204496007299074', outcome: 'failed', finishedAtMs: NOW + 9, error: 'boom' },
      lastSuccessEndMs: NOW - 3_600_000,
    };
    for (const s of [inc, full, busy, { ...full, cron: null, nextRunMs: null }]) expect(decodeSchedule(encodeSchedule(s))).toEqual(s);
  });

  it('reports a corrupt record', () => {
    expect(() => decodeSchedule(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(CairnError);
  });
});

describe('ScheduleStore (real nats-server)', () => {
  it('creates, reads, lists, overwrites and deletes schedules', async () => {
    const store = await openStore();
    const pair = create('nightly', `RECURRING '@hourly'`);
    const [single] = create('weekly', `RECURRING '@daily' FULL BACKUP ALWAYS`);
    if (!single) throw new Error('no schedule');
    await store.createAll(pair);
    await store.create(single);

    const [inc, full] = pair;
    if (!inc || !full) throw new Error('no pair');
    expect(await store.get(full.id)).toEqual(full);
    expect(await store.get('123')).toBeUndefined();
    expect((await store.list()).map((s) => s.id)).toEqual([inc.id, full.id, single.id]);
    expect((await store.findByLabel('nightly')).map((s) => s.args.backupType)).toEqual(['INCREMENTAL', 'FULL']);
    expect(await store.findByLabel('nope')).toEqual([]);

    const renamed = { ...single, label: 'renamed' };
    await store.put(renamed);
    expect(await store.get(single.id)).toEqual(renamed);

    await store.delete(inc.id);
    await store.delete(inc.id); // deleting twice is fine
    expect(await store.get(inc.id)).toBeUndefined();
    expect((await store.list()).map((s) => s.id)).toEqual([full.id, single.id]);
  });

  it('create refuses a taken id; createAll leaves nothing behind on failure', async () => {
    const store = await openStore();
    const [a] = create('a', `RECURRING '@daily' FULL BACKUP ALWAYS`);
    if (!a) throw new Error('no schedule');
    await store.create(a);
    const err = await store.create(a).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.DuplicateObject);

    const pair = create('b', `RECURRING '@hourly'`);
    const clash = [...pair, a];
    await expect(store.createAll(clash)).rejects.toThrow(/already exists/);
    expect((await store.list()).map((s) => s.id)).toEqual([a.id]);
  });

  it('dueSchedules returns ACTIVE schedules whose next run has come, the most overdue first', async () => {
    const store = await openStore();
    const pair = create('p', `RECURRING '@hourly'`); // incremental paused, full due now
    const [later] = create('q', `RECURRING '@daily' FULL BACKUP ALWAYS`); // next midnight (Paris)
    const [earlier] = create('r', `RECURRING '@daily' FULL BACKUP ALWAYS`);
    if (!later || !earlier) throw new Error('no schedule');
    const overdue = { ...earlier, nextRunMs: NOW - 60_000 };
    await store.createAll([...pair, later, overdue]);
    expect((await store.dueSchedules(NOW)).map((s) => s.label)).toEqual(['r', 'p']);
    expect((await store.dueSchedules(new Date(NOW), 1)).map((s) => s.label)).toEqual(['r']);
    expect((await store.dueSchedules(Date.UTC(2024, 2, 2))).map((s) => s.label)).toEqual(['r', 'p', 'q']);
  });

  it('carries a pair through a scheduler round: full runs, succeeds, incremental unpauses', async () => {
    const store = await openStore();
    const pair = create('cycle', `RECURRING '@hourly'`);
    await store.createAll(pair);
    const [due] = await store.dueSchedules(NOW);
    if (!due) throw new Error('nothing due');
    const d = decideRun(due, { now: NOW, runningJobsOfSchedule: 0 });
    if (d.action !== 'start') throw new Error(`expected start, got ${d.action}`);
    await store.put(recordJobStarted(d.schedule, '42'));

    const full = await store.get(due.id);
    const inc = full?.args.dependentScheduleId ? await store.get(full.args.dependentScheduleId) : undefined;
    if (!full || !inc) throw new Error('pair missing');
    const r = onJobFinished(full, { jobId: '42', status: 'succeeded', now: NOW + 60_000 }, inc);
    await store.put(r.schedule);
    if (r.unpaused) await store.put(r.unpaused);

    const stored = await store.findByLabel('cycle');
    expect(stored.map((s) => [s.args.backupType, s.state])).toEqual([
      ['INCREMENTAL', 'ACTIVE'],
      ['FULL', 'ACTIVE'],
    ]);
    expect(stored[0]?.nextRunMs).toBe(Date.UTC(2024, 2, 1, 11));
    expect(stored[1]?.lastRun).toMatchObject({ jobId: '42', outcome: 'succeeded' });
  });

  it('records a round of runs in a few writes, finishes them to their keys, and a next writer finishes a record left behind', async () => {
    const bucket = `schedules_${randomUUID().slice(0, 8)}`;
    const writer = await ScheduleStore.open(nc, { bucket, mirror: true });
    const all = Array.from({ length: 300 }, (_, i) => create(`many${i}`, `RECURRING '@daily' FULL BACKUP ALWAYS`)[0]!);
    await Promise.all(all.map((x) => writer.create(x)));
    const started = all.map((x, i) => ({ ...x, nextRunMs: x.nextRunMs! + 86_400_000, lastRun: { scheduledAtMs: x.nextRunMs!, startedAtMs: NOW, jobId: String(1000 + i), outcome: 'running' as const, finishedAtMs: null, error: null } }));
    const runKeys = async () => {
      const out: string[] = [];
      for await (const k of await writer.kv.keys('runs.>')) out.push(k);
      return out;
    };

    const { outcomes, record } = await writer.recordRuns(started);
    expect(outcomes.every((o) => o === undefined)).toBe(true);
    // 300 schedules of a few hundred bytes: one record write, not 300.
    expect(record.keys).toHaveLength(1);
    expect(await runKeys()).toEqual(record.keys);
    // The writer reads them at once; the keys themselves are not written yet, and listings
    // never take a record for a schedule.
    expect(await writer.get(started[5]!.id)).toEqual(started[5]);
    const reader = await ScheduleStore.open(nc, { bucket });
    expect(await reader.get(all[5]!.id)).toEqual(all[5]);
    expect((await reader.list()).map((x) => x.id).sort()).toEqual(all.map((x) => x.id).sort());

    // A change after the record (a run that failed to start) is what finishing writes.
    const failed = { ...started[7]!, lastRun: { ...started[7]!.lastRun, outcome: 'failed' as const, finishedAtMs: NOW + 1 } };
    await writer.put(failed);
    await writer.finishRuns(record);
    expect(await runKeys()).toEqual([]);
    expect(await reader.get(started[5]!.id)).toEqual(started[5]);
    expect(await reader.get(failed.id)).toEqual(failed);

    // A writer that died between recording and finishing: the next one finishes the record,
    // except for schedules written (or dropped) after it.
    const again = started.map((x) => ({ ...x, nextRunMs: x.nextRunMs + 86_400_000 }));
    const left = await writer.recordRuns(again);
    expect(left.outcomes.every((o) => o === undefined)).toBe(true);
    const altered = { ...started[1]!, label: 'altered after the record' };
    await reader.put(altered);
    await reader.delete(started[2]!.id);
    const next = await ScheduleStore.open(nc, { bucket, mirror: true });
    expect(await runKeys()).toEqual([]);
    expect(await next.get(again[0]!.id)).toEqual(again[0]);
    expect(await reader.get(again[9]!.id)).toEqual(again[9]);
    expect(await reader.get(started[1]!.id)).toEqual(altered);
    expect(await reader.get(started[2]!.id)).toBeUndefined();
    expect(await next.list()).toHaveLength(299);
  });
});
