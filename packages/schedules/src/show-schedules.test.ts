import { parseOne, type CreateScheduleStatement } from '@cairn/sql';
import { describe, expect, it } from 'vitest';
import { planCreateSchedule } from './create-schedule.js';
import type { BackupSchedule } from './schedule.js';
import { SHOW_BACKUP_SCHEDULES_COLUMNS, SHOW_SCHEDULES_COLUMNS, showSchedule, showSchedules, showSchedulesRow } from './show-schedules.js';
import { createScheduleStatement, showCreateSchedules } from './show-create-schedule.js';

const NOW = Date.UTC(2024, 2, 1, 10, 30);
const SECRET_URI = 's3://bucket/path?AWS_ACCESS_KEY_ID=AKIAEXAMPLE&AWS_SECRET_ACCESS_KEY=topsecret&AWS_REGION=us-east-1';

function pair(): BackupSchedule[] {
  const s = parseOne(
    `CREATE SCHEDULE nightly FOR BACKUP INTO '${SECRET_URI}' WITH encryption_passphrase = 'hunter2' RECURRING '@hourly'`,
  ) as CreateScheduleStatement;
  let n = 590204387299262465n;
  return planCreateSchedule(s, new Date(NOW), () => String(n++), { owner: 'root' }).schedules;
}

describe('SHOW SCHEDULES', () => {
  it('has the columns of CockroachDB', () => {
    expect(SHOW_SCHEDULES_COLUMNS).toEqual([
      'id',
      'label',
      'schedule_status',
      'next_run',
      'state',
      'recurrence',
      'jobsrunning',
      'owner',
      'created',
      'command',
    ]);
  });

  it('renders both schedules of a pair, secrets redacted', () => {
    const [inc, full] = pair();
    if (!inc || !full) throw new Error('no pair');
    const rows = showSchedules({ status: undefined }, [full, inc], (id) => (id === full.id ? 1 : 0));
    expect(rows).toEqual([
      {
        id: '590204387299262465',
        label: 'nightly',
        schedule_status: 'PAUSED',
        next_run: null,
        state: 'Waiting for initial backup to complete',
        recurrence: '@hourly',
        jobsrunning: '0',
        owner: 'root',
        created: '2024-03-01 10:30:00+00:00',
        command: JSON.stringify({
          backup_statement:
            "BACKUP INTO LATEST IN 's3://bucket/path?AWS_ACCESS_KEY_ID=redacted&AWS_SECRET_ACCESS_KEY=redacted&AWS_REGION=us-east-1' WITH OPTIONS (encryption_passphrase = 'redacted', detached)",
          backup_type: 'INCREMENTAL',
          chain_protected_timestamp_records: true,
          dependent_schedule_id: '590204387299262466',
        }),
        backup_type: 'INCREMENTAL',
        on_previous_running: 'WAIT',
        on_execution_failure: 'RETRY_SCHED',
      },
      {
        id: '590204387299262466',
        label: 'nightly',
        schedule_status: 'ACTIVE',
        next_run: '2024-03-01 10:30:00+00:00',
        state: null,
        recurrence: '@daily',
        jobsrunning: '1',
        owner: 'root',
        created: '2024-03-01 10:30:00+00:00',
        command: JSON.stringify({
          backup_statement:
            "BACKUP INTO 's3://bucket/path?AWS_ACCESS_KEY_ID=redacted&AWS_SECRET_ACCESS_KEY=redacted&AWS_REGION=us-east-1' WITH OPTIONS (encryption_passphrase = 'redacted', detached)",
          backup_type: 'FULL',
          chain_protected_timestamp_records: true,
          dependent_schedule_id: '590204387299262465',
          unpause_on_success: '590204387299262465',
        }),
        backup_type: 'FULL',
        on_previous_running: 'WAIT',
        on_execution_failure: 'RETRY_SCHED',
      },
    ]);
    for (const row of rows) {
      for (const secret of ['AKIAEXAMPLE', 'topsecret', 'hunter2']) expect(JSON.stringify(row)).not.toContain(secret);
    }
    // The stored statement keeps the secrets: it is what runs.
    expect(full.args.backupStatement).toContain('topsecret');
  });

  it('SHOW SCHEDULES FOR BACKUP: the statement as command, the backup type and the policies as CockroachDB names them', () => {
    expect(SHOW_BACKUP_SCHEDULES_COLUMNS).toEqual([...SHOW_SCHEDULES_COLUMNS, 'backup_type', 'on_previous_running', 'on_execution_failure']);
    const [inc, full] = pair();
    if (!inc || !full) throw new Error('no pair');
    const skip = { ...full, details: { onPreviousRunning: 'skip' as const, onExecutionFailure: 'pause' as const } };
    const rows = showSchedules({ status: undefined, backupOnly: true }, [skip, inc]);
    expect(rows.map((r) => [r.command, r.backup_type, r.on_previous_running, r.on_execution_failure])).toEqual([
      [
        "BACKUP INTO LATEST IN 's3://bucket/path?AWS_ACCESS_KEY_ID=redacted&AWS_SECRET_ACCESS_KEY=redacted&AWS_REGION=us-east-1' WITH OPTIONS (encryption_passphrase = 'redacted', detached)",
        'INCREMENTAL',
        'WAIT',
        'RETRY_SCHED',
      ],
      [
        "BACKUP INTO 's3://bucket/path?AWS_ACCESS_KEY_ID=redacted&AWS_SECRET_ACCESS_KEY=redacted&AWS_REGION=us-east-1' WITH OPTIONS (encryption_passphrase = 'redacted', detached)",
        'FULL',
        'SKIP',
        'PAUSE_SCHED',
      ],
    ]);
    // The printed statement reads back as the stored one.
    expect(parseOne(rows[1]!.command!)).toMatchObject({ kind: 'backup', options: { detached: true, encryptionPassphrase: 'redacted' } });
    expect(showSchedulesRow({ ...full, details: { onPreviousRunning: 'start', onExecutionFailure: 'retry' } }, 0)).toMatchObject({
      on_previous_running: 'NO_WAIT',
      on_execution_failure: 'RETRY_SOON',
    });
  });

  it('SHOW CREATE SCHEDULE: the pair as one CREATE SCHEDULE, secrets redacted; ALL SCHEDULES gives each', () => {
    const [inc, full] = pair();
    if (!inc || !full) throw new Error('no pair');
    const expected =
      "CREATE SCHEDULE 'nightly' FOR BACKUP INTO 's3://bucket/path?AWS_ACCESS_KEY_ID=redacted&AWS_SECRET_ACCESS_KEY=redacted&AWS_REGION=us-east-1' " +
      "WITH OPTIONS (encryption_passphrase = 'redacted', detached) RECURRING '@hourly' FULL BACKUP '@daily' " +
      "WITH SCHEDULE OPTIONS on_execution_failure = 'reschedule', on_previous_running = 'wait'";
    expect(showCreateSchedules(inc.id, [full, inc])).toEqual([[inc.id, expected]]);
    expect(showCreateSchedules(undefined, [full, inc])).toEqual([
      [inc.id, expected],
      [full.id, expected],
    ]);
    // Unpaired: FULL BACKUP ALWAYS; a cron in another zone keeps its CRON_TZ.
    const alone = { ...full, timezone: 'Europe/Paris', args: { ...full.args, dependentScheduleId: null, retention: '30d' } };
    expect(createScheduleStatement(alone, [alone])).toBe(
      "CREATE SCHEDULE 'nightly' FOR BACKUP INTO 's3://bucket/path?AWS_ACCESS_KEY_ID=redacted&AWS_SECRET_ACCESS_KEY=redacted&AWS_REGION=us-east-1' " +
        "WITH OPTIONS (encryption_passphrase = 'redacted', detached) RECURRING 'CRON_TZ=Europe/Paris @daily' FULL BACKUP ALWAYS " +
        "WITH SCHEDULE OPTIONS on_execution_failure = 'reschedule', on_previous_running = 'wait', retention = '30d'",
    );
    expect(parseOne(expected)).toMatchObject({ kind: 'createSchedule', label: 'nightly', recurrence: { expr: '@hourly' }, fullBackup: { expr: '@daily' } });
    expect(() => showCreateSchedules('1', [full])).toThrow('schedule with ID 1 does not exist');
  });

  it('filters RUNNING (active) and PAUSED schedules', () => {
    const all = pair();
    expect(showSchedules({ status: 'running' }, all).map((r) => r.schedule_status)).toEqual(['ACTIVE']);
    expect(showSchedules({ status: 'paused' }, all).map((r) => r.schedule_status)).toEqual(['PAUSED']);
  });

  it('SHOW SCHEDULE <id> shows one; an unknown id is NotFound', () => {
    const all = pair();
    expect(showSchedule('590204387299262466', all).recurrence).toBe('@daily');
    expect(() => showSchedule('1', all)).toThrow('schedule with ID 1 does not exist');
  });

  it('shows the retention among the schedule\'s arguments when it has one', () => {
    const [inc, full] = pair();
    if (!inc || !full) throw new Error('no pair');
    expect(JSON.parse(showSchedulesRow(full, 0).command ?? '{}')).not.toHaveProperty('retention');
    const kept = { ...full, args: { ...full.args, retention: '720h' } };
    expect(JSON.parse(showSchedulesRow(kept, 0).command ?? '{}')).toMatchObject({ backup_type: 'FULL', retention: '720h' });
  });

  it('shows NEVER for a schedule without a cron', () => {
    const [, full] = pair();
    if (!full) throw new Error('no full');
    expect(showSchedulesRow({ ...full, cron: null, nextRunMs: null }, 0)).toMatchObject({ recurrence: 'NEVER', next_run: null });
  });
});
