/**
 * Scheduler at scale: 10,000 schedules' start delay (p50/p99) and the coordinator's CPU and memory.
 *
 * The coordinator leader's real `SchedulerDaemon` runs here, in this process, on a real
 * nats-server: schedules in the mirrored `ScheduleStore` (created from parsed CREATE SCHEDULE
 * statements), jobs in a real `JobRegistry`/`JobStore`. Only the executor is a dry run: a run's
 * job is created (with the id the daemon recorded) but its resumer succeeds at once instead of
 * planning and exporting a backup, so the figures are the scheduler's own cost.
 *
 * Two phases, each on fresh buckets:
 * - spread: N schedules whose first runs fall uniformly over a window (default 60 s);
 * - burst: N schedules all due at the same instant.
 * Start delay = when the run's job was stored (it exists durably in NATS and SHOW JOBS lists
 * it) - the run's scheduled time; the job's creation time (the time it carries, taken before
 * it is stored) is reported beside it. On one nats-server, or with `--nats-servers 3` on a
 * 3-server JetStream cluster with R3 buckets (the shape users run). Baselines in the same
 * run: N jobs created straight through `JobRegistry.create`, and N bare KV creates with as
 * many in flight as the registry's batches (the floor of one write per run).
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { connectNats, ensureKv } from '@cairn/cluster';
import { SchedulerDaemon } from '@cairn/coordinator';
import { JobRegistry, JobStore, type Job } from '@cairn/jobs';
import { planCreateSchedule, scheduleIdGenerator, ScheduleStore, type BackupSchedule } from '@cairn/schedules';
import { parseOne, type CreateScheduleStatement } from '@cairn/sql';
import { startNatsCluster, startNatsServer } from '@cairn/testing';
import { monotonicMicros, positiveInt, procStatusBytes, warnIfBusy } from './lib/common.js';

const { values } = parseArgs({
  options: {
    schedules: { type: 'string' },
    'window-s': { type: 'string' },
    'nats-servers': { type: 'string' },
    phases: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write(
    [
      'usage: pnpm bench scheduler [--schedules N] [--window-s S] [--nats-servers 1|3] [--phases spread,burst]',
      '  --schedules     active schedules per phase (default 10000)',
      '  --window-s      spread phase: first runs spread over this many seconds (default 60)',
      '  --nats-servers  1 (default): one nats-server, R1 buckets; 3: a JetStream cluster, R3 buckets',
      '  --phases        which phases to run, in order (default spread,burst)',
      '',
    ].join('\n'),
  );
  process.exit(0);
}
const N = positiveInt('schedules', values.schedules, 10_000);
const WINDOW_MS = positiveInt('window-s', values['window-s'], 60) * 1000;
const NATS_SERVERS = positiveInt('nats-servers', values['nats-servers'], 1);
if (NATS_SERVERS !== 1 && NATS_SERVERS !== 3) throw new Error(`--nats-servers must be 1 or 3, got ${NATS_SERVERS}`);
const REPLICAS = NATS_SERVERS;
const PHASES = (values.phases ?? 'spread,burst').split(',').map((p) => p.trim());
for (const p of PHASES) if (p !== 'spread' && p !== 'burst') throw new Error(`--phases takes spread and/or burst, got "${p}"`);
/** No run done for this long (after the first was due) fails the phase. */
const STALL_MS = 90_000;
/** As many KV creates in flight as `JobStore.createMany` has. */
const KV_WINDOW = 1024;
const log = (line: string) => process.stderr.write(`${line}\n`);
const quiet = { info() {}, warn() {}, debug() {}, error() {} };

interface PhaseResult {
  phase: string;
  schedules: number;
  /** Start delay: until the run's job was stored (durable in NATS, listed by SHOW JOBS). */
  storedP50Ms: number;
  storedP99Ms: number;
  storedMaxMs: number;
  /** Until the job's creation time, which it carries (taken before it is stored). */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Coordinator (this process) CPU over the phase, as a share of one core. */
  cpuCores: number;
  rssMiB: number;
  heapMiB: number;
  /** Peak RssAnon of this process (the coordinator's scheduler, registry and stores), bytes. */
  peakAnonBytes: number;
  seconds: number;
  /** CLOCK_MONOTONIC µs from the first run's due time to the last job stored, to cut a `--cpu-prof` profile to the phase. */
  clockMicros: { start: number; end: number };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const load0 = warnIfBusy();
  const server = NATS_SERVERS === 1 ? await startNatsServer() : await startNatsCluster(NATS_SERVERS);
  const nc = await connectNats(server.url, 'bench-scheduler');
  const results: PhaseResult[] = [];
  try {
    for (const name of PHASES) {
      const t = Date.now() + 15_000 + N; // time to create the schedules first (about 1 ms each)
      results.push(await phase(nc, name, name === 'spread' ? (i) => t + Math.floor((i * WINDOW_MS) / N) : () => t));
    }
    const baseline = await baselineCreates(nc);
    const rawKv = await rawKvCreates(nc);
    print(results, baseline, rawKv, { start: load0, end: loadavg()[0] });
  } finally {
    await nc.close();
    await server.stop();
  }
}

/** Creates N schedules due at `dueAt(i)`, runs the daemon until every one has run once. */
async function phase(nc: Awaited<ReturnType<typeof connectNats>>, name: string, dueAt: (i: number) => number): Promise<PhaseResult> {
  const tag = `${name}_${Date.now()}`;
  const store = await ScheduleStore.open(nc, { bucket: `bench_schedules_${tag}`, mirror: true, replicas: REPLICAS });
  const jobs = new JobRegistry({
    store: await JobStore.open(nc, { bucket: `bench_jobs_${tag}`, replicas: REPLICAS }),
    coordinatorId: 'bench',
    logger: quiet,
    sweepIntervalMs: 0,
  });
  // The dry-run executor: the job exists and succeeds at once.
  jobs.registerResumer('BACKUP', () => ({ resume: async () => undefined, onFailOrCancel: async () => undefined }));
  await jobs.start();

  log(`${name}: creating ${N} schedules`);
  const ids = scheduleIdGenerator();
  const created: BackupSchedule[] = [];
  for (let i = 0; i < N; i++) {
    const first = new Date(dueAt(i)).toISOString();
    const stmt = parseOne(
      `CREATE SCHEDULE s${i} FOR BACKUP TABLE bench.t INTO 'nodelocal://1/b${i}' RECURRING '@daily' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = '${first}'`,
    ) as CreateScheduleStatement;
    created.push(...planCreateSchedule(stmt, new Date(), ids, { owner: 'root' }).schedules);
  }
  await inParallel(created, 64, (s) => store.create(s));
  const firstDue = Math.min(...created.map((s) => s.nextRunMs!));
  if (firstDue < Date.now()) throw new Error(`creating ${N} schedules took too long: the first was due before the daemon started`);

  const done = new Map<string, Job>();
  const storedAt = new Map<string, number>();
  let allDone!: () => void;
  let stall!: (err: Error) => void;
  const finished = new Promise<void>((resolve, reject) => ((allDone = resolve), (stall = reject)));
  jobs.onTerminal((job) => {
    done.set(job.id, job);
    if (done.size === N) allDone();
  });
  // The daemon's warnings name what held runs back (a run that could not start, a round that
  // failed): a burst that stops short of N says why instead of waiting forever.
  const warnings = { warn: (meta: object, msg: string) => log(`${name}: scheduler: ${msg} ${JSON.stringify(meta, (k, v: unknown) => (k === 'err' ? String(v) : v))}`), info() {} };
  const daemon = new SchedulerDaemon({
    store,
    jobs,
    startJobs: async (runs) => {
      const created = await jobs.createMany(
        runs.map(({ schedule, jobId }) => ({ id: jobId, type: 'BACKUP', description: `dry run of ${schedule.label}`, userName: 'root', scheduleId: schedule.id })),
        // When each job was stored: from then on it is durable and SHOW JOBS lists it.
        { onStored: (job) => storedAt.set(job.id, Date.now()) },
      );
      return created.map((r) => (r instanceof Error ? r : undefined));
    },
    pollIntervalMs: () => 1000,
    isReady: () => true,
    log: warnings,
  });
  daemon.start();
  const cpu0 = process.cpuUsage();
  const wall0 = Date.now();
  let rss = 0;
  let heap = 0;
  let anon = 0;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    rss = Math.max(rss, m.rss);
    heap = Math.max(heap, m.heapUsed);
    anon = Math.max(anon, procStatusBytes(process.pid, 'RssAnon') ?? 0);
  }, 200);
  let lastDone = -1;
  let lastChangeMs = Date.now();
  const progress = setInterval(() => {
    log(`${name}: ${done.size}/${N} runs done`);
    if (done.size !== lastDone) [lastDone, lastChangeMs] = [done.size, Date.now()];
    else if (Date.now() - lastChangeMs > STALL_MS && Date.now() > firstDue) stall(new Error(`${name}: stalled at ${done.size}/${N} runs done for ${STALL_MS / 1000} s`));
  }, 5_000);
  try {
    await finished;
  } finally {
    clearInterval(progress);
  }
  clearInterval(sampler);
  const cpu = process.cpuUsage(cpu0);
  const wallMs = Date.now() - wall0;
  const [mono, wall] = [monotonicMicros(), Date.now()];
  const clockMicros = { start: mono - (wall - firstDue) * 1000, end: mono - (wall - Math.max(...storedAt.values())) * 1000 };
  daemon.stop();

  // Scheduled time per schedule (what the run was due at) against its job's creation.
  const scheduledAt = new Map(created.map((s) => [s.id, s.nextRunMs!]));
  const delays = [...done.values()].map((j) => j.spec.createdAtMs - scheduledAt.get(j.spec.scheduleId!)!).sort((a, b) => a - b);
  const storedDelays = [...done.values()].map((j) => (storedAt.get(j.id) ?? NaN) - scheduledAt.get(j.spec.scheduleId!)!).sort((a, b) => a - b);
  const runsPerSchedule = new Map<string, number>();
  for (const j of done.values()) runsPerSchedule.set(j.spec.scheduleId!, (runsPerSchedule.get(j.spec.scheduleId!) ?? 0) + 1);
  if (runsPerSchedule.size !== N || [...runsPerSchedule.values()].some((n) => n !== 1)) throw new Error(`${name}: expected one run per schedule`);
  // Let the daemon settle the last runs before the buckets go.
  await jobs.stop();
  return {
    phase: name,
    schedules: N,
    storedP50Ms: percentile(storedDelays, 50),
    storedP99Ms: percentile(storedDelays, 99),
    storedMaxMs: storedDelays[storedDelays.length - 1]!,
    p50Ms: percentile(delays, 50),
    p99Ms: percentile(delays, 99),
    maxMs: delays[delays.length - 1]!,
    cpuCores: (cpu.user + cpu.system) / 1000 / (wallMs - Math.max(0, firstDue - wall0)),
    rssMiB: rss / 2 ** 20,
    heapMiB: heap / 2 ** 20,
    peakAnonBytes: anon,
    seconds: wallMs / 1000,
    clockMicros,
  };
}

/** N jobs created straight through the registry, 16 at a time, one `create` each. */
async function baselineCreates(nc: Awaited<ReturnType<typeof connectNats>>): Promise<{ seconds: number; perSecond: number }> {
  const tag = `baseline_${Date.now()}`;
  const jobs = new JobRegistry({
    store: await JobStore.open(nc, { bucket: `bench_jobs_${tag}`, replicas: REPLICAS }),
    coordinatorId: 'bench',
    logger: quiet,
    sweepIntervalMs: 0,
  });
  jobs.registerResumer('BACKUP', () => ({ resume: async () => undefined, onFailOrCancel: async () => undefined }));
  await jobs.start();
  const start = Date.now();
  await inParallel(
    Array.from({ length: N }, (_, i) => i),
    16,
    async (i) => {
      await jobs.create({ type: 'BACKUP', description: `baseline ${i}`, userName: 'root' });
    },
  );
  const seconds = (Date.now() - start) / 1000;
  await jobs.stop();
  return { seconds, perSecond: N / seconds };
}

/**
 * N bare KV creates (a 200-byte value each, about a job spec's size) with as many in flight
 * as the registry's batches, on a fresh bucket of the same replicas: what NATS and this
 * process can do at all, one write per run.
 */
async function rawKvCreates(nc: Awaited<ReturnType<typeof connectNats>>): Promise<{ seconds: number; perSecond: number }> {
  const kv = await ensureKv(nc, `bench_raw_${Date.now()}`, { replicas: REPLICAS });
  const value = new Uint8Array(200).fill(7);
  const start = Date.now();
  await inParallel(
    Array.from({ length: N }, (_, i) => i),
    KV_WINDOW,
    async (i) => {
      await kv.create(`k${i}`, value);
    },
  );
  const seconds = (Date.now() - start) / 1000;
  return { seconds, perSecond: N / seconds };
}

type Rate = { seconds: number; perSecond: number };

function print(results: PhaseResult[], baseline: Rate, rawKv: Rate, load: { start: number | undefined; end: number | undefined }): void {
  const rows = results.map((r) => [
    r.phase,
    String(r.schedules),
    r.storedP50Ms.toFixed(0),
    r.storedP99Ms.toFixed(0),
    r.storedMaxMs.toFixed(0),
    r.p50Ms.toFixed(0),
    r.p99Ms.toFixed(0),
    r.cpuCores.toFixed(2),
    r.rssMiB.toFixed(0),
    r.heapMiB.toFixed(0),
    r.seconds.toFixed(1),
  ]);
  const header = ['phase', 'schedules', 'stored p50 ms', 'stored p99 ms', 'stored max ms', 'created p50 ms', 'created p99 ms', 'cpu cores', 'peak rss MiB', 'peak heap MiB', 'seconds'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  process.stdout.write(`nats: ${NATS_SERVERS} server(s), R${REPLICAS} buckets; load average ${load.start?.toFixed(2)} at start, ${load.end?.toFixed(2)} at end\n`);
  process.stdout.write(`${line(header)}\n${rows.map(line).join('\n')}\n`);
  const burst = results.find((r) => r.phase === 'burst');
  // Runs stored per second from the instant they were due until the last was stored.
  const burstRate = burst ? burst.schedules / (burst.storedMaxMs / 1000) : undefined;
  process.stdout.write(
    `baseline: ${N} jobs created directly in ${baseline.seconds.toFixed(1)} s (${baseline.perSecond.toFixed(0)}/s); ` +
      `${N} bare KV creates in ${rawKv.seconds.toFixed(2)} s (${rawKv.perSecond.toFixed(0)}/s)` +
      (burstRate === undefined ? '\n' : `; burst started ${burstRate.toFixed(0)} runs/s = ${(burstRate / baseline.perSecond).toFixed(2)} of the direct creates, ${(burstRate / rawKv.perSecond).toFixed(2)} of the bare KV creates\n`),
  );
  const peakAnonBytes = Math.max(...results.map((r) => r.peakAnonBytes));
  const ratios = burstRate === undefined ? {} : { burstToDirectCreates: burstRate / baseline.perSecond, burstToRawKvCreates: burstRate / rawKv.perSecond };
  process.stdout.write(
    `${JSON.stringify({ bench: 'scheduler', natsServers: NATS_SERVERS, replicas: REPLICAS, load, results, baseline, rawKv, burstRatio: ratios.burstToDirectCreates, ratios, peakAnonBytes })}\n`,
  );
}

async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
