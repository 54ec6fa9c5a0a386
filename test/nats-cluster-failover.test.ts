/**
 * cairn on the shape users deploy: three nats-servers in one JetStream cluster holding R3
 * state, two coordinators and three nodes in three localities, all started at once on the
 * empty NATS cluster (as a compose file or a Kubernetes rollout starts them).
 *
 * - Every process becomes ready, and the state is replicated three ways.
 * - A job id returned by BACKUP is visible to SHOW JOB through either coordinator at once.
 * - One nats-server is SIGKILLed during a BACKUP (to nodelocal://1: the other nodes stream their
 *   files to node 1's HTTP port) and, separately, during a RESTORE: both
 *   succeed, the restored fingerprints match the source, statements keep working while it is
 *   down, and the server rejoins when restarted.
 * - The nats-server the leader coordinator is connected to is SIGKILLed: statements and the
 *   running job carry on.
 * - A schedule runs every minute through the whole file, faults included, and the three
 *   servers are restarted one at a time: no run is missed or doubled.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { ProcessCluster, startNatsCluster, tempDir, waitFor, type NatsClusterHandle, type NatsServerHandle } from '@cairn/testing';
import { col, databaseFingerprints, loadTable, query, queryOne, rangeCount, showJob, waitForJobStatus, wallClockTimestamp, type Row } from './support/backup.js';
import { at, showNodes } from './support/cluster.js';
import { leaderCoordinator, reportedAddress } from './support/coordinators.js';

const TABLES = ['t0', 't1', 't2'];
const ROWS_PER_TABLE = 2_000;
const PAYLOAD_BYTES = 800;
const LOCALITIES = ['region=us-east1,zone=us-east1-b', 'region=us-west1,zone=us-west1-a', 'region=eu-west1,zone=eu-west1-c'];
const MINUTE_MS = 60_000;

let nats: NatsClusterHandle;
let cluster: ProcessCluster;
let client: CairnClient;
let dir: string;
let scheduleId: string;
let scheduleCreatedAt: number;
const clients: CairnClient[] = [];
const connections: NatsConnection[] = [];

/** A client that talks to one coordinator only (no failover to the other). */
function clientOf(index: number): CairnClient {
  const c = new CairnClient({ addresses: [reportedAddress(at(cluster.coordinators, index, 'coordinator'), 'grpc')], retryForMs: 60_000 });
  clients.push(c);
  return c;
}

async function jsm() {
  const nc = await connect({ servers: nats.urls });
  connections.push(nc);
  return nc.jetstreamManager({ checkAPI: false });
}

/** Waits until every replica of the cluster's streams is current again (a restarted server has caught up). */
async function waitForRejoin(server: NatsServerHandle): Promise<void> {
  const m = await jsm();
  await waitFor(
    async () => {
      for await (const info of m.streams.list()) {
        if (info.config.num_replicas !== 3) continue;
        const peers = [info?.cluster?.leader, ...(info?.cluster?.replicas ?? []).map((r: { name: string; current: boolean; offline?: boolean }) => (r.current && !r.offline ? r.name : undefined))];
        if (!peers.includes(server.name) || peers.filter((p) => p !== undefined).length !== 3) return false;
      }
      return true;
    },
    { what: `${server.name} back as a current replica of every stream`, timeoutMs: 90_000, intervalMs: 500 },
  );
}

/** The NATS server a process's connection (named `cairn-<id>`) is on, from each server's /connz. */
async function serverOfConnection(name: string): Promise<NatsServerHandle> {
  return waitFor(
    async () => {
      for (const s of nats.servers) {
        if (!s.running) continue;
        const connz = (await (await fetch(`${s.monitoringUrl}/connz?limit=1024`)).json()) as { connections?: Array<{ name?: string }> };
        if (connz.connections?.some((c) => c.name === name)) return s;
      }
      return undefined;
    },
    { what: `the nats-server connection ${name} is on`, timeoutMs: 10_000 },
  );
}

/** `BACKUP ... WITH detached` as of now; returns its job id and its AS OF time. */
async function startBackup(c: CairnClient, collection: string): Promise<{ jobId: string; asOf: string }> {
  const asOf = wallClockTimestamp();
  const r = await queryOne(c, `BACKUP DATABASE fo INTO '${collection}' AS OF SYSTEM TIME '${asOf}' WITH detached`);
  return { jobId: col(r, 'job_id'), asOf };
}

/** Restores LATEST of `collection` as `name` and checks it equals `fo` as of `asOf`. */
async function expectRestoreMatches(collection: string, name: string, asOf: string): Promise<void> {
  const r = await queryOne(client, `RESTORE DATABASE fo FROM LATEST IN '${collection}' WITH new_db_name = '${name}'`);
  expect(col(r, 'status')).toBe('succeeded');
  await expectSameData(name, asOf);
}

async function expectSameData(name: string, asOf: string): Promise<void> {
  const source = (await databaseFingerprints(client, 'fo', asOf)).filter(([t]) => TABLES.includes(t));
  expect(source.map(([t]) => t)).toEqual(TABLES);
  const restored = (await databaseFingerprints(client, name)).filter(([t]) => TABLES.includes(t));
  expect(restored, `${name} vs fo as of ${asOf}`).toEqual(source);
}

/**
 * Runs `body` with `victim` SIGKILLed at its start, and makes sure the server runs again
 * and has rejoined afterwards, also when `body` fails, so one failure does not cascade
 * into the tests after it.
 */
async function withServerKilled(victim: NatsServerHandle, body: () => Promise<void>): Promise<void> {
  await victim.kill('SIGKILL');
  try {
    await body();
  } finally {
    if (!victim.running) await victim.restart();
    await waitForRejoin(victim);
  }
}

/** Statements that must keep working while a nats-server is down: a write, a read, SHOW JOBS. */
async function statementsWork(tag: number): Promise<void> {
  await client.execute(`UPSERT INTO fo.side (id, note) VALUES (${tag}, 'while a nats-server is down')`);
  expect(col(await queryOne(client, `SELECT note FROM fo.side WHERE id = ${tag}`), 'note')).toBe('while a nats-server is down');
  expect((await query(client, 'SHOW JOBS')).length).toBeGreaterThan(0);
}

/** Bytes the nodes wrote to other nodes' nodelocal:// one way (`cairn_nodelocal_upload_bytes_total`), summed. */
async function uploadedToOtherNodes(via: 'http' | 'nats'): Promise<number> {
  let total = 0;
  for (const n of cluster.nodes) {
    const text = await (await fetch(`http://${cluster.metricsAddresses.get(n.name)!}/metrics`)).text();
    total += Number(new RegExp(`^cairn_nodelocal_upload_bytes_total\\{via="${via}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  }
  return total;
}

const readyStatus = async (address: string): Promise<number> => (await fetch(`http://${address}/health?ready=1`).catch(() => undefined))?.status ?? 0;

beforeAll(async () => {
  dir = await tempDir('cairn-nats-failover');
  // Not waiting for JetStream to form: the processes start while it elects its leaders.
  nats = await startNatsCluster(3, { waitForJetStream: false });
  cluster = await ProcessCluster.start({
    nats: nats.url,
    coordinators: 2,
    nodes: LOCALITIES.map((locality) => ({ locality })),
    startTogether: true,
    readyTimeoutMs: 90_000,
  });
  client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 60_000 });
  clients.push(client);
  await waitFor(async () => (await Promise.all(cluster.all().map((p) => readyStatus(cluster.metricsAddresses.get(p.name) ?? '')))).every((s) => s === 200), {
    what: 'every process ready (/health?ready=1)',
    timeoutMs: 60_000,
    intervalMs: 250,
  });

  await client.execute(`SET CLUSTER SETTING kv.range.max_bytes = '512KiB'`);
  await client.execute('CREATE DATABASE fo');
  await client.execute('CREATE TABLE fo.side (id INT PRIMARY KEY, note STRING)');
  await Promise.all(TABLES.map((t) => loadTable(client, `fo.${t}`, ROWS_PER_TABLE, PAYLOAD_BYTES)));
  await waitFor(async () => (await rangeCount(client, TABLES.map((t) => `fo.${t}`))) >= 3 * TABLES.length, {
    what: 'the fo tables split into 3 ranges each',
    timeoutMs: 60_000,
    intervalMs: 1_000,
  });
  await client.execute(`SET CLUSTER SETTING kv.range.max_bytes = '64MiB'`);

  // A small database backed up every minute through the whole file, faults included.
  await client.execute('CREATE DATABASE ticks');
  await client.execute("CREATE TABLE ticks.t (id INT PRIMARY KEY, at STRING)");
  await client.execute("INSERT INTO ticks.t (id, at) VALUES (0, 'created')");
  scheduleCreatedAt = Date.now();
  const created = await queryOne(
    client,
    `CREATE SCHEDULE every_minute FOR BACKUP DATABASE ticks INTO 'file://${join(dir, 'ticks')}'
  RECURRING '* * * * *' FULL BACKUP ALWAYS
  WITH SCHEDULE OPTIONS on_previous_running = 'start'`,
  );
  scheduleId = col(created, 'schedule_id');
}, 240_000);

afterAll(async () => {
  for (const c of clients) c.close();
  for (const nc of connections) await nc.close().catch(() => undefined);
  await cluster?.stop();
  await nats?.stop();
});

describe('a cluster on three nats-servers', () => {
  it('comes up with every process started at once on an empty NATS cluster, its state on three replicas', async () => {
    const nodes = await showNodes(client);
    expect(nodes.map((n) => n['is_live'])).toEqual(['true', 'true', 'true']);
    const m = await jsm();
    for (const stream of ['CAIRN_LOG', 'KV_cairn_meta', 'KV_cairn_jobs', 'KV_cairn_lease', 'CAIRN_WORK']) {
      const info = await m.streams.info(stream);
      expect(info.config.num_replicas, stream).toBe(3);
      if (stream.startsWith('KV_')) expect(info.config.allow_direct, `${stream} serves reads from its leader`).toBe(false);
    }
  });

  it('shows a job id returned by BACKUP through every coordinator at once', async () => {
    const first = clientOf(0);
    const second = clientOf(1);
    for (let i = 0; i < 3; i++) {
      const { jobId } = await startBackup(i % 2 === 0 ? first : second, `file://${join(dir, `visible-${i}`)}`);
      // No waiting: the other coordinator's very next read must see the job.
      const [a, b] = await Promise.all([showJob(first, jobId), showJob(second, jobId)]);
      expect(col(a, 'job_id')).toBe(jobId);
      expect(col(b, 'job_id')).toBe(jobId);
      await waitForJobStatus(client, jobId, ['succeeded'], 120_000);
    }
  });

  it('finishes a BACKUP to nodelocal://1 during which a nats-server is SIGKILLed; statements work meanwhile; the server rejoins; the restore matches', async () => {
    const victim = at(nats.servers, 1, 'nats-server');
    // Node 1's extern dir: the other nodes' files go to its HTTP port, begun and committed over NATS.
    const collection = 'nodelocal://1/during-backup';
    const { jobId, asOf } = await startBackup(client, collection);
    await withServerKilled(victim, async () => {
      await statementsWork(1);
      const job = await waitForJobStatus(client, jobId, ['succeeded', 'failed', 'canceled'], 180_000);
      expect(col(job, 'status'), col(job, 'error')).toBe('succeeded');
      await statementsWork(2);
    });
    // Straight to node 1 throughout: a dead nats-server is no reason to relay the bytes.
    expect(await uploadedToOtherNodes('http')).toBeGreaterThan(0);
    expect(await uploadedToOtherNodes('nats')).toBe(0);
    await expectRestoreMatches(collection, 'fo_after_backup_fault', asOf);
  });

  it('finishes a RESTORE during which a nats-server is SIGKILLed, with the same fingerprints', async () => {
    const collection = `file://${join(dir, 'for-restore')}`;
    const { jobId: backupId, asOf } = await startBackup(client, collection);
    await waitForJobStatus(client, backupId, ['succeeded'], 120_000);

    const victim = at(nats.servers, 2, 'nats-server');
    const r = await queryOne(client, `RESTORE DATABASE fo FROM LATEST IN '${collection}' WITH new_db_name = 'fo_restore_fault', detached`);
    const jobId = col(r, 'job_id');
    await withServerKilled(victim, async () => {
      await statementsWork(3);
      const job = await waitForJobStatus(client, jobId, ['succeeded', 'failed', 'canceled'], 180_000);
      expect(col(job, 'status'), col(job, 'error')).toBe('succeeded');
    });
    await expectSameData('fo_restore_fault', asOf);
  });

  it("carries on when the nats-server the leader coordinator is connected to is SIGKILLed", async () => {
    const leader = await leaderCoordinator(cluster);
    const victim = await serverOfConnection(`cairn-${String(leader.readyInfo['id'])}`);
    const collection = `file://${join(dir, 'leader-server')}`;
    const { jobId, asOf } = await startBackup(client, collection);
    const killedAt = Date.now();
    await withServerKilled(victim, async () => {
      await statementsWork(4);
      const firstStatementMs = Date.now() - killedAt;
      const job = await waitForJobStatus(client, jobId, ['succeeded', 'failed', 'canceled'], 180_000);
      expect(col(job, 'status'), col(job, 'error')).toBe('succeeded');
      // The client's reconnect, a NATS leader election and (at worst) a lease change, with
      // room for a loaded CI machine; `pnpm bench failover` measures the figure itself.
      expect(firstStatementMs).toBeLessThan(30_000);
    });
    await expectRestoreMatches(collection, 'fo_after_leader_server', asOf);
  });

  it('restarts the three nats-servers one at a time while a schedule runs every minute: no run missed or doubled', async () => {
    // Restart one server every 20 s, starting just before a minute boundary, so that runs
    // fall while a server is down or catching up.
    const boundary = (Math.floor(Date.now() / MINUTE_MS) + 1) * MINUTE_MS;
    await sleep(Math.max(0, boundary - 5_000 - Date.now()));
    for (const server of nats.servers) {
      await server.stop();
      await sleep(3_000);
      await server.restart();
      await waitForRejoin(server);
      await sleep(Math.max(0, 15_000));
    }
    // Let the run of the minute after the last restart start and finish.
    const lastDue = (Math.floor(Date.now() / MINUTE_MS) + 1) * MINUTE_MS;
    await sleep(Math.max(0, lastDue + 2_000 - Date.now()));

    const jobs = await waitFor(
      async () => {
        const rows = await query(client, `SHOW JOBS FOR SCHEDULE ${scheduleId}`);
        return rows.some((j) => asOfMinute(j) >= lastDue) && rows.every((j) => ['succeeded', 'failed', 'canceled'].includes(col(j, 'status'))) ? rows : undefined;
      },
      { what: 'the scheduled run after the restarts, finished', timeoutMs: 120_000, intervalMs: 1_000 },
    );
    const minutes = jobs.map(asOfMinute).sort((a, b) => a - b);
    const first = (Math.floor(scheduleCreatedAt / MINUTE_MS) + 1) * MINUTE_MS;
    const expected: number[] = [];
    for (let t = first; t <= minutes[minutes.length - 1]!; t += MINUTE_MS) expected.push(t);
    // Every minute from the first run on, each exactly once.
    expect(minutes.map(iso)).toEqual(expected.map(iso));
    for (const j of jobs) expect(col(j, 'status'), `run as of ${iso(asOfMinute(j))}: ${col(j, 'error')}`).toBe('succeeded');
    expect(jobs.length).toBeGreaterThanOrEqual(3);
  });
});

const iso = (ms: number): string => new Date(ms).toISOString();

/** The scheduled time of a schedule's job (its AS OF SYSTEM TIME), in ms. */
function asOfMinute(job: Row): number {
  const m = /AS OF SYSTEM TIME '([^']+)'/.exec(col(job, 'description'));
  if (!m) throw new Error(`job ${col(job, 'job_id')} has no AS OF SYSTEM TIME: ${col(job, 'description')}`);
  const ms = Date.parse(m[1]!.replace(' ', 'T'));
  if (Number.isNaN(ms)) throw new Error(`not a timestamp: ${m[1]}`);
  return ms;
}
