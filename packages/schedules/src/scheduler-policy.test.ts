import { formatStatement, parseOne, type CreateScheduleStatement } from '@cairn/sql';
import { describe, expect, it } from 'vitest';
import { planCreateSchedule } from './create-schedule.js';
import type { BackupSchedule } from './schedule.js';
import { decideRun, isDue, nextRunAfter, onJobFinished, recordJobStarted } from './scheduler-policy.js';

const NOW = Date.UTC(2024, 2, 1, 10, 30);
const MIN = 60_000;
const S3 = 's3://b/p?AWS_ACCESS_KEY_ID=K&AWS_SECRET_ACCESS_KEY=S';

function pair(options = ''): { full: BackupSchedule; inc: BackupSchedule } {
  const s = parseOne(
    `CREATE SCHEDULE s FOR BACKUP INTO '${S3}' WITH revision_history RECURRING '@hourly' FULL BACKUP '@daily' ${options}`,
  ) as CreateScheduleStatement;
  let n = 1;
  const [inc, full] = planCreateSchedule(s, new Date(NOW), () => String(n++), { owner: 'root' }).schedules;
  if (!inc || !full) throw new Error('expected a pair');
  return { full, inc };
}

/** A full schedule that is due now (its next run was 10:00). */
function dueFull(options = ''): BackupSchedule {
  return { ...pair(options).full, nextRunMs: Date.UTC(2024, 2, 1, 10) };
}

describe('nextRunAfter / isDue', () => {
  it('follows the cron in the schedule time zone, none for NEVER', () => {
    const { full, inc } = pair();
    expect(nextRunAfter(inc, NOW)).toBe(Date.UTC(2024, 2, 1, 11));
    expect(nextRunAfter(full, new Date(NOW))).toBe(Date.UTC(2024, 2, 2));
    expect(nextRunAfter({ ...full, timezone: 'Asia/Tokyo' }, NOW)).toBe(Date.UTC(2024, 2, 1, 15));
    expect(nextRunAfter({ ...full, cron: null }, NOW)).toBeNull();
  });

  it('is due when ACTIVE with a next run at or before now', () => {
    const full = dueFull();
    expect(isDue(full, NOW)).toBe(true);
    expect(isDue({ ...full, nextRunMs: NOW }, NOW)).toBe(true);
    expect(isDue({ ...full, nextRunMs: NOW + 1 }, NOW)).toBe(false);
    expect(isDue({ ...full, state: 'PAUSED', nextRunMs: null }, NOW)).toBe(false);
    expect(isDue(pair().inc, NOW)).toBe(false);
  });
});

describe('decideRun', () => {
  it('starts a due schedule: next run advanced first, status cleared, AS OF the scheduled time', () => {
    const full = { ...dueFull(), statusText: 'reschedule: old failure' };
    const d = decideRun(full, { now: NOW, runningJobsOfSchedule: 0 });
    expect(d.action).toBe('start');
    if (d.action !== 'start') return;
    expect(d.scheduledAtMs).toBe(Date.UTC(2024, 2, 1, 10));
    expect(d.schedule.nextRunMs).toBe(Date.UTC(2024, 2, 2));
    expect(d.schedule.statusText).toBe('');
    expect(d.schedule.lastRun).toEqual({
      scheduledAtMs: Date.UTC(2024, 2, 1, 10),
      startedAtMs: NOW,
      jobId: null,
      outcome: 'running',
      finishedAtMs: null,
      error: null,
    });
    expect(formatStatement(d.backup)).toBe(
      `BACKUP INTO '${S3}' AS OF SYSTEM TIME '2024-03-01 10:00:00+00:00' WITH revision_history, detached`,
    );
    expect(recordJobStarted(d.schedule, '42').lastRun?.jobId).toBe('42');
  });

  it('leaves a schedule that is not due', () => {
    const { full, inc } = pair();
    expect(decideRun(full, { now: NOW, runningJobsOfSchedule: 0 }).action).toBe('notDue');
    expect(decideRun(inc, { now: NOW, runningJobsOfSchedule: 0 }).action).toBe('notDue');
  });

  // [on_previous_running, running jobs, action, next run, status]
  it.each([
    ['wait', 1, 'wait', NOW + MIN, 'delayed due to 1 already running'],
    ['wait', 3, 'wait', NOW + MIN, 'delayed due to 3 already running'],
    ['skip', 1, 'skip', Date.UTC(2024, 2, 2), 'rescheduled due to 1 already running'],
    ['skip', 2, 'skip', Date.UTC(2024, 2, 2), 'rescheduled due to 2 already running'],
    ['start', 5, 'start', Date.UTC(2024, 2, 2), ''],
    ['wait', 0, 'start', Date.UTC(2024, 2, 2), ''],
    ['skip', 0, 'start', Date.UTC(2024, 2, 2), ''],
  ] as const)('on_previous_running=%s with %d running → %s', (policy, running, action, nextRun, status) => {
    const full = dueFull(`WITH SCHEDULE OPTIONS on_previous_running = '${policy}'`);
    const d = decideRun(full, { now: NOW, runningJobsOfSchedule: running });
    expect(d.action).toBe(action);
    expect(d.schedule.nextRunMs).toBe(nextRun);
    expect(d.schedule.statusText).toBe(status);
    if (d.action === 'wait') expect(d.metric).toBe('reschedule-wait');
    if (d.action === 'skip') expect(d.metric).toBe('reschedule-skip');
    if (d.action !== 'start') expect(d.schedule.lastRun).toBeNull();
  });

  it('clears the next run of a one-off schedule once started', () => {
    const oneOff = { ...dueFull(), cron: null };
    const d = decideRun(oneOff, { now: NOW, runningJobsOfSchedule: 0 });
    expect(d.action).toBe('start');
    expect(d.schedule.nextRunMs).toBeNull();
    expect(d.schedule.state).toBe('ACTIVE');
  });
});

describe('onJobFinished', () => {
  const started = (options = '') => {
    const d = decideRun(dueFull(options), { now: NOW, runningJobsOfSchedule: 0 });
    if (d.action !== 'start') throw new Error('expected start');
    return recordJobStarted(d.schedule, '777');
  };
  const later = NOW + 10 * MIN;

  it('unpauses the dependent incremental after the full succeeds, once', () => {
    const { inc } = pair();
    const full = started();
    const r = onJobFinished(full, { jobId: '777', status: 'succeeded', now: later }, inc);
    expect(r.metric).toBe('succeeded');
    expect(r.unpaused).toMatchObject({ id: inc.id, state: 'ACTIVE', statusText: '', nextRunMs: Date.UTC(2024, 2, 1, 11) });
    expect(r.schedule.args.unpauseOnSuccess).toBeNull();
    expect(r.schedule.args.dependentScheduleId).toBe(inc.id);
    expect(r.schedule.lastRun).toMatchObject({ jobId: '777', outcome: 'succeeded', finishedAtMs: later, error: null });
    expect(r.schedule.nextRunMs).toBe(Date.UTC(2024, 2, 2));
    // The next success does not touch the incremental again.
    const again = onJobFinished(r.schedule, { jobId: '778', status: 'succeeded', now: later }, r.unpaused ?? undefined);
    expect(again.unpaused).toBeNull();
  });

  it('a success without the dependent at hand keeps unpauseOnSuccess for later', () => {
    const r = onJobFinished(started(), { jobId: '777', status: 'succeeded', now: later });
    expect(r.unpaused).toBeNull();
    expect(r.schedule.args.unpauseOnSuccess).not.toBeNull();
  });

  // [on_execution_failure, state, next run, status prefix]
  it.each([
    ['retry', 'ACTIVE', later + MIN, 'retrying: '],
    ['reschedule', 'ACTIVE', Date.UTC(2024, 2, 2), 'reschedule: '],
    ['pause', 'PAUSED', null, 'schedule paused: '],
  ] as const)('on_execution_failure=%s', (policy, state, nextRun, prefix) => {
    const { inc } = pair();
    const full = started(`WITH SCHEDULE OPTIONS on_execution_failure = '${policy}'`);
    const r = onJobFinished(full, { jobId: '777', status: 'failed', error: 'storage unavailable', now: later }, inc);
    expect(r.metric).toBe('failed');
    expect(r.unpaused).toBeNull();
    expect(r.schedule.state).toBe(state);
    expect(r.schedule.nextRunMs).toBe(nextRun);
    expect(r.schedule.statusText).toBe(`${prefix}backup job 777 failed with err=storage unavailable`);
    expect(r.schedule.args.unpauseOnSuccess).toBe(inc.id);
    expect(r.schedule.lastRun).toMatchObject({ outcome: 'failed', error: 'storage unavailable' });
  });

  it('a canceled job without an error reads like CockroachDB', () => {
    const r = onJobFinished(started(), { jobId: '777', status: 'canceled', now: later });
    expect(r.schedule.statusText).toBe('reschedule: backup job 777 failed with err=backup job 777 scheduled by 2 failed with state canceled');
  });

  it("remembers the newest successful backup's end time (its AS OF SYSTEM TIME) past later runs", () => {
    const scheduledAt = Date.UTC(2024, 2, 1, 10);
    const s = started();
    expect(s.lastSuccessEndMs).toBeNull();
    const ok = onJobFinished(s, { jobId: '777', status: 'succeeded', now: later }).schedule;
    expect(ok.lastSuccessEndMs).toBe(scheduledAt);
    // The next run starts (lastRun is replaced) and fails: the success is still known.
    const next = decideRun({ ...ok, nextRunMs: NOW + 60 * MIN }, { now: NOW + 61 * MIN, runningJobsOfSchedule: 0 });
    if (next.action !== 'start') throw new Error('expected start');
    expect(next.schedule.lastSuccessEndMs).toBe(scheduledAt);
    const failed = onJobFinished(recordJobStarted(next.schedule, '778'), { jobId: '778', status: 'failed', error: 'x', now: NOW + 70 * MIN });
    expect(failed.schedule.lastRun).toMatchObject({ outcome: 'failed' });
    expect(failed.schedule.lastSuccessEndMs).toBe(scheduledAt);
    // An older run ending after a newer success (on_previous_running = start) does not move it back.
    const older = onJobFinished({ ...ok, lastSuccessEndMs: scheduledAt + MIN }, { jobId: '777', status: 'succeeded', now: later });
    expect(older.schedule.lastSuccessEndMs).toBe(scheduledAt + MIN);
  });

  it('keeps a schedule paused by a user while its job ran paused', () => {
    const full = { ...started(`WITH SCHEDULE OPTIONS on_execution_failure = 'retry'`), state: 'PAUSED' as const, nextRunMs: null };
    const r = onJobFinished(full, { jobId: '777', status: 'failed', error: 'x', now: later });
    expect(r.schedule).toMatchObject({ state: 'PAUSED', nextRunMs: null });
  });
});
