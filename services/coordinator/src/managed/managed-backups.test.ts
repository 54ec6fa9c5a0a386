import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from 'nats';
import { connect } from 'nats';
import { ensureKv } from '@cairn/cluster';
import { CairnError } from '@cairn/errors';
import type { Job, JobStatus } from '@cairn/jobs';
import { createLogger } from '@cairn/metrics';
import { startNatsServer, tempDir, type NatsServerHandle } from '@cairn/testing';
import { latestFileName } from '@cairn/backup-format';
import type { LeaderCapabilities } from '../leader-capabilities.js';
import { ApiKeyStore } from '../auth/api-keys.js';
import { HttpAuthenticator, requireWriter } from '../auth/http-auth.js';
import { ManagedBackupStore, DEFAULT_MANAGED_CONFIG, type ManagedBackupRecord } from './managed-backup-store.js';
import { ManagedBackups, applyConfigChange, parseConfigChange, schedulePlan } from './managed-backups.js';
import { deleteExpiredChains } from './managed-expiry.js';
import { ClusterRestoreGate } from './restore-gate.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-06T12:00:00Z');

let nats: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
});

afterAll(async () => {
  await nc?.drain();
  await nats?.stop();
});

async function freshStore(name: string): Promise<ManagedBackupStore> {
  return new ManagedBackupStore(await ensureKv(nc, name, { replicas: 1 }));
}

function caught(f: () => unknown): CairnError {
  try {
    f();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('expected a CairnError');
}

/** A job as the registry keeps it, reduced to what the listings read. */
function job(id: string, status: JobStatus, extra: Partial<Job> = {}): Job {
  return {
    id,
    status,
    spec: { type: 'BACKUP', description: `BACKUP INTO 'nodelocal://1/managed' (${id})`, statement: '', userName: 'root', createdAtMs: NOW - 60_000, scheduleId: '1', payload: new Uint8Array() },
    progress: { fractionCompleted: 0, runningStatus: null, checkpoint: null, highWater: null },
    error: null,
    revertOutcome: null,
    startedAtMs: NOW - 60_000,
    finishedAtMs: null,
    modifiedAtMs: NOW,
    coordinatorId: 'c1',
    claimSessionId: null,
    retryCount: 0,
    nextRetryAtMs: null,
    lastRetryError: null,
    ...extra,
  };
}

/** The one capability the listings use of the leader: its job registry's `get`. */
function leaderWith(jobs: Job[]): { jobs: Pick<LeaderCapabilities['jobs'], 'get'> } {
  const byId = new Map(jobs.map((j) => [j.id, j]));
  return {
    jobs: {
      get: async (id: string) => {
        const j = byId.get(id);
        if (!j) throw new Error(`job ${id} does not exist`);
        return j;
      },
    },
  };
}

function record(jobId: string, type: 'FULL' | 'INCREMENTAL', fullSubdir: string, asOfMs: number, retentionDays: number, outcome: ManagedBackupRecord['outcome']): ManagedBackupRecord {
  return {
    version: 1,
    jobId,
    backupId: `b-${jobId}`,
    type,
    fullSubdir,
    layerPath: fullSubdir,
    asOfMs,
    asOfNs: String(BigInt(asOfMs) * 1_000_000n),
    expiresAtMs: asOfMs + retentionDays * DAY,
    retentionDays,
    databases: [{ name: 'bank', tables: ['bank'] }],
    createdAtMs: asOfMs,
    outcome,
  };
}

describe('backups-config rules', () => {
  it('accepts only CockroachDB Cloud\'s frequencies and retentions, naming them', () => {
    expect(parseConfigChange({ enabled: true, frequency_minutes: 5, retention_days: 365 })).toEqual({ enabled: true, frequency_minutes: 5, retention_days: 365 });
    expect(caught(() => parseConfigChange({ frequency_minutes: 120 })).message).toBe('frequency_minutes 120 is not allowed: allowed values are 5, 10, 30, 60, 240, 1440');
    expect(caught(() => parseConfigChange({ retention_days: '30' })).message).toBe('retention_days "30" is not allowed: allowed values are 2, 7, 30, 90, 365');
    expect(caught(() => parseConfigChange({ type: 'FULL' })).code).toBe('INVALID_ARGUMENT');
    expect(caught(() => parseConfigChange(null)).code).toBe('INVALID_ARGUMENT');
  });

  it('lets retention change once; frequency and enabled as often as wanted', () => {
    const once = applyConfigChange(DEFAULT_MANAGED_CONFIG, { retention_days: 7 });
    expect(once).toMatchObject({ retentionDays: 7, retentionChanged: true });
    expect(applyConfigChange(once, { frequency_minutes: 60, enabled: true })).toMatchObject({ frequencyMinutes: 60, enabled: true, retentionDays: 7 });
    expect(applyConfigChange(once, { retention_days: 7 })).toMatchObject({ retentionDays: 7 });
    const twice = caught(() => applyConfigChange(once, { retention_days: 90 }));
    expect([twice.code, twice.message]).toEqual(['FAILED_PRECONDITION', 'retention can be set once and was already changed to 7 days; it cannot be changed again']);
    // Setting the value it already has is no change, so it does not use up the one change.
    expect(applyConfigChange(DEFAULT_MANAGED_CONFIG, { retention_days: 30 }).retentionChanged).toBe(false);
  });

  it('meets each frequency with incrementals at it and a daily full (every backup a full at 24 h)', () => {
    expect(schedulePlan(5)).toEqual({ recurring: '*/5 * * * *', full: "'@daily'" });
    expect(schedulePlan(60)).toEqual({ recurring: '@hourly', full: "'@daily'" });
    expect(schedulePlan(240)).toEqual({ recurring: '0 */4 * * *', full: "'@daily'" });
    expect(schedulePlan(1440)).toEqual({ recurring: '@daily', full: 'ALWAYS' });
  });

  it('stores the configuration with compare-and-set, defaults before the first change', async () => {
    const store = await freshStore('managed_cfg');
    expect((await store.readConfig()).config).toEqual(DEFAULT_MANAGED_CONFIG);
    const [a, b] = await Promise.all([
      store.updateConfig((c) => applyConfigChange(c, { frequency_minutes: 60 })),
      store.updateConfig((c) => applyConfigChange(c, { enabled: true })),
    ]);
    expect(a.after.frequencyMinutes === 60 || b.after.frequencyMinutes === 60).toBe(true);
    expect((await store.readConfig()).config).toMatchObject({ enabled: true, frequencyMinutes: 60 });
  });
});

describe('managed backup listings', () => {
  it('lists complete and running backups, never one past its expiry nor an incremental whose full expired', async () => {
    const store = await freshStore('managed_list');
    const managed = new ManagedBackups(store, 'nodelocal://1/managed', () => NOW);
    // An old chain: its full taken 40 days ago with 30 days' retention has expired, and with
    // it the incremental on it, though that one's own expiry is still ahead.
    await store.putRecord(record('1', 'FULL', '/2026/10/27-120000.00', NOW - 40 * DAY, 30, 'COMPLETE'));
    await store.putRecord(record('2', 'INCREMENTAL', '/2026/10/27-120000.00', NOW - 39 * DAY, 90, 'COMPLETE'));
    // The current chain, taken before (30 days) and after (7 days) a retention change.
    await store.putRecord(record('3', 'FULL', '/2026/12/05-120000.00', NOW - DAY, 30, 'COMPLETE'));
    await store.putRecord(record('4', 'INCREMENTAL', '/2026/12/05-120000.00', NOW - DAY / 2, 7, 'COMPLETE'));
    await store.putRecord(record('5', 'INCREMENTAL', '/2026/12/05-120000.00', NOW - 60_000, 7, 'PENDING'));
    await store.putRecord(record('6', 'INCREMENTAL', '/2026/12/05-120000.00', NOW - 120_000, 7, 'FAILED'));
    const leader = leaderWith([
      job('5', 'running'),
      job('6', 'failed', { error: 'storage unavailable: nodelocal://1/managed', finishedAtMs: NOW - 90_000, startedAtMs: NOW - 120_000 }),
    ]);
    const listed = await managed.backups(leader);
    expect(listed.map((b) => [b.id, b.status, b.type])).toEqual([
      ['b-5', 'IN_PROGRESS', 'INCREMENTAL'],
      ['b-4', 'COMPLETE', 'INCREMENTAL'],
      ['b-3', 'COMPLETE', 'FULL'],
    ]);
    expect(listed.find((b) => b.id === 'b-4')).toMatchObject({ expires_at: new Date(NOW - DAY / 2 + 7 * DAY).toISOString(), full_backup_id: 'b-3', database_count: 1 });
    expect(listed.find((b) => b.id === 'b-5')?.database_count).toBe(0);
    await expect(managed.backup(leader, 'b-2')).rejects.toThrow(/does not exist \(or has expired\)/);
    await expect(managed.completeBackup(leader, 'b-5')).rejects.toThrow(/still in progress/);

    const incomplete = await managed.incomplete(leader);
    expect(incomplete).toEqual([
      { job_id: '5', status: 'RUNNING', started_at: new Date(NOW - 60_000).toISOString(), duration_seconds: 60, error_code: null, error_message: null, description: "BACKUP INTO 'nodelocal://1/managed' (5)" },
      { job_id: '6', status: 'FAILED', started_at: new Date(NOW - 120_000).toISOString(), duration_seconds: 30, error_code: 'JOB_FAILED', error_message: 'storage unavailable: nodelocal://1/managed', description: "BACKUP INTO 'nodelocal://1/managed' (6)" },
    ]);
  });

  it('deletes an expired full with every incremental on it, and their records; keeps LATEST\'s chain', async () => {
    const store = await freshStore('managed_expiry');
    const dir = await tempDir('cairn-managed-expiry');
    const layer = async (path: string) => {
      await mkdir(join(dir, path, 'data'), { recursive: true });
      await writeFile(join(dir, path, 'BACKUP_MANIFEST'), 'm');
      await writeFile(join(dir, path, 'data', '1.sst'), 'd');
    };
    await layer('2026/10/27-120000.00');
    await layer('incrementals/2026/10/27-120000.00/20261028/120000.00-20261027-120000.00');
    await layer('2026/12/05-120000.00');
    // LATEST names the newest chain, whose full has expired too (backups were disabled).
    await layer('2026/11/01-120000.00');
    await mkdir(join(dir, 'metadata', 'latest'), { recursive: true });
    await writeFile(join(dir, latestFileName(BigInt(Date.parse('2026-11-01T12:00:00Z')) * 1_000_000n)), '/2026/11/01-120000.00');
    await store.putRecord(record('1', 'FULL', '/2026/10/27-120000.00', NOW - 40 * DAY, 30, 'COMPLETE'));
    await store.putRecord(record('2', 'INCREMENTAL', '/2026/10/27-120000.00', NOW - 39 * DAY, 90, 'COMPLETE'));
    await store.putRecord(record('3', 'FULL', '/2026/12/05-120000.00', NOW - DAY, 30, 'COMPLETE'));
    await store.putRecord(record('4', 'FULL', '/2026/11/01-120000.00', NOW - 35 * DAY, 30, 'COMPLETE'));
    const noRemote = {
      remoteNodelocal: () => {
        throw new Error('no nodelocal here');
      },
      resolveExternalConnection: async () => {
        throw new Error('no external connections here');
      },
    };
    const deleted = await deleteExpiredChains({ store, storage: noRemote, log: createLogger('test') }, `file://${dir}`, NOW);
    expect(deleted).toBe(1);
    // Files gone (the local store may leave empty directories behind).
    const files = async (path: string) => (await readdir(join(dir, path), { recursive: true, withFileTypes: true }).catch(() => [])).filter((e) => e.isFile()).map((e) => e.name);
    expect(await files('2026/10')).toEqual([]);
    expect(await files('incrementals')).toEqual([]);
    expect((await files('2026/11')).sort()).toEqual(['1.sst', 'BACKUP_MANIFEST']);
    expect((await files('2026/12')).sort()).toEqual(['1.sst', 'BACKUP_MANIFEST']);
    expect((await store.records()).map((r) => r.jobId)).toEqual(['4', '3']);
  });
});

describe('API keys and the HTTP authenticator', () => {
  it('keeps only a hash, verifies the key, refuses a forged or unknown one, a duplicate name and a bad role', async () => {
    const kv = await ensureKv(nc, 'keys_meta', { replicas: 1 });
    const keys = new ApiKeyStore(kv);
    const { record: r, key } = await keys.create('ci', 'CLUSTER_VIEWER', 'root');
    expect(key).toMatch(/^cairn_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const stored = new TextDecoder().decode((await kv.get('api-keys'))!.value);
    expect(stored).not.toContain(key.slice('cairn_'.length + 17));
    expect((await keys.verify(key))?.id).toBe(r.id);
    expect(await keys.verify(`${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    expect(await keys.verify('cairn_0000000000000000_' + 'A'.repeat(43))).toBeUndefined();
    await expect(keys.create('ci', 'CLUSTER_ADMIN', 'root')).rejects.toThrow(/already exists/);
    await expect(keys.create('x', 'ORG_ADMIN', 'root')).rejects.toThrow(/allowed values are CLUSTER_ADMIN, CLUSTER_OPERATOR_WRITER, CLUSTER_VIEWER/);

    const req = (authorization?: string) => ({ headers: authorization ? { authorization } : {} }) as never;
    const secure = new HttpAuthenticator(true, keys);
    await expect(secure.authenticate(req())).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(secure.authenticate(req('Bearer nope'))).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message: 'invalid API key' });
    const viewer = await secure.authenticate(req(`Bearer ${key}`));
    expect(viewer).toMatchObject({ kind: 'api-key', name: 'ci', role: 'CLUSTER_VIEWER' });
    expect(caught(() => requireWriter(viewer, 'restoring')).code).toBe('INSUFFICIENT_PRIVILEGE');
    expect(await new HttpAuthenticator(false, keys).authenticate(req())).toEqual({ kind: 'insecure' });
    await keys.delete('ci');
    await expect(secure.authenticate(req(`Bearer ${key}`))).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});

describe('ClusterRestoreGate', () => {
  it('refuses writes while an in-place restore job runs, and forgets it once it ends', async () => {
    let status: JobStatus = 'running';
    const gate = new ClusterRestoreGate({ get: async (id: string) => job(id, status) });
    await gate.assertWritable();
    gate.add('42');
    await expect(gate.assertWritable()).rejects.toThrow('cluster is being restored (job 42): writes are refused until the restore finishes');
    status = 'succeeded';
    await gate.assertWritable();
    status = 'running';
    await gate.assertWritable();
  });
});
