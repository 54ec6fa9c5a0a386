import { ErrorCode } from '@cairn/errors';
import type { Job } from '@cairn/jobs';
import { planCreateSchedule } from '@cairn/schedules';
import { parseOne, type BackupStatement, type CreateScheduleStatement, type RestoreStatement } from '@cairn/sql';
import { describe, expect, it } from 'vitest';
import type { BackupPlanning, RestorePlanning } from '../leader-capabilities.js';
import { BACKUP_EXPIRY_JOB, BACKUP_JOB, JOB_TYPES, RESTORE_JOB, type JobTypeDeps } from './job-types.js';

/** A capability that fails the test if a planner reaches for it. */
function untouched(what: string): never {
  throw new Error(`the planner used ${what}`);
}

/** Settings where one feature flag is off; every other capability is out of bounds. */
function featureOff(flag: string): BackupPlanning & RestorePlanning {
  return {
    settings: { get: (name) => (name === flag ? 'false' : 'true'), getNumber: () => untouched('getNumber') },
    readPoint: () => untouched('readPoint'),
    liveNodes: () => untouched('liveNodes'),
    storageContext: () => untouched('storageContext'),
    catalogAt: () => untouched('catalogAt'),
    get catalog(): never {
      return untouched('catalog');
    },
    allocateDescriptorId: () => untouched('allocateDescriptorId'),
    get nc(): never {
      return untouched('nc');
    },
    ranges: { overlapping: () => untouched('ranges'), find: () => untouched('ranges') },
    clusterMetadata: {
      get privileges(): never {
        return untouched('privileges');
      },
      get schedules(): never {
        return untouched('schedules');
      },
      get meta(): never {
        return untouched('meta');
      },
      get settings(): never {
        return untouched('settings KV');
      },
    },
  };
}

describe('job types', () => {
  it('registers each type once, each with its planner and its resumer', () => {
    const types = JOB_TYPES.map((t) => t.type);
    expect(types).toEqual(['BACKUP', 'RESTORE', 'BACKUP EXPIRY']);
    expect(new Set(types).size).toBe(types.length);
    for (const t of JOB_TYPES) {
      expect(typeof t.plan, t.type).toBe('function');
      expect(typeof t.resumer, t.type).toBe('function');
    }
  });

  it('plans BACKUP and RESTORE from narrow capabilities: a feature flag that is off refuses before anything else is read', async () => {
    const backup = parseOne("BACKUP DATABASE bank INTO 'nodelocal://1/b'") as BackupStatement;
    await expect(BACKUP_JOB.plan(featureOff('feature.backup.enabled'), backup, 'defaultdb')).rejects.toMatchObject({
      code: ErrorCode.FailedPrecondition,
      message: 'feature BACKUP was disabled by the database administrator',
    });
    const restore = parseOne("RESTORE DATABASE bank FROM LATEST IN 'nodelocal://1/b'") as RestoreStatement;
    await expect(RESTORE_JOB.plan(featureOff('feature.restore.enabled'), restore, 'defaultdb')).rejects.toThrow(
      'feature RESTORE was disabled by the database administrator',
    );
  });

  it("plans a schedule's BACKUP EXPIRY from the schedule alone: its collection and retention, none without a retention", () => {
    const plan = (options: string) => {
      const sql = `CREATE SCHEDULE s FOR BACKUP INTO 'nodelocal://1/c' RECURRING '@daily' FULL BACKUP ALWAYS${options}`;
      let id = 7n;
      const [s] = planCreateSchedule(parseOne(sql) as CreateScheduleStatement, new Date(0), () => String(id++), { owner: 'alice' }).schedules;
      return BACKUP_EXPIRY_JOB.plan(s!);
    };
    expect(plan(" WITH SCHEDULE OPTIONS retention = '48h'")).toEqual({ collection: ['nodelocal://1/c'], retention: '48h', retentionMs: 48 * 3600_000 });
    expect(plan('')).toBeUndefined();
  });

  it('builds each resumer from the capabilities it is handed', () => {
    const job = { id: '1', spec: { payload: new Uint8Array(0) } } as unknown as Job;
    const deps = {
      workQueue: {},
      storage: () => ({}),
      protectedTs: {},
      descriptors: {},
      clusterMetadata: {},
      log: { child: () => ({}) },
    } as unknown as JobTypeDeps;
    for (const t of JOB_TYPES) expect(t.resumer(job, deps), t.type).toBeDefined();
  });
});
