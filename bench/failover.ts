/**
 * Seconds from a SIGKILL to the first successful statement and to job progress, for the leader coordinator and for one nats-server.
 *
 * The cluster is the shape users deploy: three nats-servers in one JetStream cluster (R3
 * state), two coordinators and three nodes. It loads `--mb` MB of bank rows split into small
 * ranges, so a BACKUP is many work items. Each round starts a detached BACKUP, waits until it
 * runs, then SIGKILLs either (a) the leader coordinator or (b) the nats-server the
 * leader coordinator is connected to (the worst server to lose: the leader's connection, and
 * likely some stream leaders, go with it). From the kill it measures:
 * - statement: until a write and a read both succeed (a new client per attempt, 1 s deadline
 *   each, so a hung call is retried rather than waited out);
 * - progress: until the job reports more spans exported than at the kill, or succeeds.
 * For a nats-server kill it also measures, as the in-run baseline, how long NATS alone takes:
 * a bare R3 KV bucket whose stream leader was moved onto the victim beforehand, written
 * through a surviving server until a write succeeds. cairn cannot recover before its own
 * streams have elected leaders, so that figure bounds what is possible on this machine now.
 * The killed process is restarted before the next round. The target for both is 10 s.
 *
 * Prints a table, then one JSON line with every figure as the last line of stdout.
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { initBank } from '@cairn/cli';
import { CairnClient } from '@cairn/client';
import { connectNats, ensureKv, retryNats } from '@cairn/cluster';
import { ProcessCluster, startNatsCluster, tempDir, type ManagedProcess, type NatsClusterHandle, type NatsServerHandle } from '@cairn/testing';
import { formatTable, say, warnIfBusy } from './lib/common.js';

const TARGET_S = 10;
const LOCALITIES = ['region=us-east1,zone=us-east1-b', 'region=us-west1,zone=us-west1-a', 'region=eu-west1,zone=eu-west1-c'];

const { values } = parseArgs({
  options: {
    mb: { type: 'string' },
    rounds: { type: 'string' },
    kill: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write(
    [
      'usage: pnpm bench failover [--mb N] [--rounds N]',
      '  --mb      MB of bank rows to load (default 64): enough that a BACKUP outlives the failover',
      '  --rounds  kills of each kind (default 3); the table shows each and the JSON the median and worst',
      '  --kill    leader, nats or both (default both)',
      '',
    ].join('\n'),
  );
  process.exit(0);
}
const mb = Number(values.mb ?? 64);
const rounds = Number(values.rounds ?? 3);
const kinds = { leader: ['leader coordinator'], nats: ['nats-server'], both: ['leader coordinator', 'nats-server'] }[values.kill ?? 'both'] as Round['kind'][] | undefined;
if (kinds === undefined) {
  process.stderr.write('--kill must be leader, nats or both\n');
  process.exit(2);
}
if (!Number.isFinite(mb) || mb <= 0 || !Number.isInteger(rounds) || rounds < 1) {
  process.stderr.write('--mb must be a positive number and --rounds a positive integer\n');
  process.exit(2);
}

let nats: NatsClusterHandle | undefined;
let cluster: ProcessCluster | undefined;
const stopAll = async (): Promise<void> => {
  await cluster?.stop().catch(() => undefined);
  await nats?.stop().catch(() => undefined);
};
process.on('SIGINT', () => void stopAll().finally(() => process.exit(130)));

interface Round {
  kind: 'leader coordinator' | 'nats-server';
  statementS: number;
  progressS: number;
  /**
   * For a nats-server kill, the in-run baseline: seconds until a bare R3 KV bucket whose
   * stream leader was on the killed server takes a write again (NATS's own election and
   * nothing of cairn's), from a client on a surviving server.
   */
  natsAloneS?: number;
}

const PROBE_BUCKET = 'bench_failover_probe';

/**
 * Moves the probe bucket's stream leader onto `server` (stepping it down until an election
 * lands there), so that killing `server` costs the probe an election as it may cost cairn.
 */
async function probeLeaderOn(n: NatsClusterHandle, server: NatsServerHandle): Promise<void> {
  const other = n.servers.find((x) => x !== server && x.running)!;
  const nc = await connectNats(other.url, 'bench-probe-placement');
  try {
    // The server killed last round may still be catching up: JetStream's API can be slow to answer.
    const jsm = await retryNats(() => nc.jetstreamManager(), { what: 'cannot reach JetStream to place the probe bucket' });
    for (let i = 0; i < 30; i++) {
      const info = await jsm.streams.info(`KV_${PROBE_BUCKET}`).catch(() => undefined);
      if (info?.cluster?.leader === server.name) return;
      if (info?.cluster?.leader) await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.KV_${PROBE_BUCKET}`, new Uint8Array(0), { timeout: 2000 }).catch(() => undefined);
      await sleep(500);
    }
    throw new Error(`could not move the probe bucket's leader onto ${server.name}`);
  } finally {
    await nc.close();
  }
}

/**
 * The probe bucket, bound before the kill through a server that survives it (as cairn's
 * processes have their buckets bound), and the seconds from `since` until it takes a write.
 */
async function openNatsAloneProbe(n: NatsClusterHandle, victim: NatsServerHandle): Promise<{ secondsUntilWrite(since: number): Promise<number>; close(): Promise<void> }> {
  const other = n.servers.find((x) => x !== victim && x.running)!;
  const nc = await connectNats(other.url, 'bench-probe');
  const kv = await ensureKv(nc, PROBE_BUCKET, { replicas: 3, resilient: false, requestTimeoutMs: 1000 });
  return {
    secondsUntilWrite: (since) => secondsUntil(since, async () => (await kv.put('probe', new Uint8Array([1]))) > 0, 'NATS alone'),
    close: () => nc.close(),
  };
}

/**
 * The job's work done as SHOW JOB reports it: spans exported so far (running_status reads
 * `exporting spans: 12/40, 30.1 MB`, updated as results arrive, while fraction_completed
 * moves only at checkpoints), or Infinity once it succeeded.
 */
async function jobProgress(client: CairnClient, jobId: string): Promise<number> {
  const r = await client.execute(`SHOW JOB ${jobId}`);
  const row = Object.fromEntries(r.columns.map((c, i) => [c, r.rows[0]?.[i] ?? null]));
  if (row['status'] === 'succeeded') return Number.POSITIVE_INFINITY;
  if (row['status'] === 'failed' || row['status'] === 'canceled') throw new Error(`job ${jobId} ${row['status']}: ${row['error']}`);
  const spans = /spans: (\d+)\//.exec(row['running_status'] ?? '');
  return spans ? Number(spans[1]) : 0;
}

async function jobRunning(client: CairnClient, jobId: string): Promise<boolean> {
  const r = await client.execute(`SHOW JOB ${jobId}`);
  return r.rows[0]?.[r.columns.indexOf('status')] === 'running';
}

/** Seconds from `since` until `attempt` succeeds, trying every 100 ms. */
async function secondsUntil(since: number, attempt: () => Promise<boolean>, what: string, timeoutS = 120): Promise<number> {
  for (;;) {
    if (await attempt().catch(() => false)) return (performance.now() - since) / 1000;
    if (performance.now() - since > timeoutS * 1000) throw new Error(`${what}: nothing after ${timeoutS} s`);
    await sleep(100);
  }
}

async function leader(c: ProcessCluster): Promise<ManagedProcess> {
  for (;;) {
    for (const p of c.coordinators) {
      if (!p.running) continue;
      const text = await (await fetch(`http://${c.metricsAddresses.get(p.name)}/metrics`).catch(() => undefined))?.text().catch(() => '');
      if (text && /^cairn_coordinator_is_leader 1$/m.test(text)) return p;
    }
    await sleep(100);
  }
}

async function serverOf(n: NatsClusterHandle, connectionName: string): Promise<NatsServerHandle> {
  for (;;) {
    for (const s of n.servers) {
      if (!s.running) continue;
      const connz = (await (await fetch(`${s.monitoringUrl}/connz?limit=1024`)).json()) as { connections?: Array<{ name?: string }> };
      if (connz.connections?.some((x) => x.name === connectionName)) return s;
    }
    await sleep(100);
  }
}

async function round(c: ProcessCluster, n: NatsClusterHandle, kind: Round['kind'], i: number, dir: string): Promise<Round> {
  const addresses = c.grpcAddresses();
  const client = new CairnClient({ addresses, retryForMs: 120_000 });
  try {
    const started = await client.execute(`BACKUP DATABASE bank INTO 'file://${join(dir, `round-${kind.replace(/\W/g, '-')}-${i}`)}' WITH detached`);
    const jobId = started.rows[0]?.[started.columns.indexOf('job_id')] ?? '';
    // Kill as soon as the job runs (its progress is written at checkpoints, so waiting for a
    // first figure would often find it nearly done).
    while (!(await jobRunning(client, jobId))) await sleep(20);
    const before = await jobProgress(client, jobId);
    if (before === Number.POSITIVE_INFINITY) throw new Error('the backup finished before the kill: use a larger --mb');

    const lead = await leader(c);
    const victimServer = kind === 'nats-server' ? await serverOf(n, `cairn-${String(lead.readyInfo['id'])}`) : undefined;
    if (victimServer) await probeLeaderOn(n, victimServer);
    const probe = victimServer ? await openNatsAloneProbe(n, victimServer) : undefined;
    const victim = victimServer ?? lead;
    const killedAt = performance.now();
    await victim.kill('SIGKILL');
    const natsAlone = probe?.secondsUntilWrite(killedAt).finally(() => probe.close());
    // Awaited after the statement's figure; a failure then fails the round, not the process.
    natsAlone?.catch(() => undefined);
    say(`round ${i + 1}: SIGKILL ${kind} ${'name' in victim ? victim.name : ''} with ${before} spans of the backup exported`);

    const statementS = await secondsUntil(
      killedAt,
      async () => {
        const probe = new CairnClient({ addresses, retryForMs: 1000 });
        try {
          await probe.execute(`UPSERT INTO bank.bank (id, balance, payload) VALUES (-${i + 1}, 0, 'failover probe')`);
          await probe.execute(`SELECT balance FROM bank.bank WHERE id = -${i + 1}`);
          return true;
        } finally {
          probe.close();
        }
      },
      'first statement',
    );
    const progressS = await secondsUntil(killedAt, async () => (await jobProgress(client, jobId)) > before, 'job progress');
    const natsAloneS = await natsAlone;
    while ((await jobProgress(client, jobId)) !== Number.POSITIVE_INFINITY) await sleep(200);
    await victim.restart();
    return { kind, statementS, progressS, ...(natsAloneS !== undefined ? { natsAloneS } : {}) };
  } finally {
    client.close();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

try {
  const load1 = warnIfBusy();
  const dir = await tempDir('cairn-bench-failover');
  say('starting 3 nats-servers, 2 coordinators, 3 nodes...');
  nats = await startNatsCluster(3);
  cluster = await ProcessCluster.start({ nats: nats.url, coordinators: 2, nodes: LOCALITIES.map((locality) => ({ locality })), dataDir: join(dir, 'cluster'), readyTimeoutMs: 90_000 });
  const client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 60_000 });
  await client.execute(`SET CLUSTER SETTING kv.range.max_bytes = '2MiB'`);
  {
    // The baseline's bucket, beside cairn's own on the same servers.
    const nc = await connectNats(nats.url, 'bench-probe-setup');
    await ensureKv(nc, PROBE_BUCKET, { replicas: 3 });
    await nc.close();
  }
  say(`loading ${mb} MB of bank rows...`);
  await initBank(client, { rows: Math.floor((mb * 1e6) / 1016), payloadBytes: 1000 });
  // Let the size-based splits spread the table over many ranges.
  await sleep(25_000);
  client.close();

  const results: Round[] = [];
  for (const kind of kinds) {
    for (let i = 0; i < rounds; i++) results.push(await round(cluster, nats, kind, i, dir));
  }
  const summary = (kind: Round['kind']) => {
    const rs = results.filter((r) => r.kind === kind);
    if (rs.length === 0) return undefined;
    return {
      ...(kind === 'nats-server' ? { natsAloneMedianS: median(rs.map((r) => r.natsAloneS ?? 0)), natsAloneWorstS: Math.max(...rs.map((r) => r.natsAloneS ?? 0)) } : {}),
      statementMedianS: median(rs.map((r) => r.statementS)),
      statementWorstS: Math.max(...rs.map((r) => r.statementS)),
      progressMedianS: median(rs.map((r) => r.progressS)),
      progressWorstS: Math.max(...rs.map((r) => r.progressS)),
    };
  };
  const leaderFig = summary('leader coordinator');
  const natsFig = summary('nats-server');
  process.stdout.write(
    formatTable([
      ['SIGKILL of', 'round', 'first statement (s)', 'job progress (s)', 'NATS alone (s)'],
      ...results.map((r, i) => [r.kind, String((i % rounds) + 1), r.statementS.toFixed(2), r.progressS.toFixed(2), r.natsAloneS?.toFixed(2) ?? '']),
    ]) + '\n',
  );
  process.stdout.write(
    `target ${TARGET_S} s: ` +
      [leaderFig && `leader coordinator worst ${Math.max(leaderFig.statementWorstS, leaderFig.progressWorstS).toFixed(2)} s`, natsFig && `nats-server worst ${Math.max(natsFig.statementWorstS, natsFig.progressWorstS).toFixed(2)} s`]
        .filter(Boolean)
        .join(', ') +
      '\n',
  );
  process.stdout.write(
    JSON.stringify({
      bench: 'failover',
      mb,
      rounds,
      load1,
      targetS: TARGET_S,
      leaderCoordinator: leaderFig,
      natsServer: natsFig,
      rows: results,
    }) + '\n',
  );
} finally {
  await stopAll();
}
