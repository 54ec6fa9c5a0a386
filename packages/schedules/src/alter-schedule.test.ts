import { CairnError, ErrorCode } from '@cairn/errors';
import { parseOne, type AlterBackupScheduleStatement, type CreateScheduleStatement } from '@cairn/sql';
import { describe, expect, it } from 'vitest';
import { applyAlter } from './alter-schedule.js';
import { planCreateSchedule } from './create-schedule.js';
import type { BackupSchedule } from './schedule.js';

const NOW = Date.UTC(2024, 2, 1, 10, 30);
const LATER = NOW + 3_600_000;
const S3 = 's3://b/p?AWS_ACCESS_KEY_ID=K&AWS_SECRET_ACCESS_KEY=S';

function create(clauses: string): BackupSchedule[] {
  const s = parseOne(`CREATE SCHEDULE s FOR BACKUP INTO '${S3}' ${clauses}`) as CreateScheduleStatement;
  let n = 1;
  return planCreateSchedule(s, new Date(NOW), () => String(n++), { owner: 'root' }).schedules;
}

function paired() {
  const [inc, full] = create(`WITH revision_history RECURRING '@hourly' FULL BACKUP '@daily'`);
  if (!inc || !full) throw new Error('expected a pair');
  return { inc, full };
}

function fullOnly() {
  const [full] = create(`RECURRING '@daily' FULL BACKUP ALWAYS`);
  if (!full) throw new Error('expected a schedule');
  return full;
}

function alter(target: BackupSchedule, dependent: BackupSchedule | undefined, commands: string) {
  const s = parseOne(`ALTER BACKUP SCHEDULE ${target.id} ${commands}`) as AlterBackupScheduleStatement;
  return applyAlter(target, dependent, s.commands, { now: LATER, ids: () => '99', user: 'alice' });
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

describe('applyAlter', () => {
  it('SET LABEL renames both schedules of a pair, whichever is addressed', () => {
    const { inc, full } = paired();
    for (const [target, dep] of [
      [full, inc],
      [inc, full],
    ] as const) {
      const r = alter(target, dep, `SET LABEL 'nightly'`);
      expect(r.full.label).toBe('nightly');
      expect(r.incremental?.label).toBe('nightly');
      expect(r.rows.map((row) => row.schedule_id)).toEqual([inc.id, full.id]);
    }
  });

  it('SET INTO moves both statements, pauses the incremental and runs the full now', () => {
    const { inc, full } = paired();
    const running = { ...inc, state: 'ACTIVE' as const, statusText: '', nextRunMs: NOW + 1000 };
    const fullAfterFirst = { ...full, args: { ...full.args, unpauseOnSuccess: null } };
    const r = alter(fullAfterFirst, running, `SET INTO 'nodelocal://1/new'`);
    expect(r.full.args.backupStatement).toBe(`BACKUP INTO 'nodelocal://1/new' WITH revision_history, detached`);
    expect(r.incremental?.args.backupStatement).toBe(`BACKUP INTO LATEST IN 'nodelocal://1/new' WITH revision_history, detached`);
    expect(r.incremental).toMatchObject({ state: 'PAUSED', nextRunMs: null, statusText: 'Waiting for initial backup to complete' });
    expect(r.full.args.unpauseOnSuccess).toBe(inc.id);
    expect(r.full.nextRunMs).toBe(LATER);
  });

  it('SET INTO leaves the full alone when the incremental was already waiting', () => {
    const { inc, full } = paired();
    const r = alter(full, inc, `SET INTO 'nodelocal://1/new'`);
    expect(r.full.nextRunMs).toBe(full.nextRunMs);
  });

  it('SET WITH changes options on both; empty strings unset; detached cannot change', () => {
    const { inc, full } = paired();
    const r = alter(full, inc, `SET WITH revision_history = false, SET WITH encryption_passphrase = 'pw'`);
    expect(r.full.args.backupStatement).toBe(`BACKUP INTO '${S3}' WITH revision_history = false, encryption_passphrase = 'pw', detached`);
    expect(r.incremental?.args.backupStatement).toContain(`INTO LATEST IN '${S3}' WITH revision_history = false, encryption_passphrase = 'pw'`);
    expect(r.rows[0]?.backup_stmt).toContain(`encryption_passphrase = 'redacted'`);
    expect(r.rows[0]?.backup_stmt).not.toContain('AWS_SECRET_ACCESS_KEY=S');
    const unset = alter(r.full, r.incremental ?? undefined, `SET WITH encryption_passphrase = ''`);
    expect(unset.full.args.backupStatement).not.toContain('encryption_passphrase');
    expect(errorOf(() => alter(full, inc, `SET WITH detached = false`)).message).toBe(
      'DETACHED is required for scheduled backups and cannot be altered',
    );
    expect(errorOf(() => alter(full, inc, `SET WITH revision_history = true, SET WITH revision_history = false`)).message).toBe(
      'revision_history option specified multiple times',
    );
  });

  it('SET RECURRING changes the incremental of a pair, the full when alone', () => {
    const { inc, full } = paired();
    const r = alter(full, inc, `SET RECURRING '*/30 * * * *'`);
    expect(r.incremental?.cron).toBe('*/30 * * * *');
    expect(r.incremental?.state).toBe('PAUSED'); // keeps the pause state
    expect(r.incremental?.nextRunMs).toBeNull();
    expect(r.full.cron).toBe('@daily');
    const active = { ...inc, state: 'ACTIVE' as const, nextRunMs: LATER };
    expect(alter(full, active, `SET RECURRING '*/30 * * * *'`).incremental?.nextRunMs).toBe(LATER + 30 * 60_000);
    const alone = alter(fullOnly(), undefined, `SET RECURRING '@weekly'`);
    expect(alone).toMatchObject({ incremental: null, full: { cron: '@weekly', nextRunMs: Date.UTC(2024, 2, 3) } });
  });

  it('refuses incrementals less frequent than fulls', () => {
    const { inc, full } = paired();
    expect(errorOf(() => alter(full, inc, `SET RECURRING '@weekly'`)).message).toBe(
      'incremental backups must occur more often than full backups',
    );
    expect(errorOf(() => alter(inc, full, `SET FULL BACKUP '@hourly', SET RECURRING '@daily'`)).code).toBe(ErrorCode.InvalidArgument);
  });

  it('SET FULL BACKUP on a pair changes the full cadence', () => {
    const { inc, full } = paired();
    const r = alter(inc, full, `SET FULL BACKUP '@weekly'`);
    expect(r.full).toMatchObject({ cron: '@weekly', nextRunMs: Date.UTC(2024, 2, 3) });
    expect(r.created).toEqual([]);
  });

  it('SET FULL BACKUP on a full-only schedule creates a paused incremental on the old cadence', () => {
    const full = fullOnly();
    const r = alter(full, undefined, `SET FULL BACKUP '@weekly'`);
    expect(r.created).toHaveLength(1);
    expect(r.incremental).toMatchObject({
      id: '99',
      owner: 'alice',
      cron: '@daily',
      state: 'PAUSED',
      statusText: 'Waiting for initial backup to complete',
      details: { onPreviousRunning: 'wait' },
      args: { backupType: 'INCREMENTAL', dependentScheduleId: full.id, unpauseOnSuccess: null },
    });
    expect(r.incremental?.args.backupStatement).toBe(`BACKUP INTO LATEST IN '${S3}' WITH detached`);
    expect(r.full).toMatchObject({ cron: '@weekly', args: { dependentScheduleId: '99', unpauseOnSuccess: '99' } });
  });

  it('SET FULL BACKUP ALWAYS moves the incremental cadence to the full and deletes the incremental', () => {
    const { inc, full } = paired();
    const withPts = { ...inc, args: { ...inc.args, chainedProtectedTimestampRecord: 'pts-1' } };
    const r = alter(full, withPts, `SET FULL BACKUP ALWAYS`);
    expect(r.incremental).toBeNull();
    expect(r.deleted).toEqual([inc.id]);
    expect(r.releaseProtectedTimestamps).toEqual(['pts-1']);
    expect(r.full).toMatchObject({ cron: '@hourly', args: { dependentScheduleId: null, unpauseOnSuccess: null } });
    expect(r.rows).toHaveLength(1);
  });

  it('SET SCHEDULE OPTION applies to both, the incremental always waiting', () => {
    const { inc, full } = paired();
    const r = alter(
      full,
      inc,
      `SET SCHEDULE OPTION on_previous_running = 'skip', SET SCHEDULE OPTION on_execution_failure = 'retry', SET SCHEDULE OPTION updates_cluster_last_backup_time_metric = true`,
    );
    expect(r.full.details).toEqual({ onPreviousRunning: 'skip', onExecutionFailure: 'retry' });
    expect(r.incremental?.details).toEqual({ onPreviousRunning: 'wait', onExecutionFailure: 'retry' });
    expect(r.full.args.updatesLastBackupMetric).toBe(true);
    expect(r.incremental?.args.updatesLastBackupMetric).toBe(true);
    expect(errorOf(() => alter(full, inc, `SET SCHEDULE OPTION first_run = 'now'`)).message).toBe('invalid option "first_run"');
  });

  it('SET SCHEDULE OPTION retention sets it on both, whichever is addressed; an empty one removes it', () => {
    const { inc, full } = paired();
    const set = alter(inc, full, `SET SCHEDULE OPTION retention = '30D'`);
    expect([set.full.args.retention, set.incremental?.args.retention]).toEqual(['30d', '30d']);
    const cleared = alter(set.full, set.incremental ?? undefined, `SET SCHEDULE OPTION retention = ''`);
    expect([cleared.full.args.retention, cleared.incremental?.args.retention]).toEqual([null, null]);
    // A new incremental made by SET FULL BACKUP inherits the full's retention.
    const alone = alter(fullOnly(), undefined, `SET SCHEDULE OPTION retention = '2w'`).full;
    expect(alter(alone, undefined, `SET FULL BACKUP '@weekly'`).incremental?.args.retention).toBe('2w');
    const bad = errorOf(() => alter(full, inc, `SET SCHEDULE OPTION retention = '10s'`));
    expect(bad.code).toBe(ErrorCode.InvalidArgument);
    expect(bad.message).toBe('retention "10s" is too short: it must be at least 1m');
    expect(errorOf(() => alter(full, inc, `SET SCHEDULE OPTION retention = '1d', SET SCHEDULE OPTION retention = '2d'`)).message).toBe(
      'retention option specified multiple times',
    );
  });

  it('EXECUTE IMMEDIATELY runs the incremental (FULL: the full) now; a paused one is refused', () => {
    const { inc, full } = paired();
    const activeInc = { ...inc, state: 'ACTIVE' as const, statusText: '', nextRunMs: NOW + 1 };
    expect(alter(full, activeInc, `EXECUTE IMMEDIATELY`).incremental?.nextRunMs).toBe(LATER);
    expect(alter(full, activeInc, `EXECUTE FULL IMMEDIATELY`).full.nextRunMs).toBe(LATER);
    expect(alter(fullOnly(), undefined, `EXECUTE IMMEDIATELY`).full.nextRunMs).toBe(LATER);
    const err = errorOf(() => alter(full, inc, `EXECUTE IMMEDIATELY`));
    expect(err.code).toBe(ErrorCode.FailedPrecondition);
    expect(err.message).toBe('cannot execute a paused schedule; use RESUME SCHEDULE instead');
  });

  it('allows each SET clause once', () => {
    const { inc, full } = paired();
    expect(errorOf(() => alter(full, inc, `SET LABEL 'a', SET LABEL 'b'`)).message).toBe('can specify SET LABEL at most once');
  });

  it('refuses an incremental whose full was dropped, and a missing dependent', () => {
    const { inc, full } = paired();
    const orphan = { ...inc, args: { ...inc.args, dependentScheduleId: null } };
    const err = errorOf(() => alter(orphan, undefined, `SET LABEL 'x'`));
    expect(err.message).toBe(`incremental backup schedule ${inc.id} has no corresponding full backup schedule; drop schedule ${inc.id} and recreate`);
    expect(errorOf(() => alter(full, undefined, `SET LABEL 'x'`)).code).toBe(ErrorCode.NotFound);
  });

  it("passes BACKUP's checks: SET WITH kms on a schedule with a passphrase is refused; detached = false is refused", () => {
    const [sealed] = create(`WITH encryption_passphrase = 'pw' RECURRING '@daily' FULL BACKUP ALWAYS`);
    const kms = errorOf(() => alter(sealed!, undefined, `SET WITH kms = 'aws-kms:///k?REGION=r'`));
    expect(kms.message).toBe('cannot have both encryption_passphrase and kms option set');
    // Unsetting the passphrase in the same statement makes the change valid.
    const swapped = alter(sealed!, undefined, `SET WITH kms = 'aws-kms:///k?REGION=r', SET WITH encryption_passphrase = ''`);
    expect(swapped.full.args.backupStatement).toContain("kms = 'aws-kms:///k?REGION=r'");
    expect(swapped.full.args.backupStatement).not.toContain('encryption_passphrase');
    expect(errorOf(() => alter(fullOnly(), undefined, 'SET WITH detached = false')).message).toBe('DETACHED is required for scheduled backups and cannot be altered');
    expect(errorOf(() => create(`WITH detached = false RECURRING '@daily'`)).message).toBe('DETACHED is required for scheduled backups: remove detached = false');
    expect(errorOf(() => create(`WITH encryption_passphrase = 'pw', kms = 'aws-kms:///k?REGION=r' RECURRING '@daily'`)).message).toBe(
      'cannot have both encryption_passphrase and kms option set',
    );
  });

  it('incremental_location belongs to the incremental statement; a schedule of full backups only refuses it', () => {
    const { inc, full } = paired();
    const r = alter(full, inc, `SET WITH incremental_location = 's3://i/p'`);
    expect(r.incremental?.args.backupStatement).toContain("incremental_location = 's3://i/p'");
    expect(r.full.args.backupStatement).not.toContain('incremental_location');
    const message = 'incremental_location applies to the incremental backups of a schedule, and this schedule takes full backups only';
    expect(errorOf(() => alter(fullOnly(), undefined, `SET WITH incremental_location = 's3://i/p'`)).message).toBe(message);
    expect(errorOf(() => create(`WITH incremental_location = 's3://i/p' RECURRING '@daily' FULL BACKUP ALWAYS`)).message).toBe(message);
  });

  it('refuses retention with incremental_location, at CREATE and however ALTER would combine them', () => {
    const message = 'the retention schedule option expires the chains of the collection only: it cannot be combined with incremental_location';
    expect(errorOf(() => create(`WITH incremental_location = 's3://i/p' RECURRING '@hourly' WITH SCHEDULE OPTIONS retention = '30d'`)).message).toBe(message);
    const [inc, full] = create(`WITH incremental_location = 's3://i/p' RECURRING '@hourly' FULL BACKUP '@daily'`);
    expect(errorOf(() => alter(full!, inc, `SET SCHEDULE OPTION retention = '30d'`)).message).toBe(message);
    const { inc: inc2, full: full2 } = paired();
    const retained = alter(full2, inc2, `SET SCHEDULE OPTION retention = '30d'`);
    expect(errorOf(() => alter(retained.full, retained.incremental!, `SET WITH incremental_location = 's3://i/p'`)).message).toBe(message);
  });
});
