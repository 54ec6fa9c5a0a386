import { parseOne, type ControlSchedulesStatement, type CreateScheduleStatement } from '@cairn/sql';
import { describe, expect, it } from 'vitest';
import { applyControlSchedules, pauseSchedule, planDropSchedule, resumeSchedule, selectSchedules } from './control-schedules.js';
import { planCreateSchedule } from './create-schedule.js';
import type { BackupSchedule } from './schedule.js';

const NOW = Date.UTC(2024, 2, 1, 10, 30);
let nextId = 1000;

function create(label: string, clauses: string): BackupSchedule[] {
  const s = parseOne(`CREATE SCHEDULE ${label} FOR BACKUP INTO 'nodelocal://1/${label}' ${clauses}`) as CreateScheduleStatement;
  return planCreateSchedule(s, new Date(NOW), () => String(nextId++), { owner: 'root' }).schedules;
}

function control(sql: string, schedules: BackupSchedule[]) {
  return applyControlSchedules(parseOne(sql) as ControlSchedulesStatement, schedules, NOW);
}

describe('PAUSE / RESUME', () => {
  it('PAUSE clears the next run; RESUME recomputes it from the cron', () => {
    const [full] = create('a', `RECURRING '@daily' FULL BACKUP ALWAYS`);
    if (!full) throw new Error('no schedule');
    const paused = pauseSchedule(full);
    expect(paused).toMatchObject({ state: 'PAUSED', nextRunMs: null });
    expect(resumeSchedule(paused, NOW + 1)).toMatchObject({ state: 'ACTIVE', nextRunMs: Date.UTC(2024, 2, 2) });
    // An ACTIVE schedule keeps its (first_run) next run.
    const custom = { ...full, nextRunMs: NOW + 5 };
    expect(resumeSchedule(custom, NOW)).toBe(custom);
    // RESUME of a NEVER schedule: active, nothing to run until executed by hand.
    expect(resumeSchedule({ ...paused, cron: null }, NOW)).toMatchObject({ state: 'ACTIVE', nextRunMs: null });
  });
});

describe('DROP', () => {
  it('dropping a full drops its incremental and releases their protected timestamps', () => {
    const [inc, full] = create('b', `RECURRING '@hourly'`);
    if (!inc || !full) throw new Error('no pair');
    const withPts = { ...inc, args: { ...inc.args, chainedProtectedTimestampRecord: 'pts-9' } };
    expect(planDropSchedule(full, withPts)).toEqual({ deleted: [full.id, inc.id], updated: [], releaseProtectedTimestamps: ['pts-9'] });
  });

  it('dropping an incremental unlinks it from its full', () => {
    const [inc, full] = create('c', `RECURRING '@hourly'`);
    if (!inc || !full) throw new Error('no pair');
    const plan = planDropSchedule(inc, full);
    expect(plan.deleted).toEqual([inc.id]);
    expect(plan.updated).toHaveLength(1);
    expect(plan.updated[0]?.args).toMatchObject({ dependentScheduleId: null, unpauseOnSuccess: null, backupType: 'FULL' });
  });

  it('DROP SCHEDULE <full> counts the incremental dropped with it', () => {
    const all = [...create('d', `RECURRING '@hourly'`), ...create('e', `RECURRING '@daily' FULL BACKUP ALWAYS`)];
    const full = all[1];
    if (!full) throw new Error('no full');
    const r = control(`DROP SCHEDULE ${full.id}`, all);
    expect(r.deleted).toEqual([full.id, all[0]?.id]);
    expect(r.count).toBe(2);
    expect(r.tag).toBe('DROP SCHEDULES 2');
    expect(r.put).toEqual([]);
  });

  it('DROP SCHEDULES selected by label drops both of a pair once', () => {
    const all = [...create('f', `RECURRING '@hourly'`), ...create('g', `RECURRING '@hourly'`)];
    const r = control(`DROP SCHEDULES WITH x AS (SHOW SCHEDULES) SELECT id FROM x WHERE label = 'f'`, all);
    expect(r.count).toBe(2);
    expect(new Set(r.deleted)).toEqual(new Set([all[0]?.id, all[1]?.id]));
    // The full was unlinked when its incremental went first, then dropped: nothing left to store.
    expect(r.put).toEqual([]);
  });
});

describe('applyControlSchedules', () => {
  const all = [...create('h', `RECURRING '@hourly'`), ...create('i', `RECURRING '@daily' FULL BACKUP ALWAYS`)];

  it('PAUSE SCHEDULES by label', () => {
    const r = control(`PAUSE SCHEDULES WITH x AS (SHOW SCHEDULES) SELECT id FROM x WHERE label = 'h'`, all);
    expect(r.tag).toBe('PAUSE SCHEDULES 2');
    expect(r.put.map((s) => s.state)).toEqual(['PAUSED', 'PAUSED']);
  });

  it('RESUME SCHEDULE by id; a missing id is skipped', () => {
    const inc = all[0];
    if (!inc) throw new Error('no inc');
    const r = control(`RESUME SCHEDULE ${inc.id}`, all);
    expect(r.count).toBe(1);
    expect(r.put[0]).toMatchObject({ id: inc.id, state: 'ACTIVE', nextRunMs: Date.UTC(2024, 2, 1, 11) });
    expect(control(`RESUME SCHEDULE 123456`, all)).toMatchObject({ count: 0, tag: 'RESUME SCHEDULES 0', put: [] });
  });

  it('selects by schedule_status and id comparisons', () => {
    const q = (where: string) =>
      selectSchedules((parseOne(`PAUSE SCHEDULES SELECT id FROM [SHOW SCHEDULES] WHERE ${where}`) as ControlSchedulesStatement).schedules, all).map(
        (s) => s.label,
      );
    expect(q(`schedule_status = 'PAUSED'`)).toEqual(['h']);
    expect(q(`schedule_status = 'ACTIVE'`)).toEqual(['h', 'i']);
    expect(q(`id >= ${all[1]?.id}`)).toEqual(['h', 'i']);
    expect(q(`label IN ('i', 'zz')`)).toEqual(['i']);
    expect(q(`label != 'h'`)).toEqual(['i']);
  });
});
