/**
 * Helpers shared by the backup and restore benchmarks (not a benchmark itself: scripts/bench.mjs
 * lists only the top-level `bench/*.ts`). They follow load.ts: a fresh cluster in a mkdtemp dir,
 * stopped once whoever asks first, progress on stderr, a table then one JSON line on stdout.
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { lstat, mkdtemp, readdir, rm } from 'node:fs/promises';
import { constants as osConstants, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRowKey, encodeRowValue, type Datum } from '@cairn/catalog';
import { initBank, startLocalCluster, type LocalCluster } from '@cairn/cli';
import { CairnClient } from '@cairn/client';
import { MvccStore } from '@cairn/mvcc';
import { ColumnType, DescriptorState, ObjectKind, TableDescriptor } from '@cairn/proto';
import { freePort } from '@cairn/testing';

export const NODES = 3;
/** MB as 10^6 bytes, the unit storage throughput is usually quoted in. */
export const MB = 1e6;
/** Row data per row as initBank counts it: 8-byte id + 8-byte balance, plus the payload. */
export const FIXED_ROW_BYTES = 16;
/** initBank's starting balance (not exported by @cairn/cli). */
export const INITIAL_BALANCE = 1000;

/** The options backup.ts and restore.ts share. */
export interface BankOptions {
  /** Logical MB (10^6 bytes) of bank row data to load. */
  mb: number;
  payloadBytes: number;
  /** kv.range.max_bytes while the benchmark runs, e.g. '16MiB'. */
  rangeMax: string;
  /** Derived: mb * 10^6 / (payload + 16), rounded down. */
  rows: number;
}

export const BANK_FLAGS = {
  mb: { type: 'string' },
  'payload-bytes': { type: 'string' },
  'range-max': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const BANK_FLAGS_HELP = [
  '  --mb             logical MB (10^6 bytes) of bank row data to load (default 128; the issue figure is 1024)',
  '  --payload-bytes  payload string length per row (default 1000)',
  "  --range-max      kv.range.max_bytes, so the table splits into ranges spread over the nodes (default '16MiB')",
];

export function positiveInt(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer, got "${text}"`);
  return n;
}

export function bankOptions(values: { mb?: string | undefined; 'payload-bytes'?: string | undefined; 'range-max'?: string | undefined }): BankOptions {
  const mb = positiveInt('mb', values.mb, 128);
  const payloadBytes = positiveInt('payload-bytes', values['payload-bytes'], 1000);
  const rangeMax = values['range-max'] ?? '16MiB';
  // The setting's own parser judges the value; this only keeps it a plain size literal.
  if (!/^\d+(\.\d+)?\s*[KMGT]?i?B?$/i.test(rangeMax)) throw new Error(`--range-max must be a size like 16MiB, got "${rangeMax}"`);
  const rows = Math.floor((mb * MB) / (payloadBytes + FIXED_ROW_BYTES));
  if (rows < 1) throw new Error(`--mb ${mb} holds no ${payloadBytes}-byte rows`);
  return { mb, payloadBytes, rangeMax, rows };
}

/** Warns when other work shares the cores; returns the 1-minute load average for the JSON. */
export function warnIfBusy(): number | undefined {
  const [load1] = loadavg();
  if (load1 !== undefined && load1 > cpus().length / 2) {
    process.stderr.write(`warning: load average ${load1.toFixed(2)} on ${cpus().length} cores: the figures will be noisy\n`);
  }
  return load1;
}

/**
 * CPU-s per GiB this process spends on the first write to memory it has just mapped (one byte
 * per page of 256 MiB): the kernel's faults and zeroing, and on a VM whose host backs guest
 * memory lazily the host's faults too (0.5-0.9 here in docs/throughput.md's seventh pass, where
 * new page-cache pages cost 1.4-3 per GiB written). The cluster's processes pay it for every
 * new page, of their heaps, LMDB's map or the page cache; the single-process baselines much
 * less: read a ratio that moved between machines beside this figure.
 */
export function freshPageCpuSecondsPerGiB(mib = 256): number {
  const before = process.cpuUsage();
  const fresh = Buffer.allocUnsafeSlow(mib * 2 ** 20);
  for (let at = 0; at < fresh.length; at += 4096) fresh[at] = 1;
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6 / (mib / 1024);
}

/** Progress on stderr about every 10%, so stdout holds only the results. */
export function progress(label: string, total: number): (done: number) => void {
  const started = performance.now();
  let nextReport = total / 10;
  return (done) => {
    if (done < nextReport && done < total) return;
    while (nextReport <= done) nextReport += total / 10;
    const s = (performance.now() - started) / 1000;
    process.stderr.write(`  ${label}: ${done}/${total} rows, ${s.toFixed(1)} s, ${Math.round(done / s)} rows/s\n`);
  };
}

export function say(line: string): void {
  process.stderr.write(line + '\n');
}

export const seconds = (since: number): number => (performance.now() - since) / 1000;

/**
 * Microseconds on CLOCK_MONOTONIC, the clock V8 stamps `--cpu-prof` profiles with, so the
 * JSON's phase marks cut a cluster process's profile into phases
 * (`node scripts/cpuprofile-top.mjs <profile> --from <start> --to <end>`).
 */
export const monotonicMicros = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * Runs `fn` and records its start and end in `marks[name]` (monotonic microseconds), and,
 * given a CpuMeter, every cluster process's CPU time over the phase in `cpu.byPhase[name]`.
 */
export async function marked<T>(marks: Record<string, { start: number; end: number }>, name: string, fn: () => Promise<T>, cpu?: CpuMeter): Promise<T> {
  const start = monotonicMicros();
  const before = cpu?.snapshot();
  try {
    return await fn();
  } finally {
    marks[name] = { start, end: monotonicMicros() };
    if (cpu !== undefined && before !== undefined) cpu.byPhase[name] = cpu.since(before, (marks[name].end - start) / 1e6);
  }
}

/** CPU seconds (user + system, every thread) of each process over one phase. */
export interface PhaseCpu {
  wallSeconds: number;
  /** By process name (`nats-server`, `coordinator-1`, `node-1`, ..., and `bench`: this client). */
  seconds: Record<string, number>;
  /**
   * Of `seconds`, what each process's main thread spent (its JavaScript, and the garbage
   * collector's pauses); the rest is its other threads: V8's concurrent GC workers, libuv's
   * pool (file I/O, zstd-napi runs on the main thread), LMDB's write thread.
   */
  mainThreadSeconds: Record<string, number>;
  totalSeconds: number;
  /** totalSeconds ÷ wallSeconds: cores kept busy on average (the machine has cpus().length). */
  cores: number;
}

/**
 * utime + stime in seconds from /proc/<pid>/stat (every thread of the process), or of one
 * thread from /proc/<pid>/task/<tid>/stat; undefined once it is gone.
 */
export function procCpuSeconds(pid: number, tid?: number): number | undefined {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: state is
    // field 3, utime 14 and stime 15 (proc(5)), so 11 and 12 here.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;

/**
 * The processes whose CPU time a benchmark accounts: the cluster's coordinator and nodes,
 * the nats-server(s) (grandchildren through start-local's guard, found by their config file
 * under the cluster's data dir) and this process, the client.
 */
export class CpuMeter {
  readonly byPhase: Record<string, PhaseCpu> = {};
  private constructor(private readonly procs: Array<{ name: string; pid: number }>) {}

  static forCluster(cluster: LocalCluster, dataDir: string): CpuMeter {
    const procs = cluster.processes.filter((p) => p.child.pid !== undefined).map((p) => ({ name: p.name, pid: p.child.pid! }));
    const natsConfigDir = join(dataDir, 'nats-config') + '/';
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let argv: string[];
      try {
        argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      } catch {
        continue;
      }
      if (argv[0]?.endsWith('nats-server') && argv.some((a) => a.startsWith(natsConfigDir))) procs.push({ name: 'nats-server', pid: Number(entry) });
    }
    if (!procs.some((p) => p.name === 'nats-server')) say('warning: no nats-server found under the cluster data dir: its CPU time is not accounted');
    return new CpuMeter(procs);
  }

  /** Each process's CPU seconds by name, and its main thread's (the thread whose id is the pid) as `<name>/main`. */
  snapshot(): Map<string, number> {
    const out = new Map<string, number>();
    for (const p of this.procs) {
      out.set(p.name, procCpuSeconds(p.pid) ?? NaN);
      out.set(`${p.name}/main`, procCpuSeconds(p.pid, p.pid) ?? NaN);
    }
    const own = process.cpuUsage();
    out.set('bench', (own.user + own.system) / 1e6);
    return out;
  }

  since(before: Map<string, number>, wallSeconds: number): PhaseCpu {
    const now = this.snapshot();
    const seconds: Record<string, number> = {};
    const mainThreadSeconds: Record<string, number> = {};
    for (const [name, t] of now) {
      const d = Math.round((t - (before.get(name) ?? NaN)) * 100) / 100;
      if (name.endsWith('/main')) mainThreadSeconds[name.slice(0, -'/main'.length)] = d;
      else seconds[name] = d;
    }
    const totalSeconds = Math.round(Object.values(seconds).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0) * 100) / 100;
    return { wallSeconds, seconds, mainThreadSeconds, totalSeconds, cores: totalSeconds / wallSeconds };
  }
}

/** CPU seconds per GiB (2^30 bytes) of `bytes`, by process and in total, for one phase. */
export function cpuSecondsPerGiB(cpu: PhaseCpu | undefined, bytes: number): Record<string, number> | undefined {
  if (cpu === undefined || bytes <= 0) return undefined;
  const gib = bytes / 2 ** 30;
  const out: Record<string, number> = {};
  for (const [name, s] of Object.entries(cpu.seconds)) out[name] = Math.round((s / gib) * 100) / 100;
  out['total'] = Math.round((cpu.totalSeconds / gib) * 100) / 100;
  return out;
}

/** One line per phase: wall seconds, cores and each process's CPU seconds (its main thread's in brackets). */
export function cpuTable(byPhase: Record<string, PhaseCpu>): string {
  const names = [...new Set(Object.values(byPhase).flatMap((p) => Object.keys(p.seconds)))];
  const cell = (p: PhaseCpu, n: string): string => {
    const main = p.mainThreadSeconds[n];
    return `${(p.seconds[n] ?? NaN).toFixed(1)}${main === undefined ? '' : ` (${main.toFixed(1)})`}`;
  };
  return formatTable([
    ['phase', 'wall s', 'cores', 'CPU s total', ...names.map((n) => (n === 'bench' ? n : `${n} (main)`))],
    ...Object.entries(byPhase).map(([phase, p]) => [phase, p.wallSeconds.toFixed(1), p.cores.toFixed(2), p.totalSeconds.toFixed(1), ...names.map((n) => cell(p, n))]),
  ]);
}

/** Set CAIRN_KEEP_TEMP=1 to keep the cluster's stores and logs, as with @cairn/testing. */
export function keepTemp(): boolean {
  const v = process.env['CAIRN_KEEP_TEMP'];
  return v !== undefined && v !== '' && v !== '0';
}

let clusterDir: string | undefined;
let clusterStarting: Promise<LocalCluster> | undefined;
let clusterStopped: Promise<void> | undefined;
const extraDirs: string[] = [];

/** A temp dir that cleanup() removes (unless CAIRN_KEEP_TEMP is set). */
export async function scratchDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  extraDirs.push(dir);
  return dir;
}

/**
 * Stops the cluster (waiting for it to finish starting, if need be) and then removes its
 * directory, once, whoever asks first. start-local's processes run in their own process
 * groups, so nothing else stops them when this process ends.
 */
export function stopCluster(): Promise<void> {
  clusterStopped ??= (async () => {
    const cluster = await clusterStarting?.catch(() => undefined);
    await cluster?.stop();
    if (clusterDir === undefined) return;
    if (keepTemp()) say(`kept ${clusterDir}`);
    else await rm(clusterDir, { recursive: true, force: true });
  })();
  return clusterStopped;
}

/** Stops the cluster and removes every scratch dir (again and again: new ones may appear). */
export async function cleanup(): Promise<void> {
  await stopCluster();
  for (const dir of extraDirs.splice(0)) {
    if (keepTemp()) say(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

/** Ctrl-C / SIGTERM stop the cluster first; a second signal exits at once. */
export function installSignalHandlers(): void {
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) process.exit(128 + osConstants.signals[signal]);
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping the cluster (again to exit at once)...\n`);
    void cleanup().finally(() => process.exit(128 + osConstants.signals[signal]));
  };
  // `on`, not `once`: @cairn/testing re-raises a signal when no other listener is left.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

export interface StartedCluster {
  cluster: LocalCluster;
  dataDir: string;
  client: CairnClient;
  startSeconds: number;
}

/** Starts a fresh cluster in a temp dir (not @cairn/testing's tempDir: see load.ts). */
export async function startCluster(prefix: string): Promise<StartedCluster> {
  clusterDir = await mkdtemp(join(tmpdir(), prefix));
  const dataDir = clusterDir;
  const listenAddr = `127.0.0.1:${await freePort()}`;
  const httpAddr = `127.0.0.1:${await freePort()}`;
  // Checked and set in one turn of the event loop, so a stop can never miss a started cluster.
  if (clusterStopped !== undefined) throw new Error('interrupted');
  const startedAt = performance.now();
  // CAIRN_BENCH_CLUSTER_NODE_OPTIONS reaches the cluster's processes only (not this one), e.g.
  // `--heapsnapshot-near-heap-limit=1 --max-old-space-size=160` to see what a process holds.
  const clusterNodeOptions = process.env['CAIRN_BENCH_CLUSTER_NODE_OPTIONS'];
  const ownNodeOptions = process.env['NODE_OPTIONS'];
  if (clusterNodeOptions !== undefined) process.env['NODE_OPTIONS'] = clusterNodeOptions;
  clusterStarting = startLocalCluster({ nodes: NODES, dataDir, listenAddr, httpAddr, log: (line) => say(`  ${line}`) });
  const cluster = await clusterStarting.finally(() => {
    if (ownNodeOptions === undefined) delete process.env['NODE_OPTIONS'];
    else process.env['NODE_OPTIONS'] = ownNodeOptions;
  });
  const client = new CairnClient({ addresses: [cluster.grpcAddress] });
  return { cluster, dataDir, client, startSeconds: seconds(startedAt) };
}

export interface LoadFigures {
  rows: number;
  /** Row data as initBank counts it (see FIXED_ROW_BYTES). */
  bytes: number;
  seconds: number;
  mbPerSecond: number;
}

/** initBank with its defaults (what `cairn workload init bank` runs), then a row count check. */
export async function loadBank(client: CairnClient, o: BankOptions): Promise<LoadFigures> {
  say(`loading bank: ${o.rows} rows of ${o.payloadBytes}-byte payloads (${o.mb} MB of row data)...`);
  const stats = await initBank(client, { rows: o.rows, payloadBytes: o.payloadBytes, onProgress: progress('load', o.rows) });
  // Retried (and said so): right after a large load, while the leader splits ranges, a read
  // can fail with "no replica of range N answered: node M holds no replica with the rows of the requested
  // span" (seen at --mb 1024; a cluster bug, reported, not this benchmark's to measure).
  let counted: string | null | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      counted = (await client.execute('SELECT count(*) FROM bank.bank')).rows[0]?.[0];
      break;
    } catch (err) {
      if (attempt >= 3) throw err;
      say(`warning: SELECT count(*) failed (${err instanceof Error ? err.message : String(err)}); retrying in 5 s`);
      await new Promise((r) => setTimeout(r, 5000));
    }
  }
  if (Number(counted) !== o.rows) throw new Error(`bank.bank has ${String(counted)} rows after loading ${o.rows}`);
  return { ...stats, mbPerSecond: stats.bytes / MB / stats.seconds };
}

export async function rangeCount(client: CairnClient): Promise<number> {
  return (await client.execute('SHOW RANGES FROM TABLE bank.bank')).rows.length;
}

/**
 * Sets kv.range.max_bytes and waits for the leader's size check (every ~10 s; each check
 * halves every range above the limit) to split bank.bank into at least 3 ranges, at most
 * 30 s; then, so that no split lands in the middle of a timed phase, until the count has
 * held for one check interval (12 s), at most 90 s more.
 */
export async function splitRanges(client: CairnClient, rangeMax: string): Promise<{ ranges: number; seconds: number }> {
  await client.execute(`SET CLUSTER SETTING kv.range.max_bytes = '${rangeMax}'`);
  const started = performance.now();
  let ranges = await rangeCount(client);
  say(`kv.range.max_bytes = '${rangeMax}': waiting for bank.bank to split (${ranges} range${ranges === 1 ? '' : 's'})...`);
  while (ranges < 3 && seconds(started) < 30) {
    await new Promise((r) => setTimeout(r, 1000));
    const n = await rangeCount(client);
    if (n !== ranges) say(`  ${n} ranges after ${seconds(started).toFixed(0)} s`);
    ranges = n;
  }
  if (ranges < 3) {
    say(`  still ${ranges} range(s) after 30 s: going on`);
    return { ranges, seconds: seconds(started) };
  }
  let stableSince = performance.now();
  const settleStarted = performance.now();
  while (seconds(stableSince) < 12 && seconds(settleStarted) < 90) {
    await new Promise((r) => setTimeout(r, 1000));
    const n = await rangeCount(client);
    if (n !== ranges) {
      say(`  ${n} ranges after ${seconds(started).toFixed(0)} s`);
      ranges = n;
      stableSince = performance.now();
    }
  }
  say(`  ${ranges} ranges, steady, after ${seconds(started).toFixed(0)} s`);
  return { ranges, seconds: seconds(started) };
}

/** The table's fingerprints of a database, as `table=fingerprint` pairs in table order. */
export async function fingerprints(client: CairnClient, database: string): Promise<string> {
  const r = await client.execute(`SHOW FINGERPRINTS FROM DATABASE ${database}`);
  return r.rows.map((row) => `${row[0] ?? ''}=${row[1] ?? ''}`).join(',');
}

const LOCAL_REGIONS = ['us-east1', 'us-west1', 'eu-west1'];

export type CollectionKind = 'nodelocal' | 'file' | 'locality';
export const COLLECTION_KINDS: readonly CollectionKind[] = ['nodelocal', 'file', 'locality'];

/** A collection as a statement names it (`sql`), its label, and the directories its files land in. */
export interface BenchCollection {
  readonly kind: CollectionKind;
  readonly sql: string;
  readonly label: string;
  readonly dirs: string[];
}

/**
 * Where the backup goes, and the directories its files land in:
 * - nodelocal: `nodelocal://1/…`, every file written through node 1;
 * - file: `file://` on one directory every node shares (here: the same machine);
 * - locality: CockroachDB's locality-aware form, each node to its own `nodelocal://<n>/…` (the
 *   default URI is node 1's), as `start-local` gives node n the n-th region.
 */
export function collectionFor(kind: CollectionKind, dataDir: string, path: string): BenchCollection {
  if (kind === 'nodelocal') {
    return { kind, sql: `'nodelocal://1/${path}'`, label: 'nodelocal://1', dirs: [join(dataDir, 'node-1', 'extern', path)] };
  }
  if (kind === 'file') {
    const dir = join(dataDir, 'shared', path);
    return { kind, sql: `'file://${dir}'`, label: 'file:// (shared dir)', dirs: [dir] };
  }
  const uris = [`'nodelocal://1/${path}?COCKROACH_LOCALITY=default'`];
  const dirs = [join(dataDir, 'node-1', 'extern', path)];
  for (let n = 1; n <= NODES; n++) {
    uris.push(`'nodelocal://${n}/${path}-${n}?COCKROACH_LOCALITY=region%3D${LOCAL_REGIONS[(n - 1) % LOCAL_REGIONS.length]!}'`);
    dirs.push(join(dataDir, `node-${n}`, 'extern', `${path}-${n}`));
  }
  return { kind, sql: `(${uris.join(', ')})`, label: 'locality-aware nodelocal', dirs };
}

/** `diskUsage` summed over `dirs` (a missing one counts nothing). */
export async function diskUsageOf(dirs: string[]): Promise<{ bytes: number; allocated: number; files: number }> {
  const total = { bytes: 0, allocated: 0, files: 0 };
  for (const d of dirs) {
    const u = await diskUsage(d).catch(() => ({ bytes: 0, allocated: 0, files: 0 }));
    total.bytes += u.bytes;
    total.allocated += u.allocated;
    total.files += u.files;
  }
  return total;
}

/** The first row of a BACKUP/RESTORE result by column name. */
export function resultRow(r: { columns: string[]; rows: (string | null)[][] }): Record<string, string | null> {
  const row = r.rows[0] ?? [];
  return Object.fromEntries(r.columns.map((c, i) => [c, row[i] ?? null]));
}

/** Bytes on disk under `path` (allocated blocks, as `du` counts them; files' sizes as well). */
export async function diskUsage(path: string): Promise<{ bytes: number; allocated: number; files: number }> {
  const st = await lstat(path);
  if (!st.isDirectory()) return { bytes: st.size, allocated: st.blocks * 512, files: 1 };
  const total = { bytes: 0, allocated: st.blocks * 512, files: 0 };
  for (const e of await readdir(path)) {
    const sub = await diskUsage(join(path, e));
    total.bytes += sub.bytes;
    total.allocated += sub.allocated;
    total.files += sub.files;
  }
  return total;
}

export interface ProcessMemory {
  name: string;
  pid: number;
  /** VmRSS when sampling started, bytes. */
  rssStart: number;
  /** Largest VmRSS seen during the sampling (every 200 ms), bytes. */
  rssPeak: number;
  /**
   * RssAnon at the start and its largest sample: the heap and other private memory. VmRSS also
   * counts LMDB's memory-mapped pages a process has touched (RssFile), which grow with the
   * data read or written and are page cache the kernel can drop, not the process's own.
   */
  anonStart: number;
  anonPeak: number;
  /** VmHWM when sampling stopped: the peak over the process's whole life, load included. */
  hwm: number;
}

export function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon'): number | undefined {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Samples the cluster processes' VmRSS every 200 ms until stopped. VmHWM cannot be reset, so
 * the peak during one phase is the largest sample; VmHWM is reported beside it.
 */
export function sampleMemory(cluster: LocalCluster): { stop(): ProcessMemory[] } {
  const procs = cluster.processes.filter((p) => p.child.pid !== undefined);
  const stats: ProcessMemory[] = procs.map((p) => {
    const rss = procStatusBytes(p.child.pid!, 'VmRSS') ?? 0;
    const anon = procStatusBytes(p.child.pid!, 'RssAnon') ?? 0;
    return { name: p.name, pid: p.child.pid!, rssStart: rss, rssPeak: rss, anonStart: anon, anonPeak: anon, hwm: 0 };
  });
  const sample = (): void => {
    for (const s of stats) {
      s.rssPeak = Math.max(s.rssPeak, procStatusBytes(s.pid, 'VmRSS') ?? 0);
      s.anonPeak = Math.max(s.anonPeak, procStatusBytes(s.pid, 'RssAnon') ?? 0);
    }
  };
  const timer = setInterval(sample, 200);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      for (const s of stats) s.hwm = procStatusBytes(s.pid, 'VmHWM') ?? 0;
      return stats;
    },
  };
}

/** Runs a command to the end; rejects on a non-zero exit with its stderr. */
export function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => reject(new Error(`cannot run ${cmd}: ${err.message}`)));
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${signal ?? code}: ${stderr.trim()}`)),
    );
  });
}

/** Right-aligned columns but the first, as load.ts prints them. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
}

export const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(0);

export function memoryTable(mem: ProcessMemory[]): string {
  return formatTable([
    ['process', 'pid', 'RSS before MiB', 'peak RSS during MiB', 'anon before MiB', 'peak anon during MiB', 'VmHWM (lifetime) MiB'],
    ...mem.map((m) => [m.name, String(m.pid), mib(m.rssStart), mib(m.rssPeak), mib(m.anonStart), mib(m.anonPeak), mib(m.hwm)]),
  ]);
}

export { cpus };

/**
 * The memory figures every benchmark's JSON carries, over one or more sampled phases:
 * `peakAnonBytes` is the largest RssAnon of any cluster process (coordinator and nats-server
 * included), beside the largest node and coordinator peaks.
 */
export function memoryPeaks(...phases: ProcessMemory[][]): {
  peakAnonBytes: number;
  peakNodeAnonBytes: number;
  peakCoordinatorAnonBytes: number;
  peakNodeRssBytes: number;
} {
  const all = phases.flat();
  const max = (xs: number[]) => (xs.length === 0 ? 0 : Math.max(...xs));
  return {
    peakAnonBytes: max(all.map((m) => m.anonPeak)),
    peakNodeAnonBytes: max(all.filter((m) => m.name.startsWith('node')).map((m) => m.anonPeak)),
    peakCoordinatorAnonBytes: max(all.filter((m) => m.name.startsWith('coordinator')).map((m) => m.anonPeak)),
    peakNodeRssBytes: max(all.filter((m) => m.name.startsWith('node')).map((m) => m.rssPeak)),
  };
}

/** initBank's default batch: as many rows as fit in ~256 kB of SQL, at most 1000. */
export function defaultBatchSize(payloadBytes: number): number {
  return Math.max(1, Math.min(1000, Math.floor(256_000 / (payloadBytes + 40))));
}

/**
 * bank.bank as initBank's CREATE TABLE describes it. The ids are those of the first user
 * objects (database 100, table 101); the cluster's may differ, but any table id below 256
 * encodes in the same two key bytes, so keys and values have the cluster's sizes.
 */
function bankDescriptor(): TableDescriptor {
  return TableDescriptor.fromPartial({
    id: 101,
    name: 'bank',
    parentId: 100,
    kind: ObjectKind.TABLE,
    columns: [
      { id: 1, name: 'id', type: ColumnType.INT, nullable: false },
      { id: 2, name: 'balance', type: ColumnType.INT, nullable: false },
      { id: 3, name: 'payload', type: ColumnType.STRING, nullable: true },
    ],
    primaryKey: ['id'],
    state: DescriptorState.PUBLIC,
    nextColumnId: 4,
  });
}

export interface RawLmdbLoad {
  rows: number;
  /** Row data as initBank counts it (see FIXED_ROW_BYTES). */
  bytes: number;
  kvBytes: number;
  seconds: number;
  encodeSeconds: number;
  putSeconds: number;
}

/**
 * The storage engine alone: the bank rows encoded with the catalog's row codec and written to
 * one fresh MvccStore in `dir` by this process, one applyBatch per batch, one batch after
 * another, as a replica's apply loop writes a log entry. The payloads (random hex, as
 * initBank draws them) are drawn before the clock starts.
 */
export async function loadRawLmdb(dir: string, rows: number, payloadBytes: number, batchSize: number, onProgress?: (done: number) => void): Promise<RawLmdbLoad> {
  const table = bankDescriptor();
  const payloads = Array.from({ length: rows }, () => randomBytes(Math.ceil(payloadBytes / 2)).toString('hex').slice(0, payloadBytes));
  const store = await MvccStore.open(dir);
  let bytes = 0;
  let kvBytes = 0;
  let encodeMs = 0;
  let putMs = 0;
  // Timestamps grow batch by batch, as they do along the log.
  let ts = BigInt(Date.now()) * 1_000_000n;
  try {
    const started = performance.now();
    for (let from = 0; from < rows; from += batchSize) {
      const to = Math.min(rows, from + batchSize);
      const encodeStarted = performance.now();
      const ops: Array<{ key: Uint8Array; value: Uint8Array }> = [];
      for (let id = from; id < to; id++) {
        const p = payloads[id]!;
        const row: Datum[] = [BigInt(id), BigInt(INITIAL_BALANCE), p];
        const key = encodeRowKey(table, row);
        const value = encodeRowValue(table, row);
        ops.push({ key, value });
        bytes += FIXED_ROW_BYTES + p.length;
        kvBytes += key.length + value.length;
      }
      const putStarted = performance.now();
      encodeMs += putStarted - encodeStarted;
      await store.applyBatch(ops, ts++);
      putMs += performance.now() - putStarted;
      onProgress?.(to);
    }
    // Every batch was awaited (committed), so closing adds nothing to measure.
    return { rows, bytes, kvBytes, seconds: (performance.now() - started) / 1000, encodeSeconds: encodeMs / 1000, putSeconds: putMs / 1000 };
  } finally {
    await store.close();
  }
}
