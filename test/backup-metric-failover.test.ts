/**
 * `schedules_BACKUP_last_completed_time` (CockroachDB's schedules.BACKUP.last-completed-time)
 * on real processes, across a leader SIGKILL:
 * - a scheduled backup of a schedule without `updates_cluster_last_backup_time_metric` leaves
 *   it at 0; one with the option sets it to the backup's end time (its AS OF SYSTEM TIME, the
 *   scheduled time);
 * - the standby reports 0;
 * - after the leader is SIGKILLed, the new leader reports the same value, seeded from the
 *   stored schedules (in CockroachDB it would restart at 0 and page "no backup for a day").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { ProcessCluster, startNatsServer, waitFor, type NatsServerHandle } from '@cairn/testing';
import { leaderCoordinator, reportedAddress } from './support/coordinators.js';
import { scrapeMetric } from './support/metrics.js';

const GAUGE = 'schedules_BACKUP_last_completed_time';

let nats: NatsServerHandle;
let cluster: ProcessCluster;
let client: CairnClient;

beforeAll(async () => {
  nats = await startNatsServer();
  cluster = await ProcessCluster.start({ nats: nats.url, coordinators: 2, nodes: [{ locality: 'region=us-east1' }] });
  client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 30_000 });
  await client.execute('CREATE DATABASE m');
  await client.execute('CREATE TABLE m.t (id INT PRIMARY KEY, v STRING)');
  await client.execute("INSERT INTO m.t (id, v) VALUES (1, 'a'), (2, 'b')");
});

afterAll(async () => {
  client?.close();
  await cluster?.stop();
  await nats?.stop();
});

/** Waits until the leader has counted `n` successful scheduled backups. */
async function succeeded(n: number): Promise<void> {
  await waitFor(
    async () => {
      const leader = await leaderCoordinator(cluster);
      return ((await scrapeMetric(reportedAddress(leader, 'metrics'), 'schedules_BACKUP_succeeded_total')) ?? 0) >= n;
    },
    { what: `${n} successful scheduled backups`, timeoutMs: 60_000, intervalMs: 200 },
  );
}

describe('schedules_BACKUP_last_completed_time', () => {
  it('moves only for updates_cluster_last_backup_time_metric and survives a leader SIGKILL', async () => {
    await client.execute(
      "CREATE SCHEDULE plain FOR BACKUP DATABASE m INTO 'nodelocal://1/plain' RECURRING '@daily' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = 'now'",
    );
    await succeeded(1);
    const leader = await leaderCoordinator(cluster);
    expect(await scrapeMetric(reportedAddress(leader, 'metrics'), GAUGE)).toBe(0);

    const before = Math.floor(Date.now() / 1000);
    await client.execute(
      "CREATE SCHEDULE tracked FOR BACKUP DATABASE m INTO 'nodelocal://1/tracked' RECURRING '@daily' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = 'now', updates_cluster_last_backup_time_metric",
    );
    await succeeded(2);
    const value = (await scrapeMetric(reportedAddress(leader, 'metrics'), GAUGE))!;
    // The run was scheduled (first_run = 'now') between the statement and its success.
    expect(value).toBeGreaterThanOrEqual(before - 1);
    expect(value).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    const standby = cluster.coordinators.find((c) => c !== leader)!;
    expect(await scrapeMetric(reportedAddress(standby, 'metrics'), GAUGE)).toBe(0);

    await leader.kill('SIGKILL');
    const next = await leaderCoordinator(cluster, 30_000);
    expect(next).toBe(standby);
    // Seeded when the new leader's scheduler starts: the same value, never 0 for long.
    const seeded = await waitFor(
      async () => {
        const v = await scrapeMetric(reportedAddress(next, 'metrics'), GAUGE);
        return v !== undefined && v > 0 ? v : undefined;
      },
      { what: 'the new leader to seed the gauge', timeoutMs: 15_000, intervalMs: 100 },
    );
    expect(seeded).toBe(value);
  });
});
