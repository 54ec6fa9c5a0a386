import { CairnError, ErrorCode } from '@cairn/errors';
import { parseOne, type CreateScheduleStatement } from '@cairn/sql';
import { describe, expect, it } from 'vitest';
import { existingBackupsError, pickFullCron, planCreateSchedule, type PlanCreateScheduleOptions } from './create-schedule.js';
import type { BackupSchedule } from './schedule.js';

const NOW = new Date(Date.UTC(2024, 2, 1, 10, 30)); // Friday 2024-03-01 10:30 UTC
const NOW_MS = NOW.getTime();
const HOUR = 3_600_000;
const S3 = 's3://test/backups/sched?AWS_ACCESS_KEY_ID=AKIAEXAMPLE&AWS_SECRET_ACCESS_KEY=s3cr3t';

function counter(start = 100): () => string {
  let n = start;
  return () => String(n++);
}

function stmt(sql: string): CreateScheduleStatement {
  const s = parseOne(sql);
  if (s.kind !== 'createSchedule') throw new Error(`not a CREATE SCHEDULE: ${sql}`);
  return s;
}

function plan(sql: string, opts: Partial<PlanCreateScheduleOptions> = {}) {
  return planCreateSchedule(stmt(sql), NOW, counter(), { owner: 'root', ...opts });
}

function byType(schedules: BackupSchedule[]) {
  return {
    full: schedules.find((s) => s.args.backupType === 'FULL'),
    inc: schedules.find((s) => s.args.backupType === 'INCREMENTAL'),
  };
}

function errorOf(f: () => unknown): CairnError {
  try {
    f();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

describe('planCreateSchedule: full and incremental cadences', () => {
  // [RECURRING / FULL BACKUP clauses, incremental cron, full cron, full's first run]
  it.each([
    // Only RECURRING: CockroachDB picks the full cadence and runs the first full now.
    [`RECURRING '*/15 * * * *'`, '*/15 * * * *', '@daily', NOW_MS],
    [`RECURRING '@hourly'`, '@hourly', '@daily', NOW_MS],
    [`RECURRING '0 */2 * * *'`, '0 */2 * * *', '@weekly', NOW_MS],
    [`RECURRING '0 */6 * * *'`, '0 */6 * * *', '@weekly', NOW_MS],
    [`RECURRING '@daily'`, '@daily', '@weekly', NOW_MS],
    // Incrementals rarer than daily: a single full-only schedule on the given cron.
    [`RECURRING '@weekly'`, null, '@weekly', NOW_MS],
    [`RECURRING '0 0 */2 * *'`, null, '0 0 */2 * *', NOW_MS],
    [`RECURRING '@monthly'`, null, '@monthly', NOW_MS],
    // FULL BACKUP ALWAYS: full-only, first run at the next cron time.
    [`RECURRING '@daily' FULL BACKUP ALWAYS`, null, '@daily', Date.UTC(2024, 2, 2)],
    [`RECURRING '@hourly' FULL BACKUP ALWAYS`, null, '@hourly', Date.UTC(2024, 2, 1, 11)],
    // FULL BACKUP '<cron>': paired, the full at its next cron time.
    [`RECURRING '@hourly' FULL BACKUP '@daily'`, '@hourly', '@daily', Date.UTC(2024, 2, 2)],
    [`RECURRING '@daily' FULL BACKUP '@weekly'`, '@daily', '@weekly', Date.UTC(2024, 2, 3)],
    [`RECURRING '@weekly' FULL BACKUP '@monthly'`, '@weekly', '@monthly', Date.UTC(2024, 3, 1)],
    [`RECURRING '@daily' FULL BACKUP '@daily'`, '@daily', '@daily', Date.UTC(2024, 2, 2)],
    // first_run overrides the full's first run.
    [`RECURRING '@hourly' WITH SCHEDULE OPTIONS first_run = '2024-03-05 10:00:00'`, '@hourly', '@daily', Date.UTC(2024, 2, 5, 10)],
    [`RECURRING '@daily' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = 'now'`, null, '@daily', NOW_MS],
    [`RECURRING '@hourly' FULL BACKUP '@daily' WITH SCHEDULE OPTIONS first_run = 'now'`, '@hourly', '@daily', NOW_MS],
  ])('%s → incremental %s, full %s', (clauses, incCron, fullCron, fullFirstRun) => {
    const p = plan(`CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/c' ${clauses}`);
    const { full, inc } = byType(p.schedules);
    expect(p.schedules).toHaveLength(incCron === null ? 1 : 2);
    expect(full?.cron).toBe(fullCron);
    expect(full?.nextRunMs).toBe(fullFirstRun);
    expect(full?.state).toBe('ACTIVE');
    expect(inc?.cron ?? null).toBe(incCron);
  });

  it('pickFullCron follows the 1 h / 24 h thresholds', () => {
    expect(pickFullCron(HOUR)).toBe('@daily');
    expect(pickFullCron(HOUR + 1)).toBe('@weekly');
    expect(pickFullCron(24 * HOUR)).toBe('@weekly');
    expect(pickFullCron(24 * HOUR + 1)).toBeNull();
  });

  it('refuses incrementals less frequent than fulls', () => {
    const err = errorOf(() => plan(`CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/c' RECURRING '@daily' FULL BACKUP '@hourly'`));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toBe('incremental backups must occur more often than full backups');
  });

  it.each([
    [`RECURRING 'bogus'`, 'bogus'],
    [`RECURRING '@hourly' FULL BACKUP '99 * * * *'`, '99 * * * *'],
    [`RECURRING '* * * * * *' FULL BACKUP ALWAYS`, '* * * * * *'],
  ])('an invalid cron is a clear error: %s', (clauses, cron) => {
    const err = errorOf(() => plan(`CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/c' ${clauses}`));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toContain(`error parsing schedule expression: "${cron}"; it must be a valid cron expression`);
  });

  it('RECURRING NEVER makes a one-off full schedule with no next run', () => {
    const p = plan(`CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/c' RECURRING NEVER`);
    expect(p.schedules).toHaveLength(1);
    expect(p.schedules[0]).toMatchObject({ cron: null, nextRunMs: null, state: 'ACTIVE' });
    expect(p.rows[0]).toMatchObject({ status: 'ACTIVE', first_run: null, schedule: 'NEVER' });
    const once = plan(`CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/c' RECURRING NEVER WITH SCHEDULE OPTIONS first_run = 'now'`);
    expect(once.schedules[0]).toMatchObject({ cron: null, nextRunMs: NOW_MS });
  });

  it('evaluates crons in the given time zone', () => {
    const p = plan(`CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/c' RECURRING '0 2 * * *' FULL BACKUP ALWAYS`, {
      timezone: 'America/New_York',
    });
    expect(p.schedules[0]).toMatchObject({ timezone: 'America/New_York', nextRunMs: Date.UTC(2024, 2, 2, 7) });
    expect(() => plan(`CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/c' RECURRING '@daily'`, { timezone: 'Mars/Olympus' })).toThrow(
      /invalid time zone/,
    );
  });

  it('refuses a bad first_run', () => {
    const err = errorOf(() =>
      plan(`CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/c' RECURRING '@daily' WITH SCHEDULE OPTIONS first_run = 'soon'`),
    );
    expect(err.code).toBe(ErrorCode.InvalidArgument);
  });
});

describe('planCreateSchedule: the pair', () => {
  // The seed's example (000, Manage a Backup Schedule).
  const sql = `CREATE SCHEDULE schedule_label
    FOR BACKUP INTO '${S3}'
      WITH revision_history
      RECURRING '@daily'
      WITH SCHEDULE OPTIONS first_run = 'now'`;

  it('creates a daily incremental and a weekly full sharing the label, each naming the other', () => {
    const p = plan(sql);
    const [inc, full] = p.schedules;
    expect(inc?.args.backupType).toBe('INCREMENTAL');
    expect(full?.args.backupType).toBe('FULL');
    // The incremental is created first, so its id is smaller.
    expect(inc?.id).toBe('100');
    expect(full?.id).toBe('101');
    expect(inc).toMatchObject({
      label: 'schedule_label',
      owner: 'root',
      cron: '@daily',
      state: 'PAUSED',
      nextRunMs: null,
      statusText: 'Waiting for initial backup to complete',
      createdAtMs: NOW_MS,
      timezone: 'UTC',
      lastRun: null,
      lastSuccessEndMs: null,
    });
    expect(inc?.args).toMatchObject({ dependentScheduleId: '101', unpauseOnSuccess: null, chainProtectedTimestampRecords: true });
    expect(full).toMatchObject({ label: 'schedule_label', cron: '@weekly', state: 'ACTIVE', nextRunMs: NOW_MS, statusText: '' });
    expect(full?.args).toMatchObject({ dependentScheduleId: '100', unpauseOnSuccess: '100', chainProtectedTimestampRecords: true });
  });

  it('stores detached statements with credentials: INTO for the full, INTO LATEST IN for the incremental', () => {
    const { full, inc } = byType(plan(sql).schedules);
    expect(full?.args.backupStatement).toBe(`BACKUP INTO '${S3}' WITH revision_history, detached`);
    expect(inc?.args.backupStatement).toBe(`BACKUP INTO LATEST IN '${S3}' WITH revision_history, detached`);
  });

  it('returns rows with the backup statement redacted', () => {
    const p = plan(sql);
    const redacted = 's3://test/backups/sched?AWS_ACCESS_KEY_ID=redacted&AWS_SECRET_ACCESS_KEY=redacted';
    expect(p.rows).toEqual([
      {
        schedule_id: '100',
        label: 'schedule_label',
        status: 'PAUSED: Waiting for initial backup to complete',
        first_run: null,
        schedule: '@daily',
        backup_stmt: `BACKUP INTO LATEST IN '${redacted}' WITH revision_history, detached`,
      },
      {
        schedule_id: '101',
        label: 'schedule_label',
        status: 'ACTIVE',
        first_run: '2024-03-01 10:30:00+00:00',
        schedule: '@weekly',
        backup_stmt: `BACKUP INTO '${redacted}' WITH revision_history, detached`,
      },
    ]);
    for (const row of p.rows) {
      expect(row.backup_stmt).not.toContain('s3cr3t');
      expect(row.backup_stmt).not.toContain('AKIAEXAMPLE');
    }
  });

  it('keeps targets and options, incremental_location only on the incremental', () => {
    const p = plan(
      `CREATE SCHEDULE s FOR BACKUP DATABASE bank INTO 'nodelocal://1/c'
         WITH revision_history, encryption_passphrase = 'pw', incremental_location = 'nodelocal://1/inc',
              EXECUTION LOCALITY = 'region=us-east1'
         RECURRING '@hourly'`,
    );
    const { full, inc } = byType(p.schedules);
    expect(full?.args.backupStatement).toBe(
      `BACKUP DATABASE bank INTO 'nodelocal://1/c' WITH revision_history, encryption_passphrase = 'pw', detached, EXECUTION LOCALITY = 'region=us-east1'`,
    );
    expect(inc?.args.backupStatement).toBe(
      `BACKUP DATABASE bank INTO LATEST IN 'nodelocal://1/c' WITH revision_history, encryption_passphrase = 'pw', detached, incremental_location = 'nodelocal://1/inc', EXECUTION LOCALITY = 'region=us-east1'`,
    );
    for (const row of p.rows) expect(row.backup_stmt).toContain(`encryption_passphrase = 'redacted'`);
  });

  it('applies schedule options, forcing the incremental to wait on its previous run', () => {
    const p = plan(
      `CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/c' RECURRING '@hourly'
         WITH SCHEDULE OPTIONS on_previous_running = 'skip', on_execution_failure = 'pause', updates_cluster_last_backup_time_metric`,
    );
    const { full, inc } = byType(p.schedules);
    expect(full?.details).toEqual({ onPreviousRunning: 'skip', onExecutionFailure: 'pause' });
    expect(inc?.details).toEqual({ onPreviousRunning: 'wait', onExecutionFailure: 'pause' });
    expect(full?.args.updatesLastBackupMetric).toBe(true);
    expect(inc?.args.updatesLastBackupMetric).toBe(true);
  });

  it('gives both schedules of a pair the retention, normalized; none means kept forever', () => {
    const p = plan(`CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/c' RECURRING '@hourly' WITH SCHEDULE OPTIONS retention = ' 720H '`);
    expect(p.schedules.map((s) => [s.args.backupType, s.args.retention])).toEqual([
      ['INCREMENTAL', '720h'],
      ['FULL', '720h'],
    ]);
    const forever = plan(`CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/c' RECURRING '@daily' FULL BACKUP ALWAYS`);
    expect(forever.schedules.map((s) => s.args.retention)).toEqual([null]);
  });

  it('refuses a bad or too short retention, naming the option', () => {
    const sql = (r: string) => `CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/c' RECURRING '@hourly' WITH SCHEDULE OPTIONS retention = '${r}'`;
    const bad = errorOf(() => plan(sql('30 days')));
    expect(bad.code).toBe(ErrorCode.InvalidArgument);
    expect(bad.message).toMatch(/^invalid retention "30 days": expected a duration such as '720h'/);
    expect(errorOf(() => plan(sql('30s'))).message).toBe('retention "30s" is too short: it must be at least 1m');
    expect(errorOf(() => plan(sql(''))).message).toMatch(/^invalid retention ""/);
  });

  it('defaults to on_previous_running = wait and on_execution_failure = reschedule', () => {
    const { full } = byType(plan(`CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/c' RECURRING '@daily' FULL BACKUP ALWAYS`).schedules);
    expect(full?.details).toEqual({ onPreviousRunning: 'wait', onExecutionFailure: 'reschedule' });
    expect(full?.args).toMatchObject({ dependentScheduleId: null, unpauseOnSuccess: null, chainProtectedTimestampRecords: false });
  });

  it('does not chain protected timestamps when GC protection is disabled', () => {
    const p = plan(`CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/c' RECURRING '@hourly'`, { chainProtectedTimestamps: false });
    for (const s of p.schedules) expect(s.args.chainProtectedTimestampRecords).toBe(false);
  });
});

describe('planCreateSchedule: labels, IF NOT EXISTS, existing backups', () => {
  it('defaults the label to BACKUP <unix seconds>', () => {
    const p = plan(`CREATE SCHEDULE FOR BACKUP INTO 'nodelocal://1/c' RECURRING '@hourly'`);
    for (const s of p.schedules) expect(s.label).toBe(`BACKUP ${NOW_MS / 1000}`);
  });

  it('IF NOT EXISTS skips an existing label', () => {
    const sql = `CREATE SCHEDULE IF NOT EXISTS nightly FOR BACKUP INTO 'nodelocal://1/c' RECURRING '@daily'`;
    const skipped = plan(sql, { labelExists: (l) => l === 'nightly' });
    expect(skipped).toEqual({ schedules: [], rows: [], notice: 'schedule "nightly" already exists, skipping', checkExistingBackupsIn: null });
    expect(plan(sql, { labelExists: () => false }).schedules).toHaveLength(2);
    // Without IF NOT EXISTS labels may repeat, as in CockroachDB.
    expect(plan(sql.replace('IF NOT EXISTS ', ''), { labelExists: () => true }).schedules).toHaveLength(2);
  });

  it('asks for the collection to be checked unless ignore_existing_backups', () => {
    expect(plan(`CREATE SCHEDULE s FOR BACKUP INTO '${S3}' RECURRING '@daily'`).checkExistingBackupsIn).toBe(S3);
    const localityAware = plan(
      `CREATE SCHEDULE s FOR BACKUP INTO ('nodelocal://1/west?COCKROACH_LOCALITY=region%3Dwest', 'nodelocal://1/def?COCKROACH_LOCALITY=default') RECURRING '@daily'`,
    );
    expect(localityAware.checkExistingBackupsIn).toBe('nodelocal://1/def?COCKROACH_LOCALITY=default');
    const ignored = plan(`CREATE SCHEDULE s FOR BACKUP INTO '${S3}' RECURRING '@daily' WITH SCHEDULE OPTIONS ignore_existing_backups`);
    expect(ignored.checkExistingBackupsIn).toBeNull();
    const err = existingBackupsError(S3);
    expect(err.message).toBe(
      `backups already created in s3://test/backups/sched?AWS_ACCESS_KEY_ID=redacted&AWS_SECRET_ACCESS_KEY=redacted; to ignore existing backups, the schedule can be created with the 'ignore_existing_backups' option`,
    );
  });

  it('matches the seed FULL BACKUP ALWAYS example row', () => {
    const p = plan(`CREATE SCHEDULE core_schedule_label
      FOR BACKUP INTO 's3://test/schedule-test-core?AWS_ACCESS_KEY_ID=x&AWS_SECRET_ACCESS_KEY=x'
        RECURRING '@daily'
        FULL BACKUP ALWAYS
        WITH SCHEDULE OPTIONS first_run = 'now'`);
    expect(p.rows).toEqual([
      {
        schedule_id: '100',
        label: 'core_schedule_label',
        status: 'ACTIVE',
        first_run: '2024-03-01 10:30:00+00:00',
        schedule: '@daily',
        backup_stmt: `BACKUP INTO 's3://test/schedule-test-core?AWS_ACCESS_KEY_ID=redacted&AWS_SECRET_ACCESS_KEY=redacted' WITH detached`,
      },
    ]);
  });
});
