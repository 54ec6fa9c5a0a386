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
 * Start delay = the job's creation time - the run's scheduled time. The baseline, in the same
 * run, is creating N jobs straight through `JobRegistry.create` with the same concurrency.
 */
import { parseArgs } from 'node:util';
import { connectNats } from '@cairn/cluster';
import { SchedulerDaemon } from '@cairn/coordinator';
import { JobRegistry, JobStore, type Job } from '@cairn/jobs';
import { planCreateSchedule, scheduleIdGenerator, ScheduleStore, type BackupSchedule } from '@cairn/schedules';
import { parseOne, type CreateScheduleStatement } from '@cairn/sql';
import { startNatsServer } from '@cairn/testing';
import { positiveInt, procStatusBytes } from './lib/common.js';

const { values } = parseArgs({
  options: {
    schedules: { type: 'string' },
    'window-s': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write(
    [
      'usage: pnpm bench scheduler [--schedules N] [--window-s S]',
      '  --schedules  active schedules per phase (default 10000)',
      '  --window-s   spread phase: first runs spread over this many seconds (default 60)',
      '',
    ].join('\n'),
  );
  process.exit(0);
}
const N = positiveInt('schedules', values.schedules, 10_000);
const WINDOW_MS = positiveInt('window-s', values['window-s'], 60) * 1000;
const log = (line: string) => process.stderr.write(`${line}\n`);
const quiet = { info() {}, warn() {}, debug() {}, error() {} };

interface PhaseResult {
  phase: string;
  schedules: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The same, until the job's records were stored (its batch returned). */
  storedP50Ms: number;
  storedP99Ms: number;
  /** Coordinator (this process) CPU over the phase, as a share of one core. */
  cpuCores: number;
  rssMiB: number;
  heapMiB: number;
  /** Peak RssAnon of this process (the coordinator's scheduler, registry and stores), bytes. */
  peakAnonBytes: number;
  seconds: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const server = await startNatsServer();
  const nc = await connectNats(server.url, 'bench-scheduler');
  const results: PhaseResult[] = [];
  try {
    const t0 = Date.now() + 15_000 + N; // time to create the schedules first (about 1 ms each)
    results.push(await phase(nc, 'spread', (i) => t0 + Math.floor((i * WINDOW_MS) / N)));
    const t1 = Date.now() + 15_000 + N;
    results.push(await phase(nc, 'burst', () => t1));
    const baseline = await baselineCreates(nc);
    print(results, baseline);
  } finally {
    await nc.close();
    await server.stop();
  }
}

/** Creates N schedules due at `dueAt(i)`, runs the daemon until every one has run once. */
async function phase(nc: Awaited<ReturnType<typeof connectNats>>, name: string, dueAt: (i: number) => number): Promise<PhaseResult> {
  const tag = `${name}_${Date.now()}`;
  const store = await ScheduleStore.open(nc, { bucket: `bench_schedules_${tag}`, mirror: true });
  const jobs = new JobRegistry({ store: await JobStore.open(nc, { bucket: `bench_jobs_${tag}` }), coordinatorId: 'bench', logger: quiet, sweepIntervalMs: 0 });
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
  const finished = new Promise<void>((resolve) => (allDone = resolve));
  jobs.onTerminal((job) => {
    done.set(job.id, job);
    if (done.size === N) allDone();
  });
  const daemon = new SchedulerDaemon({
    store,
    jobs,
    startJobs: async (runs) => {
      const created = await jobs.createMany(
        runs.map(({ schedule, jobId }) => ({ id: jobId, type: 'BACKUP', description: `dry run of ${schedule.label}`, userName: 'root', scheduleId: schedule.id })),
      );
      // When each job's records were stored (a batch's jobs share their creation time).
      const at = Date.now();
      for (const r of created) if (!(r instanceof Error)) storedAt.set(r.id, at);
      return created.map((r) => (r instanceof Error ? r : undefined));
    },
    pollIntervalMs: () => 1000,
    isReady: () => true,
    log: quiet,
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
  const progress = setInterval(() => log(`${name}: ${done.size}/${N} runs done`), 5_000);
  await finished;
  clearInterval(progress);
  clearInterval(sampler);
  const cpu = process.cpuUsage(cpu0);
  const wallMs = Date.now() - wall0;
  daemon.stop();

  // Scheduled time per schedule (what the run was due at) against its job's creation.
  const scheduledAt = new Map(created.map((s) => [s.id, s.nextRunMs!]));
  const delays = [...done.values()].map((j) => j.spec.createdAtMs - scheduledAt.get(j.spec.scheduleId!)!).sort((a, b) => a - b);
  // Until the job's records were in the store: the batch that created it had returned.
  const storedDelays = [...done.values()].map((j) => (storedAt.get(j.id) ?? NaN) - scheduledAt.get(j.spec.scheduleId!)!).sort((a, b) => a - b);
  const runsPerSchedule = new Map<string, number>();
  for (const j of done.values()) runsPerSchedule.set(j.spec.scheduleId!, (runsPerSchedule.get(j.spec.scheduleId!) ?? 0) + 1);
  if (runsPerSchedule.size !== N || [...runsPerSchedule.values()].some((n) => n !== 1)) throw new Error(`${name}: expected one run per schedule`);
  // Let the daemon settle the last runs before the buckets go.
  await jobs.stop();
  return {
    phase: name,
    schedules: N,
    p50Ms: percentile(delays, 50),
    p99Ms: percentile(delays, 99),
    maxMs: delays[delays.length - 1]!,
    storedP50Ms: percentile(storedDelays, 50),
    storedP99Ms: percentile(storedDelays, 99),
    cpuCores: (cpu.user + cpu.system) / 1000 / (wallMs - Math.max(0, firstDue - wall0)),
    rssMiB: rss / 2 ** 20,
    heapMiB: heap / 2 ** 20,
    peakAnonBytes: anon,
    seconds: wallMs / 1000,
  };
}

/** N jobs created straight through the registry, 16 at a time, one `create` each. */
async function baselineCreates(nc: Awaited<ReturnType<typeof connectNats>>): Promise<{ seconds: number; perSecond: number }> {
  const tag = `baseline_${Date.now()}`;
  const jobs = new JobRegistry({ store: await JobStore.open(nc, { bucket: `bench_jobs_${tag}` }), coordinatorId: 'bench', logger: quiet, sweepIntervalMs: 0 });
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

function print(results: PhaseResult[], baseline: { seconds: number; perSecond: number }): void {
  const rows = results.map((r) => [
    r.phase,
    String(r.schedules),
    r.p50Ms.toFixed(0),
    r.p99Ms.toFixed(0),
    r.maxMs.toFixed(0),
    r.storedP50Ms.toFixed(0),
    r.storedP99Ms.toFixed(0),
    r.cpuCores.toFixed(2),
    r.rssMiB.toFixed(0),
    r.heapMiB.toFixed(0),
    r.seconds.toFixed(1),
  ]);
  const header = ['phase', 'schedules', 'p50 ms', 'p99 ms', 'max ms', 'stored p50 ms', 'stored p99 ms', 'cpu cores', 'peak rss MiB', 'peak heap MiB', 'seconds'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  process.stdout.write(`${line(header)}\n${rows.map(line).join('\n')}\n`);
  const burst = results.find((r) => r.phase === 'burst')!;
  const burstRate = burst.schedules / (burst.maxMs / 1000);
  process.stdout.write(
    `baseline: ${N} jobs created directly in ${baseline.seconds.toFixed(1)} s (${baseline.perSecond.toFixed(0)}/s); ` +
      `burst started ${burstRate.toFixed(0)} runs/s = ${(burstRate / baseline.perSecond).toFixed(2)} of it\n`,
  );
  const peakAnonBytes = Math.max(...results.map((r) => r.peakAnonBytes));
  const ratios = { burstToDirectCreates: burstRate / baseline.perSecond };
  process.stdout.write(`${JSON.stringify({ bench: 'scheduler', results, baseline, burstRatio: ratios.burstToDirectCreates, ratios, peakAnonBytes })}\n`);
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
