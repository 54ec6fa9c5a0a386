import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { ClusterState, ProtectedTimestampStore, connectNats, type ProtectedTimestampRecord } from '@cairn/cluster';
import { EMPTY_PROGRESS, JobStore, type Job, type JobStatus } from '@cairn/jobs';
import { CairnError, ErrorCode } from '@cairn/errors';
import { createLogger } from '@cairn/metrics';
import { startNatsServer, type NatsServerHandle } from '@cairn/testing';
import { ProtectedTimestampReconciler, isOrphaned } from './protected-ts-reconciler.js';
import { protectedRecordStats } from './record-stats.js';

const S = 1_000_000_000n;
let server: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectNats(server.url, 'pts-reconciler-test');
});

afterAll(async () => {
  await nc?.close().catch(() => undefined);
  await server?.stop();
});

function job(id: string, status: JobStatus): Job {
  return {
    id,
    spec: { type: 'BACKUP', description: 'BACKUP', statement: '', userName: 'root', createdAtMs: 0, scheduleId: null, payload: new Uint8Array(0) },
    progress: EMPTY_PROGRESS,
    status,
    error: null,
    revertOutcome: null,
    startedAtMs: null,
    finishedAtMs: null,
    modifiedAtMs: 0,
    coordinatorId: null,
    claimSessionId: null,
    retryCount: 0,
    nextRetryAtMs: null,
    lastRetryError: null,
  };
}

function record(id: string, owner: ProtectedTimestampRecord['owner'], timestamp = 1n): ProtectedTimestampRecord {
  return { id, timestamp, spans: 'all', owner, createdAtMs: 0 };
}

describe('protected timestamp reconciler', () => {
  it('releases the records of ended, purged or dropped owners and keeps the others', async () => {
    const jobs = await JobStore.open(nc);
    for (const [id, status] of [
      ['101', 'running'],
      ['102', 'paused'],
      ['103', 'succeeded'],
      ['104', 'failed'],
      ['105', 'canceled'],
      ['106', 'revert-failed'],
    ] as const) {
      await jobs.create(job(id, status));
    }
    const schedules = new Set(['900']);
    const owners = {
      getJob: async (id: string) => {
        const j = await jobs.get(id);
        if (!j) throw new CairnError(ErrorCode.NotFound, `job with ID ${id} does not exist`);
        return j;
      },
      scheduleExists: async (id: string) => schedules.has(id),
    };
    const store = await ProtectedTimestampStore.open(await ClusterState.open(nc));
    for (const id of ['101', '102', '103', '104', '105', '106', '107']) {
      await store.protect({ id: `job-${id}`, timestamp: 5n, spans: 'all', owner: { kind: 'job', jobId: id } });
    }
    await store.protectScheduleChain('900', 7n);
    await store.protectScheduleChain('901', 8n);

    const reconciler = new ProtectedTimestampReconciler(store, owners, createLogger('pts-test', 'silent'), 60_000);
    const released = await reconciler.reconcile();
    expect(released.length).toBe(6);
    const left = await store.list();
    expect(left.map((r) => (r.owner.kind === 'job' ? `job ${r.owner.jobId}` : `schedule ${r.owner.scheduleId}`)).sort()).toEqual([
      'job 101',
      'job 102',
      'schedule 900',
    ]);
    // Nothing more to do on the next pass.
    expect(await reconciler.reconcile()).toEqual([]);
  });

  it('does not decide on an owner it cannot look up', async () => {
    const owners = {
      getJob: async (): Promise<Job> => {
        throw new CairnError(ErrorCode.Unavailable, 'jobs bucket unavailable', { retryable: true });
      },
      scheduleExists: async () => true,
    };
    await expect(isOrphaned(record('r', { kind: 'job', jobId: '1' }), owners)).rejects.toMatchObject({ code: ErrorCode.Unavailable });
    expect(await isOrphaned(record('r', { kind: 'schedule', scheduleId: '1' }), owners)).toBe(false);
  });
});

describe('protectedRecordStats', () => {
  it('counts records per owner kind and ages the oldest on the wall clock', () => {
    const nowMs = 1_700_000_100_000;
    const stats = protectedRecordStats(
      [
        record('a', { kind: 'job', jobId: '1' }, 1_700_000_040n * S),
        record('b', { kind: 'job', jobId: '2' }, 1_700_000_090n * S),
        record('c', { kind: 'schedule', scheduleId: '3' }, 1_700_000_000n * S),
      ],
      nowMs,
    );
    expect(stats).toEqual({ jobs: { count: 2, oldestAgeSec: 60 }, schedules: { count: 1, oldestAgeSec: 100 } });
    expect(protectedRecordStats([], nowMs)).toEqual({ jobs: { count: 0, oldestAgeSec: 0 }, schedules: { count: 0, oldestAgeSec: 0 } });
  });
});
