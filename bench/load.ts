/**
 * Bank rows/s and MB/s loaded into a fresh 3-node local cluster, next to raw LMDB batched puts.
 *
 * Both sides load the same rows (ids 0..rows-1, balance 1000, a random hex payload of
 * `--payload-bytes`) in batches of the same size. The cluster side is `initBank` (what
 * `cairn workload init bank` runs): rows encoded client-side and sent as key/value batches
 * over gRPC (like IMPORT), `--concurrency` in flight, each appended to the JetStream log and applied
 * by 3 replicas. Its clock runs from the first statement until the last is acknowledged; the
 * replicas stay within about one log entry of the log during a load, so that is also when all
 * three hold the rows. The raw side, run after the cluster has stopped, encodes the same rows
 * with the catalog's row codec and writes each batch with one `MvccStore.applyBatch`, one
 * batch after another as a replica's apply loop does, in this process. Their ratio is what
 * SQL, gRPC, the log and three replicas cost over the storage engine alone.
 *
 * Prints a table, then one JSON line with every figure as the last line of stdout.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { constants as osConstants, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { initBank, startLocalCluster, type LocalCluster } from '@cairn/cli';
import { CairnClient } from '@cairn/client';
import { freePort, tempDir } from '@cairn/testing';
import { freshPageCpuSecondsPerGiB, loadRawLmdb, memoryPeaks, memoryTable, sampleMemory, type ProcessMemory } from './lib/common.js';

const NODES = 3;
/** MB as 10^6 bytes, the unit storage throughput is usually quoted in. */
const MB = 1e6;

const CLUSTER_LABEL = `cairn ${NODES}-node cluster (encoded row batches via gRPC → JetStream log → ${NODES} replicas)`;
const RAW_LABEL = 'raw LMDB batched puts (1 process)';

interface Options {
  rows: number;
  payloadBytes: number;
  concurrency: number;
  batchSize: number;
  /** kv.range.max_bytes set before the load (undefined: the cluster's default). */
  rangeMax: string | undefined;
}

interface Measured {
  rows: number;
  /** Row data as initBank counts it (8-byte id + 8-byte balance + payload). */
  bytes: number;
  seconds: number;
}

function positiveInt(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer, got "${text}"`);
  return n;
}

/** initBank's default batch: as many rows as fit in ~256 kB of SQL, at most 1000. */
function defaultBatchSize(payloadBytes: number): number {
  return Math.max(1, Math.min(1000, Math.floor(256_000 / (payloadBytes + 40))));
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      rows: { type: 'string' },
      'payload-bytes': { type: 'string' },
      concurrency: { type: 'string' },
      'batch-size': { type: 'string' },
      'range-max': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    process.stdout.write(
      [
        'usage: pnpm bench load [--rows N] [--payload-bytes N] [--concurrency N] [--batch-size N] [--range-max SIZE]',
        '  --rows           bank rows to load (default 200000)',
        '  --payload-bytes  payload string length per row (default 100)',
        '  --concurrency    statements in flight (default 4)',
        "  --batch-size     rows per statement and per LMDB batch (default: initBank's, 1000 at 100-byte payloads)",
        "  --range-max      kv.range.max_bytes set before the load, e.g. '4MiB', to see whether splits keep up (default: the cluster's)",
        '',
      ].join('\n'),
    );
    return undefined;
  }
  const payloadBytes = positiveInt('payload-bytes', values['payload-bytes'], 100);
  return {
    rows: positiveInt('rows', values.rows, 200_000),
    payloadBytes,
    concurrency: positiveInt('concurrency', values.concurrency, 4),
    batchSize: positiveInt('batch-size', values['batch-size'], defaultBatchSize(payloadBytes)),
    rangeMax: values['range-max'],
  };
}

/** Progress on stderr about every 10%, so stdout holds only the results. */
function progress(label: string, total: number): (done: number) => void {
  const started = performance.now();
  let nextReport = total / 10;
  return (done) => {
    if (done < nextReport && done < total) return;
    while (nextReport <= done) nextReport += total / 10;
    const s = (performance.now() - started) / 1000;
    process.stderr.write(`  ${label}: ${done}/${total} rows, ${s.toFixed(1)} s, ${Math.round(done / s)} rows/s\n`);
  };
}

/** The storage engine alone (see `loadRawLmdb`), with this benchmark's batch size. */
async function loadRaw(dir: string, o: Options): Promise<Measured & { kvBytes: number; encodeSeconds: number; putSeconds: number }> {
  return loadRawLmdb(dir, o.rows, o.payloadBytes, o.batchSize, progress('raw', o.rows));
}

let clusterDir: string | undefined;
let clusterStarting: Promise<LocalCluster> | undefined;
let clusterStopped: Promise<void> | undefined;

/** Set CAIRN_KEEP_TEMP=1 to keep the cluster's stores and logs, as with @cairn/testing. */
function keepTemp(): boolean {
  const v = process.env['CAIRN_KEEP_TEMP'];
  return v !== undefined && v !== '' && v !== '0';
}

/**
 * Stops the cluster (waiting for it to finish starting, if need be) and then removes its
 * directory, once, whoever asks first. start-local's processes run in their own process
 * groups, so nothing else stops them when this process ends.
 */
function stopCluster(): Promise<void> {
  clusterStopped ??= (async () => {
    const cluster = await clusterStarting?.catch(() => undefined);
    await cluster?.stop();
    if (clusterDir !== undefined && !keepTemp()) await rm(clusterDir, { recursive: true, force: true });
  })();
  return clusterStopped;
}

/** Starts a fresh cluster in a temp dir, runs initBank against it and checks the row count. */
async function loadCluster(
  o: Options,
): Promise<
  Measured & { startSeconds: number; verifySeconds: number; recountSeconds: number; rangesAtLoadEnd: number; rangesAfter: number; memory: ProcessMemory[] }
> {
  // Not @cairn/testing's tempDir: its signal handler deletes its dirs at once, under the
  // cluster's still-running processes, while this process stops them in order.
  clusterDir = await mkdtemp(join(tmpdir(), 'cairn-bench-load-'));
  const listenAddr = `127.0.0.1:${await freePort()}`;
  const httpAddr = `127.0.0.1:${await freePort()}`;
  // Checked and set in one turn of the event loop, so a stop can never miss a started cluster.
  if (clusterStopped !== undefined) throw new Error('interrupted');
  const startedAt = performance.now();
  clusterStarting = startLocalCluster({
    nodes: NODES,
    dataDir: clusterDir,
    listenAddr,
    httpAddr,
    log: (line) => process.stderr.write(`  ${line}\n`),
  });
  const cluster = await clusterStarting;
  const startSeconds = (performance.now() - startedAt) / 1000;
  const client = new CairnClient({ addresses: [cluster.grpcAddress] });
  try {
    if (o.rangeMax !== undefined) await client.execute(`SET CLUSTER SETTING kv.range.max_bytes = '${o.rangeMax}'`);
    const sampler = sampleMemory(cluster);
    let stats;
    let memory: ProcessMemory[];
    try {
      stats = await initBank(client, {
        rows: o.rows,
        payloadBytes: o.payloadBytes,
        concurrency: o.concurrency,
        batchSize: o.batchSize,
        onProgress: progress('cluster', o.rows),
      });
    } finally {
      memory = sampler.stop();
    }
    // How far the size-based splits kept up: the table's ranges as the load ends, and once
    // the count is read.
    const rangesAtLoadEnd = (await client.execute('SHOW RANGES FROM TABLE bank.bank')).rows.length;
    // A wrong count would make every figure meaningless; reading it also waits for a replica
    // to have applied the whole load (and meets whatever splitting is still going on).
    const verifyStarted = performance.now();
    const counted = (await client.execute('SELECT count(*) FROM bank.bank')).rows[0]?.[0];
    if (Number(counted) !== o.rows) throw new Error(`bank.bank has ${String(counted)} rows after loading ${o.rows}`);
    const verifySeconds = (performance.now() - verifyStarted) / 1000;
    const rangesAfter = (await client.execute('SHOW RANGES FROM TABLE bank.bank')).rows.length;
    // The same count again, on a settled cluster: the first count's excess over it is lag.
    const recountStarted = performance.now();
    await client.execute('SELECT count(*) FROM bank.bank');
    const recountSeconds = (performance.now() - recountStarted) / 1000;
    return { ...stats, startSeconds, verifySeconds, recountSeconds, rangesAtLoadEnd, rangesAfter, memory };
  } finally {
    client.close();
    await stopCluster();
  }
}

interface Figures extends Measured {
  mb: number;
  rowsPerSecond: number;
  mbPerSecond: number;
}

function figures(m: Measured): Figures {
  const mb = m.bytes / MB;
  return { ...m, mb, rowsPerSecond: m.rows / m.seconds, mbPerSecond: mb / m.seconds };
}

function printTable(cluster: Figures, raw: Figures, ratio: number): void {
  const header = ['', 'rows', 'MB', 'seconds', 'rows/s', 'MB/s'];
  const line = (label: string, f: Figures): string[] => [
    label,
    String(f.rows),
    f.mb.toFixed(1),
    f.seconds.toFixed(2),
    Math.round(f.rowsPerSecond).toString(),
    f.mbPerSecond.toFixed(2),
  ];
  const table = [header, line(CLUSTER_LABEL, cluster), line(RAW_LABEL, raw)];
  const widths = header.map((_, c) => Math.max(...table.map((r) => (r[c] ?? '').length)));
  const out = table.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
  out.push('', `ratio cluster/raw: ${ratio.toPrecision(3)} (raw LMDB is ${(1 / ratio).toFixed(1)}x faster; same rows and bytes, so rows/s and MB/s give the same ratio)`);
  process.stdout.write(out.join('\n') + '\n');
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (o === undefined) return;
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) process.exit(128 + osConstants.signals[signal]);
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping the cluster (again to exit at once)...\n`);
    void stopCluster().finally(() => process.exit(128 + osConstants.signals[signal]));
  };
  // `on`, not `once`: @cairn/testing re-raises a signal when no other listener is left.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  // Both sides share the machine's cores; other work shifts the ratio by tens of percent.
  const [load1] = loadavg();
  if (load1 !== undefined && load1 > cpus().length / 2) {
    process.stderr.write(`warning: load average ${load1.toFixed(2)} on ${cpus().length} cores: the figures will be noisy\n`);
  }
  const freshPage = freshPageCpuSecondsPerGiB();
  process.stderr.write(`fresh memory: ${freshPage.toFixed(2)} CPU-s per GiB first written (host.freshPageCpuSecondsPerGiB)\n`);
  process.stderr.write(
    `load: ${o.rows} rows, ${o.payloadBytes}-byte payloads, batches of ${o.batchSize}, concurrency ${o.concurrency}\n` +
      `starting a ${NODES}-node local cluster...\n`,
  );
  const clusterRun = await loadCluster(o);
  // The cluster is stopped by now, so the baseline has the machine to itself.
  process.stderr.write('raw LMDB baseline...\n');
  const raw = await loadRaw(join(await tempDir('cairn-bench-raw'), 'store'), o);
  if (raw.bytes !== clusterRun.bytes) {
    throw new Error(`raw baseline wrote ${raw.bytes} bytes of row data, the cluster ${clusterRun.bytes}`);
  }

  const { memory, ...clusterMeasured } = clusterRun;
  const cluster = figures(clusterMeasured);
  const baseline = figures(raw);
  const ratio = cluster.rowsPerSecond / baseline.rowsPerSecond;
  process.stdout.write('\n');
  printTable(cluster, baseline, ratio);
  process.stdout.write(
    `\nSELECT count(*) after the load: ${clusterMeasured.verifySeconds.toFixed(2)} s, again: ${clusterMeasured.recountSeconds.toFixed(2)} s; ` +
      `bank.bank in ${clusterMeasured.rangesAtLoadEnd} ranges as the load ended, ${clusterMeasured.rangesAfter} after the count` +
      (o.rangeMax === undefined ? '' : ` (kv.range.max_bytes '${o.rangeMax}')`) +
      '\n',
  );
  process.stdout.write(`\nmemory during the load:\n${memoryTable(memory)}\n`);
  const result = {
    bench: 'load',
    at: new Date().toISOString(),
    host: { cpus: cpus().length, node: process.version, freshPageCpuSecondsPerGiB: freshPage, loadAverageAtStart: load1 },
    options: o,
    cluster: { label: CLUSTER_LABEL, nodes: NODES, ...cluster },
    raw: { label: RAW_LABEL, ...baseline },
    ratio,
    ratios: { clusterToRawLmdb: ratio },
    memory,
    ...memoryPeaks(memory),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch(async (err: unknown) => {
  await stopCluster();
  process.stderr.write(`load benchmark failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
