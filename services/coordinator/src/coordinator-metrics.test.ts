import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { JobRegistry } from '@cairn/jobs';
import { planCreateSchedule, type BackupSchedule } from '@cairn/schedules';
import { parseOne, type CreateScheduleStatement } from '@cairn/sql';
import { CoordinatorMetrics } from './coordinator-metrics.js';

const HOUR = 3_600_000;

function schedule(options: string, lastSuccessEndMs: number | null): BackupSchedule {
  const stmt = parseOne(`CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/x' RECURRING '@daily' FULL BACKUP ALWAYS ${options}`) as CreateScheduleStatement;
  let n = 1;
  const [full] = planCreateSchedule(stmt, new Date(), () => String(n++), { owner: 'root' }).schedules;
  return { ...full!, lastSuccessEndMs };
}

async function lastCompleted(registry: Registry): Promise<number> {
  return (await registry.getSingleMetric('schedules_BACKUP_last_completed_time')!.get()).values[0]!.value;
}

describe('schedules_BACKUP_last_completed_time', () => {
  const tracked = (endMs: number | null) => schedule('WITH SCHEDULE OPTIONS updates_cluster_last_backup_time_metric', endMs);
  const t0 = Date.UTC(2026, 0, 1);

  it('seeds from the newest stored success of the schedules that maintain it, and never moves back', async () => {
    const registry = new Registry();
    const m = new CoordinatorMetrics(registry);
    m.attach({} as JobRegistry);
    m.schedulesLoaded([tracked(t0), tracked(t0 + 2 * HOUR), tracked(null), schedule('', t0 + 5 * HOUR)]);
    expect(await lastCompleted(registry)).toBe((t0 + 2 * HOUR) / 1000);
    m.scheduleFinished('succeeded', tracked(t0 + HOUR));
    expect(await lastCompleted(registry)).toBe((t0 + 2 * HOUR) / 1000);
    m.scheduleFinished('succeeded', schedule('', t0 + 9 * HOUR));
    expect(await lastCompleted(registry)).toBe((t0 + 2 * HOUR) / 1000);
    m.scheduleFinished('succeeded', tracked(t0 + 3 * HOUR + 999));
    expect(await lastCompleted(registry)).toBe((t0 + 3 * HOUR) / 1000);
  });

  it('reads 0 once the coordinator stops leading, so only the leader reports it', async () => {
    const registry = new Registry();
    const m = new CoordinatorMetrics(registry);
    m.attach({} as JobRegistry);
    m.schedulesLoaded([tracked(t0)]);
    m.attach(undefined);
    expect(await lastCompleted(registry)).toBe(0);
    // Elected again: seeded again, from the store.
    m.attach({} as JobRegistry);
    m.schedulesLoaded([tracked(t0 + HOUR)]);
    expect(await lastCompleted(registry)).toBe((t0 + HOUR) / 1000);
  });
});
