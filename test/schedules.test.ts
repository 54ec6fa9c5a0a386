/**
 * Backup schedules end to end, with real processes: two coordinators (leader and standby) and
 * three nodes on one nats-server, backing up to nodelocal storage. Crons have minute
 * resolution, as in CockroachDB, so the tests are planned around minute boundaries.
 *
 * - A paired schedule (`RECURRING '* * * * *'`, first_run = 'now') takes its full at once,
 *   then an incremental each minute; SHOW JOBS FOR SCHEDULE lists them, and restoring LATEST
 *   equals the source as of the last incremental's end time.
 * - on_previous_running with a job held paused: `skip` moves next_run to the next cron time,
 *   `wait` retries a minute later, `start` starts a second job; the leader's
 *   schedules_round_reschedule_{skip,wait}_total count the first two.
 * - on_execution_failure with an unreachable bucket: `pause` ends PAUSED with the error,
 *   `reschedule` stays ACTIVE at the next cron time; schedules_BACKUP_failed_total counts both.
 * - Cadence across a leader failover: an every-minute schedule runs from the start of the file
 *   to its end; the leader is SIGKILLed a few seconds before a minute boundary and the standby
 *   takes over. Every minute has exactly one job, AS OF SYSTEM TIME that minute.
 * - A run the leader had begun (next_run saved, the job not yet created: its planning is
 *   reading the collection from an S3 endpoint that stopped answering) when it was SIGKILLed
 *   still happens once on the new leader.
 */
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import {
  ProcessCluster,
  freePort,
  startNatsServer,
  startS3Server,
  waitFor,
  type NatsServerHandle,
  type S3ServerHandle,
} from '@cairn/testing';
import { col, databaseFingerprints, loadTable, query, queryOne, type Row, waitForJobStatus } from './support/backup.js';
import { at } from './support/cluster.js';
import { leaderCoordinator, reportedAddress } from './support/coordinators.js';
import { scrapeMetric } from './support/metrics.js';

const MINUTE_MS = 60_000;
const LOCALITIES = ['region=us-east1,zone=us-east1-b', 'region=us-west1,zone=us-west1-a', 'region=eu-west1,zone=eu-west1-c'];
/** A secret in the unreachable bucket's URI: it must never show in a schedule's status. */
const SECRET = 'cairn-sched-Secret-5e0b1c'; // not a credential: nothing listens at that endpoint

let nats: NatsServerHandle;
let s3: S3ServerHandle;
let cluster: ProcessCluster;
let client: CairnClient;
let proxy: HangingProxy | undefined;
/** The every-minute schedule whose cadence the failover test checks, and its first run. */
let cadenceId: string;
let cadenceFirstRunMs: number;

/** The first minute boundary strictly after `ms`. */
const nextMinute = (ms: number): number => (Math.floor(ms / MINUTE_MS) + 1) * MINUTE_MS;

/** The first UTC midnight strictly after `ms`: when an '@daily' schedule next runs. */
const nextMidnight = (ms: number): number => (Math.floor(ms / 86_400_000) + 1) * 86_400_000;

/** A time as SHOW JOBS / SHOW SCHEDULES / SHOW BACKUP print it ('2026-01-02 03:04:05.6+00:00'), in ms. */
function parseShownTime(text: string): number {
  const ms = Date.parse(text.replace(' ', 'T'));
  if (Number.isNaN(ms)) throw new Error(`not a timestamp: ${text}`);
  return ms;
}

/** The AS OF SYSTEM TIME of a scheduled job, from its description, in ms. */
function asOfOf(job: Row): number {
  const m = /AS OF SYSTEM TIME '([^']+)'/.exec(col(job, 'description'));
  if (!m) throw new Error(`job ${col(job, 'job_id')} has no AS OF SYSTEM TIME: ${col(job, 'description')}`);
  return parseShownTime(m[1]!);
}

/** A protected timestamp as SHOW PROTECTED TIMESTAMPS prints it (decimal nanoseconds), in ms. */
function recordTimeMs(row: Row): number {
  const ns = col(row, 'ts').split('.')[0]!;
  return Number(BigInt(ns) / 1_000_000n);
}

const iso = (ms: number): string => new Date(ms).toISOString();

function jobsForSchedule(id: string): Promise<Row[]> {
  return query(client, `SHOW JOBS FOR SCHEDULE ${id}`);
}

function showSchedule(id: string): Promise<Row> {
  return queryOne(client, `SHOW SCHEDULE ${id}`);
}

/** An unlabelled counter on the current leader's /metrics (0 when it has not been created yet). */
async function leaderCounter(name: string): Promise<number> {
  const leader = await leaderCoordinator(cluster);
  return (await scrapeMetric(reportedAddress(leader, 'metrics'), name)) ?? 0;
}

/** Waits until the leader's counter `name` reaches `value`, and checks it did not pass it. */
async function waitForLeaderCounter(name: string, value: number, timeoutMs = 15_000): Promise<void> {
  const seen = await waitFor(
    async () => {
      const v = await leaderCounter(name);
      return v >= value ? v : undefined;
    },
    { what: `${name} >= ${value} on the leader`, timeoutMs, intervalMs: 100 },
  );
  expect(seen, name).toBe(value);
}

/**
 * An HTTP proxy in front of s3rver: it forwards every request until `hang()`, then holds each
 * new one unanswered, as a storage endpoint that stopped responding does.
 */
class HangingProxy {
  private constructor(
    private readonly server: Server,
    readonly endpoint: string,
    private readonly state: { hanging: boolean; held: ServerResponse[] },
  ) {}

  static async start(upstream: string): Promise<HangingProxy> {
    const target = new URL(upstream);
    const state = { hanging: false, held: [] as ServerResponse[] };
    const server = createServer((req, res) => {
      if (state.hanging) {
        state.held.push(res);
        req.resume();
        return;
      }
      const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new HangingProxy(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, state);
  }

  /** How many requests are held unanswered. */
  get heldRequests(): number {
    return this.state.held.length;
  }

  hang(): void {
    this.state.hanging = true;
  }

  /** Forwards again; the held requests' connections are dropped, as a restarted endpoint would. */
  recover(): void {
    this.state.hanging = false;
    for (const res of this.state.held.splice(0)) res.socket?.destroy();
  }

  async stop(): Promise<void> {
    this.recover();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

beforeAll(async () => {
  [nats, s3] = await Promise.all([startNatsServer(), startS3Server({ buckets: ['schedules'] })]);
  cluster = await ProcessCluster.start({ nats: nats.url, coordinators: 2, nodes: LOCALITIES.map((locality) => ({ locality })) });
  client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 60_000 });

  // The cadence schedule runs through the whole file, so the last test sees many boundaries.
  // `start` keeps a slow run from delaying the next one: each minute gets its own job.
  await client.execute('CREATE DATABASE cadence');
  await client.execute('CREATE TABLE cadence.ticks (id INT PRIMARY KEY, at STRING)');
  await client.execute("INSERT INTO cadence.ticks (id, at) VALUES (0, 'created')");
  const createdFrom = Date.now();
  const created = await queryOne(
    client,
    `CREATE SCHEDULE cadence FOR BACKUP DATABASE cadence INTO 'nodelocal://1/cadence'
  RECURRING '* * * * *' FULL BACKUP ALWAYS
  WITH SCHEDULE OPTIONS on_previous_running = 'start'`,
  );
  cadenceId = col(created, 'schedule_id');
  // Without first_run, the first run is the next cron time.
  cadenceFirstRunMs = parseShownTime(col(created, 'first_run'));
  expect([nextMinute(createdFrom), nextMinute(Date.now())]).toContain(cadenceFirstRunMs);
}, 120_000);

afterAll(async () => {
  client?.close();
  await cluster?.stop();
  await proxy?.stop();
  await s3?.stop();
  await nats?.stop();
});

describe('backup schedules', () => {
  it("takes a paired schedule's full at once and an incremental each minute; LATEST restores to the last one's end time", async () => {
    await client.execute('CREATE DATABASE shop');
    await client.execute('CREATE TABLE shop.orders (id INT PRIMARY KEY, total INT)');
    await client.execute(`INSERT INTO shop.orders (id, total) VALUES ${Array.from({ length: 100 }, (_, i) => `(${i}, ${i * 10})`).join(', ')}`);

    // Orders keep coming while the schedule runs, so every incremental has rows to carry.
    const stopWriter = new AbortController();
    let written = 100;
    const writer = (async () => {
      while (!stopWriter.signal.aborted) {
        await client.execute(`INSERT INTO shop.orders (id, total) VALUES (${written}, ${written * 10})`);
        written++;
        await sleep(250);
      }
    })();

    // The chained protected timestamp record of the pair: held by the incremental schedule.
    let incId = '';
    let fullId = '';
    const chained = async () => (await query(client, 'SHOW PROTECTED TIMESTAMPS')).filter((r) => r['meta_type'] === 'schedules' && r['owner_id'] === incId);
    try {
      const createdAt = Date.now();
      const created = await query(
        client,
        `CREATE SCHEDULE paired FOR BACKUP DATABASE shop INTO 'nodelocal://1/paired'
  RECURRING '* * * * *'
  WITH SCHEDULE OPTIONS first_run = 'now'`,
      );
      // An every-minute incremental gets a daily full; the incremental waits for the full.
      expect(created.map((r) => [r['label'], r['schedule'], r['status']])).toEqual([
        ['paired', '* * * * *', 'PAUSED: Waiting for initial backup to complete'],
        ['paired', '@daily', 'ACTIVE'],
      ]);
      incId = col(at(created, 0), 'schedule_id');
      fullId = col(at(created, 1), 'schedule_id');

      const fullJob = await waitFor(
        async () => (await jobsForSchedule(fullId)).find((j) => j['status'] === 'succeeded'),
        { what: 'the first full backup of the paired schedule to succeed', timeoutMs: 60_000, intervalMs: 250 },
      );
      expect(col(fullJob, 'description')).toMatch(/^BACKUP DATABASE shop INTO 'nodelocal:\/\/1\/paired' AS OF SYSTEM TIME '[^']+' WITH detached$/);
      const fullAsOf = asOfOf(fullJob);
      expect(fullAsOf).toBeGreaterThanOrEqual(createdAt - 1_000);
      expect(fullAsOf).toBeLessThanOrEqual(parseShownTime(col(fullJob, 'created')));

      // The full's success unpauses the incremental at its next cron time.
      const unpaused = await waitFor(
        async () => {
          const s = await showSchedule(incId);
          return s['schedule_status'] === 'ACTIVE' ? s : undefined;
        },
        { what: 'the incremental schedule unpaused after the full', timeoutMs: 15_000, intervalMs: 250 },
      );
      expect(unpaused['state']).toBeNull();
      const firstIncrementalAt = parseShownTime(col(unpaused, 'next_run'));
      expect(firstIncrementalAt % MINUTE_MS).toBe(0);
      expect(firstIncrementalAt).toBeGreaterThan(parseShownTime(col(fullJob, 'finished')));

      // The full protected its end time for the incremental, which reads from there.
      const afterFull = await waitFor(async () => (await chained())[0], { what: "the pair's chained protected timestamp", timeoutMs: 15_000, intervalMs: 250 });
      expect(recordTimeMs(afterFull)).toBe(fullAsOf);

      // Two incrementals: at the first boundary after the full and the one after it.
      await waitFor(
        async () => (await jobsForSchedule(incId)).filter((j) => j['status'] === 'succeeded').length >= 2,
        { what: 'two scheduled incrementals to succeed', timeoutMs: firstIncrementalAt + MINUTE_MS + 45_000 - Date.now(), intervalMs: 500 },
      );
      const paused = await client.execute("PAUSE SCHEDULES WITH x AS (SHOW SCHEDULES) SELECT id FROM x WHERE label = 'paired'");
      expect(paused.tag).toBe('PAUSE SCHEDULES 2');
      // A run that started just before the pause finishes; then nothing moves the collection.
      await waitFor(
        async () => (await query(client, 'SHOW SCHEDULES')).filter((s) => s['label'] === 'paired').every((s) => s['jobsrunning'] === '0'),
        { what: 'no job of the paired schedules running', timeoutMs: 60_000, intervalMs: 250 },
      );
    } finally {
      stopWriter.abort();
      await writer;
    }

    const both = await query(client, "SHOW JOBS FOR SCHEDULES WITH x AS (SHOW SCHEDULES) SELECT id FROM x WHERE label = 'paired'");
    const fulls = both.filter((j) => !col(j, 'description').includes('INTO LATEST IN'));
    const incrementals = both.filter((j) => col(j, 'description').includes('INTO LATEST IN')).sort((a, b) => asOfOf(a) - asOfOf(b));
    expect(fulls).toHaveLength(1);
    expect(incrementals.length).toBeGreaterThanOrEqual(2);
    for (const j of both) expect(j['status'], col(j, 'description')).toBe('succeeded');
    for (const j of incrementals) {
      expect(col(j, 'description')).toMatch(/^BACKUP DATABASE shop INTO LATEST IN 'nodelocal:\/\/1\/paired' AS OF SYSTEM TIME '[^']+' WITH detached$/);
    }
    // One incremental per minute, each AS OF SYSTEM TIME its minute.
    const incTimes = incrementals.map(asOfOf);
    incTimes.forEach((t, i) => {
      expect(t % MINUTE_MS, `incremental ${i} at ${iso(t)}`).toBe(0);
      if (i > 0) expect(t - incTimes[i - 1]!, `incremental ${i} after the one before`).toBe(MINUTE_MS);
    });

    // The collection holds one chain: the full, then one layer per incremental, ending at each job's time.
    const layers = (await query(client, "SHOW BACKUP FROM LATEST IN 'nodelocal://1/paired'")).filter((r) => r['object_name'] === 'orders');
    expect(layers.map((r) => r['backup_type'])).toEqual(['full', ...incTimes.map(() => 'incremental')]);
    expect(layers.map((r) => parseShownTime(col(r, 'end_time')))).toEqual([asOfOf(at(fulls, 0)), ...incTimes]);
    for (const l of layers.slice(1)) expect(Number(col(l, 'rows')), `rows of the layer ending ${col(l, 'end_time')}`).toBeGreaterThan(0);

    // LATEST restores to the last incremental's end time: the source's fingerprint then.
    const lastEnd = col(at(layers, layers.length - 1), 'end_time');
    const restored = await queryOne(client, "RESTORE DATABASE shop FROM LATEST IN 'nodelocal://1/paired' WITH new_db_name = 'shop_scheduled'");
    expect(col(restored, 'status')).toBe('succeeded');
    const source = await databaseFingerprints(client, 'shop', lastEnd);
    expect(source.map(([t]) => t)).toEqual(['orders']);
    expect(await databaseFingerprints(client, 'shop_scheduled'), `shop_scheduled vs shop as of ${lastEnd}`).toEqual(source);
    // The incrementals carried the orders written after the full.
    expect(await databaseFingerprints(client, 'shop', col(at(layers, 0), 'end_time'))).not.toEqual(source);

    // Each incremental moved the chained record to its own end; one record, not one per run.
    const moved = await chained();
    expect(moved).toHaveLength(1);
    expect(recordTimeMs(at(moved, 0))).toBe(incTimes[incTimes.length - 1]);
    // Dropping the full drops its incremental and releases the record.
    expect((await client.execute(`DROP SCHEDULE ${fullId}`)).tag).toBe('DROP SCHEDULES 2');
    expect(await chained()).toEqual([]);
    expect(await query(client, 'SHOW SCHEDULES')).not.toContainEqual(expect.objectContaining({ label: 'paired' }));
  }, 240_000);

  it('on_previous_running: skip moves to the next cron time, wait retries in a minute, start runs a second job', async () => {
    // A few MB, so the first job is still running when PAUSE JOBS FOR SCHEDULE reaches it.
    await client.execute('CREATE DATABASE busy');
    await loadTable(client, 'busy.t', 3_000, 1_000);
    const created = await queryOne(
      client,
      `CREATE SCHEDULE overlap FOR BACKUP DATABASE busy INTO 'nodelocal://2/overlap'
  RECURRING '@daily' FULL BACKUP ALWAYS
  WITH SCHEDULE OPTIONS first_run = 'now', on_previous_running = 'skip'`,
    );
    const id = col(created, 'schedule_id');

    // Hold the first run: pause its job as soon as the scheduler has created it.
    await waitFor(
      async () => (await client.execute(`PAUSE JOBS FOR SCHEDULE ${id}`)).tag === 'PAUSE JOBS FOR SCHEDULE 1',
      { what: "PAUSE JOBS FOR SCHEDULE to catch the schedule's first job before it finished", timeoutMs: 15_000, intervalMs: 20 },
    );
    const [first] = await jobsForSchedule(id);
    const heldId = col(first!, 'job_id');
    expect(col(await waitForJobStatus(client, heldId, ['paused', 'succeeded', 'failed']), 'status')).toBe('paused');
    expect(col(await showSchedule(id), 'jobsrunning')).toBe('1');

    // skip: the run is skipped; next_run is the next cron time.
    const skips = await leaderCounter('schedules_round_reschedule_skip_total');
    const waits = await leaderCounter('schedules_round_reschedule_wait_total');
    const skipAt = Date.now();
    const executed = await queryOne(client, `ALTER BACKUP SCHEDULE ${id} EXECUTE IMMEDIATELY`);
    expect(parseShownTime(col(executed, 'first_run'))).toBeGreaterThanOrEqual(skipAt - 1_000);
    await waitForLeaderCounter('schedules_round_reschedule_skip_total', skips + 1);
    const skipped = await showSchedule(id);
    expect(skipped['state']).toBe('rescheduled due to 1 already running');
    expect([nextMidnight(skipAt), nextMidnight(Date.now())]).toContain(parseShownTime(col(skipped, 'next_run')));
    expect((await jobsForSchedule(id)).map((j) => j['job_id'])).toEqual([heldId]);

    // wait: the run is delayed by a minute from the round that found the job running.
    const waitFrom = Date.now();
    await client.execute(`ALTER BACKUP SCHEDULE ${id} SET SCHEDULE OPTION on_previous_running = 'wait', EXECUTE IMMEDIATELY`);
    await waitForLeaderCounter('schedules_round_reschedule_wait_total', waits + 1);
    const waitTo = Date.now();
    const delayed = await showSchedule(id);
    expect(delayed['state']).toBe('delayed due to 1 already running');
    const delayedTo = parseShownTime(col(delayed, 'next_run'));
    expect(delayedTo).toBeGreaterThanOrEqual(waitFrom + MINUTE_MS);
    expect(delayedTo).toBeLessThanOrEqual(waitTo + MINUTE_MS);
    expect((await jobsForSchedule(id)).map((j) => j['job_id'])).toEqual([heldId]);

    // start: a second job runs beside the held one.
    const startFrom = Date.now();
    await client.execute(`ALTER BACKUP SCHEDULE ${id} SET SCHEDULE OPTION on_previous_running = 'start', EXECUTE IMMEDIATELY`);
    const second = await waitFor(
      async () => (await jobsForSchedule(id)).find((j) => j['job_id'] !== heldId),
      { what: 'a second job of the schedule under on_previous_running = start', timeoutMs: 15_000, intervalMs: 100 },
    );
    expect(asOfOf(second)).toBeGreaterThanOrEqual(startFrom - 1_000);
    expect(col(await queryOne(client, `SHOW JOB WHEN COMPLETE ${col(second, 'job_id')}`), 'status')).toBe('succeeded');
    expect(col(await waitForJobStatus(client, heldId, ['paused']), 'status')).toBe('paused');
    const started = await showSchedule(id);
    expect(started['state']).toBeNull();
    expect([nextMidnight(startFrom), nextMidnight(Date.now())]).toContain(parseShownTime(col(started, 'next_run')));
    // Neither reschedule counter moved for the started run.
    expect(await leaderCounter('schedules_round_reschedule_skip_total')).toBe(skips + 1);
    expect(await leaderCounter('schedules_round_reschedule_wait_total')).toBe(waits + 1);

    expect((await client.execute(`CANCEL JOBS FOR SCHEDULE ${id}`)).tag).toBe('CANCEL JOBS FOR SCHEDULE 1');
    expect(col(await queryOne(client, `SHOW JOB WHEN COMPLETE ${heldId}`), 'status')).toBe('canceled');
    await client.execute(`DROP SCHEDULE ${id}`);
  }, 120_000);

  it('on_execution_failure against an unreachable bucket: pause ends PAUSED with the error, reschedule stays ACTIVE', async () => {
    // A port nothing listens on: every request is refused.
    const closedPort = await freePort();
    const endpoint = encodeURIComponent(`http://127.0.0.1:${closedPort}`);
    const unreachable = (path: string) =>
      `s3://unreachable/${path}?AWS_ACCESS_KEY_ID=cairn-test&AWS_SECRET_ACCESS_KEY=${SECRET}&AWS_ENDPOINT=${endpoint}&AWS_REGION=us-east-1`;
    const failedBefore = await leaderCounter('schedules_BACKUP_failed_total');

    const createdAt = Date.now();
    const ids: Record<'pause' | 'reschedule', string> = { pause: '', reschedule: '' };
    for (const policy of ['pause', 'reschedule'] as const) {
      // ignore_existing_backups: CREATE SCHEDULE would otherwise list the collection, and fail.
      const row = await queryOne(
        client,
        `CREATE SCHEDULE fail_${policy} FOR BACKUP DATABASE cadence INTO '${unreachable(policy)}'
  RECURRING '@daily' FULL BACKUP ALWAYS
  WITH SCHEDULE OPTIONS first_run = 'now', on_execution_failure = '${policy}', ignore_existing_backups`,
      );
      ids[policy] = col(row, 'schedule_id');
    }

    const settled = (id: string) =>
      waitFor(
        async () => {
          const s = await showSchedule(id);
          return s['state'] !== null && s['jobsrunning'] === '0' ? s : undefined;
        },
        { what: `schedule ${id}'s failed run settled`, timeoutMs: 90_000, intervalMs: 250 },
      );
    const paused = await settled(ids.pause);
    expect(paused['schedule_status']).toBe('PAUSED');
    expect(paused['next_run']).toBeNull();
    expect(col(paused, 'state')).toMatch(/^schedule paused: backup job \d+ failed with err=.*ECONNREFUSED/);

    const rescheduled = await settled(ids.reschedule);
    expect(rescheduled['schedule_status']).toBe('ACTIVE');
    expect([nextMidnight(createdAt), nextMidnight(Date.now())]).toContain(parseShownTime(col(rescheduled, 'next_run')));
    expect(col(rescheduled, 'state')).toMatch(/^reschedule: backup job \d+ failed with err=.*ECONNREFUSED/);

    for (const [policy, id] of Object.entries(ids)) {
      const jobs = await jobsForSchedule(id);
      expect(jobs.map((j) => j['status']), `jobs of fail_${policy}`).toEqual(['failed']);
      expect(col(at(jobs, 0), 'error')).toContain('ECONNREFUSED');
    }
    for (const s of [paused, rescheduled]) expect(JSON.stringify(s)).not.toContain(SECRET);
    await waitForLeaderCounter('schedules_BACKUP_failed_total', failedBefore + 2);

    for (const id of Object.values(ids)) await client.execute(`DROP SCHEDULE ${id}`);
  }, 150_000);

  it('keeps one run per minute across a SIGKILL of the leader just before a minute boundary', async () => {
    const leader = await leaderCoordinator(cluster);
    const standby = at(cluster.coordinators.filter((c) => c !== leader), 0, 'standby coordinator');
    expect(standby.running).toBe(true);

    // The boundary the leader dies before: at least 10 s away, so the kill lands 4 s before it.
    let boundary = nextMinute(Date.now());
    if (boundary - Date.now() < 10_000) boundary += MINUTE_MS;
    await sleep(boundary - 4_000 - Date.now());
    // The leader ran the minute before (when the schedule was already due then).
    if (boundary - MINUTE_MS >= cadenceFirstRunMs) {
      const before = (await jobsForSchedule(cadenceId)).filter((j) => asOfOf(j) === boundary - MINUTE_MS);
      expect(before.map((j) => j['coordinator_id']), `jobs for ${iso(boundary - MINUTE_MS)}`).toEqual([leader.name]);
    }

    await leader.kill();
    expect(leader.exitStatus?.signal).toBe('SIGKILL');
    expect(Date.now(), 'the kill happened before the boundary').toBeLessThan(boundary);
    expect(await leaderCoordinator(cluster, 20_000)).toBe(standby);

    // The standby runs the boundary's backup, and the next minute's.
    const atBoundary = await waitFor(
      async () => (await jobsForSchedule(cadenceId)).find((j) => asOfOf(j) === boundary),
      { what: `the cadence run for ${iso(boundary)} after the failover`, timeoutMs: boundary + 45_000 - Date.now(), intervalMs: 250 },
    );
    expect(atBoundary['coordinator_id']).toBe(standby.name);
    const last = boundary + MINUTE_MS;
    await waitFor(
      async () => (await jobsForSchedule(cadenceId)).some((j) => asOfOf(j) === last),
      { what: `the cadence run for ${iso(last)}`, timeoutMs: last + 30_000 - Date.now(), intervalMs: 250 },
    );
    await client.execute(`PAUSE SCHEDULE ${cadenceId}`);
    const jobs = await waitFor(
      async () => {
        const all = await jobsForSchedule(cadenceId);
        return all.every((j) => ['succeeded', 'failed', 'canceled'].includes(col(j, 'status'))) ? all : undefined;
      },
      { what: 'every cadence job finished', timeoutMs: 60_000, intervalMs: 250 },
    );

    // Exactly one job per minute from the first cron time after CREATE to the last awaited,
    // each AS OF SYSTEM TIME its minute: none missing, none twice, none off the minute.
    const times = jobs.map(asOfOf).sort((a, b) => a - b);
    const first = cadenceFirstRunMs;
    const expected: number[] = [];
    for (let t = first; t <= last; t += MINUTE_MS) expected.push(t);
    expect(expected.length, 'minute boundaries observed').toBeGreaterThanOrEqual(3);
    expect(times.filter((t) => t <= last).map(iso), 'scheduled minutes with a job').toEqual(expected.map(iso));
    expect(times.map(iso), 'no duplicate and no off-minute run').toEqual([...new Set(times)].filter((t) => t % MINUTE_MS === 0).map(iso));
    for (const j of jobs) expect(j['status'], `cadence job AS OF ${iso(asOfOf(j))}`).toBe('succeeded');
    console.log(
      `schedule cadence: ${expected.length} minutes from ${iso(first)} to ${iso(last)}, one job each; ` +
        `${leader.name} SIGKILLed before ${iso(boundary)}, whose run ${standby.name} started`,
    );
  }, 240_000);

  it('still runs, once, a run the leader had begun but not yet started as a job when it was SIGKILLed', async () => {
    // The previous test left one coordinator: bring the other back as the standby.
    const leader = await leaderCoordinator(cluster);
    const standby = at(cluster.coordinators.filter((c) => c !== leader), 0, 'stopped coordinator');
    if (!standby.running) await standby.restart();
    expect(await leaderCoordinator(cluster)).toBe(leader);
    // The old client's channel to the restarted coordinator may still be in gRPC's reconnect
    // backoff (it grows to minutes while a coordinator is down); a new client connects at once.
    client.close();
    client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 60_000 });

    proxy = await HangingProxy.start(s3.endpoint);
    const collection = s3.uri('schedules', 'interrupted').replace(/AWS_ENDPOINT=[^&]*/, `AWS_ENDPOINT=${encodeURIComponent(proxy.endpoint)}`);
    // A daily incremental with a weekly full: nothing runs on its own during the test.
    const created = await query(
      client,
      `CREATE SCHEDULE interrupted FOR BACKUP DATABASE cadence INTO '${collection}'
  RECURRING '@daily' FULL BACKUP '@weekly'
  WITH SCHEDULE OPTIONS first_run = 'now'`,
    );
    const incId = col(at(created, 0), 'schedule_id');
    await waitFor(
      async () => (await showSchedule(incId))['schedule_status'] === 'ACTIVE',
      { what: 'the incremental unpaused by the first full', timeoutMs: 60_000, intervalMs: 250 },
    );

    // Planning an incremental reads the collection's LATEST: with the endpoint hung, the
    // leader's round stops between saving the next run and creating the job.
    proxy.hang();
    const executed = (await query(client, `ALTER BACKUP SCHEDULE ${incId} EXECUTE IMMEDIATELY`)).find((r) => r['schedule_id'] === incId);
    const dueAt = parseShownTime(col(executed ?? {}, 'first_run'));
    const begun = await waitFor(
      async () => {
        const s = await showSchedule(incId);
        return proxy!.heldRequests > 0 && s['next_run'] !== null && parseShownTime(col(s, 'next_run')) > dueAt ? s : undefined;
      },
      { what: 'the leader to save the next run and block planning the job', timeoutMs: 15_000, intervalMs: 50 },
    );
    expect(await jobsForSchedule(incId)).toEqual([]);
    await leader.kill();
    const killedAt = Date.now();
    proxy.recover();
    expect(await leaderCoordinator(cluster, 20_000)).toBe(standby);

    // The run that was due must still happen, exactly once, AS OF SYSTEM TIME when it was due.
    const found = await waitFor(
      async () => (await jobsForSchedule(incId)).find((j) => asOfOf(j) === dueAt),
      { what: `a job for the run due at ${iso(dueAt)}`, timeoutMs: 60_000, intervalMs: 250 },
    ).catch(() => undefined);
    console.log(`interrupted run: ${found ? `job created ${Date.now() - killedAt} ms after SIGKILL of ${leader.name}` : 'never created'}`);
    const after = await showSchedule(incId);
    expect(
      found,
      `the run due at ${iso(dueAt)} was lost: ${leader.name} saved next_run ${col(begun, 'next_run')} before creating its job and was ` +
        `SIGKILLed in between; ${standby.name} never ran it (schedule now: next_run ${String(after['next_run'])}, ` +
        `jobs ${JSON.stringify((await jobsForSchedule(incId)).map((j) => j['description']))})`,
    ).toBeDefined();
    expect(col(await queryOne(client, `SHOW JOB WHEN COMPLETE ${col(found!, 'job_id')}`), 'status')).toBe('succeeded');
    expect((await jobsForSchedule(incId)).filter((j) => asOfOf(j) === dueAt)).toHaveLength(1);
  }, 180_000);
});
