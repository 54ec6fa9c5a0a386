/**
 * Full BACKUP MB/s of bank data to nodelocal on a 3-node cluster, next to zstd -1 -T2; incremental after 1%.
 *
 * Loads `--mb` MB of bank rows (initBank, as `cairn workload init bank`), sets
 * kv.range.max_bytes so the table splits into ranges spread over the nodes, then times a
 * non-detached `BACKUP DATABASE bank INTO 'nodelocal://1/…'` while sampling every cluster
 * process's RSS every 200 ms. MB/s are the logical bytes the backup reports (keys + values
 * exported) per second. The baseline, run after the cluster has stopped, is `zstd -1 -T2`
 * (the backup's own codec and level, on as many cores as the machine has here) compressing a
 * file of exactly as many bytes of bank rows as `id,balance,payload` text lines with payloads
 * drawn as initBank draws them. Then 1% of the rows get a balance update (UPDATE … WHERE id IN
 * (…), 500 ids per statement) and an incremental `BACKUP … INTO LATEST IN` is timed, several times
 * (`--incrementals`, each after its own update phase); the median's time and size are reported
 * as fractions of the full backup's, and every sample is in the JSON.
 *
 * Prints tables, then one JSON line with every figure as the last line of stdout.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CairnClient } from '@cairn/client';
import {
  BANK_FLAGS,
  BANK_FLAGS_HELP,
  INITIAL_BALANCE,
  MB,
  NODES,
  bankOptions,
  cleanup,
  collectionFor,
  COLLECTION_KINDS,
  diskUsageOf,
  cpus,
  cpuSecondsPerGiB,
  cpuTable,
  CpuMeter,
  formatTable,
  installSignalHandlers,
  loadBank,
  marked,
  memoryPeaks,
  memoryTable,
  mib,
  rangeCount,
  resultRow,
  run,
  sampleMemory,
  say,
  scratchDir,
  seconds,
  splitRanges,
  startCluster,
  stopCluster,
  freshPageCpuSecondsPerGiB,
  warnIfBusy,
  type BankOptions,
  type CollectionKind,
  type LoadFigures,
  type ProcessMemory,
} from './lib/common.js';

/** The collection's path under each node's external IO dir (`<store>/extern/`), or the shared dir. */
const COLLECTION_PATH = 'bench-backup';

/** Share of the rows the incremental finds changed. */
const CHANGED_FRACTION = 0.01;
const UPDATE_BATCH = 500;

const backupLabel = (collection: string) => `cairn full BACKUP, ${NODES}-node cluster → ${collection}`;
const ZSTD_LABEL = 'zstd -1 -T2 over the same logical bytes';

/** Incrementals per collection, each after its own update phase: one sample is mostly noise. */
const DEFAULT_INCREMENTALS = 5;

function parseOptions(argv: string[]): (BankOptions & { collection: CollectionKind; collections: CollectionKind[]; incrementals: number }) | undefined {
  const { values } = parseArgs({ args: argv, strict: true, options: { ...BANK_FLAGS, collection: { type: 'string' }, incrementals: { type: 'string' } } });
  if (values.help === true) {
    process.stdout.write(
      [
        'usage: pnpm bench backup [--mb N] [--payload-bytes N] [--range-max SIZE] [--collection nodelocal|file|locality[,...]] [--incrementals N]',

        ...BANK_FLAGS_HELP,
        '  --collection     nodelocal (nodelocal://1, default), file (file:// on a directory every node shares), locality (each node to its own nodelocal);',
        '                   a comma list (nodelocal,file,locality) measures each in turn on the same loaded cluster',
        `  --incrementals   incrementals per collection, each after its own 1% update (default ${DEFAULT_INCREMENTALS}); the figures are the median's`,
        '',
      ].join('\n'),
    );
    return undefined;
  }
  const collections = (values.collection ?? 'nodelocal').split(',');
  for (const c of collections) {
    if (!(COLLECTION_KINDS as readonly string[]).includes(c)) throw new Error(`--collection must be nodelocal, file or locality (or a comma list), got "${c}"`);
  }
  if (new Set(collections).size !== collections.length) throw new Error('--collection names a collection twice');
  const incrementals = values.incrementals === undefined ? DEFAULT_INCREMENTALS : Number(values.incrementals);
  if (!Number.isInteger(incrementals) || incrementals < 1) throw new Error(`--incrementals must be a positive integer, got "${values.incrementals}"`);
  return { ...bankOptions(values), collection: collections[0] as CollectionKind, collections: collections as CollectionKind[], incrementals };
}

interface BackupRun {
  seconds: number;
  jobId: string;
  rows: number;
  /** Logical bytes (keys + values exported) as the BACKUP statement reports them. */
  logicalBytes: number;
  /** Bytes the layer added under the collection dir (file sizes; `du`'s blocks in allocatedBytes). */
  diskBytes: number;
  allocatedBytes: number;
  files: number;
}

async function timedBackup(client: CairnClient, sql: string, collectionDirs: string[]): Promise<BackupRun> {
  const before = await diskUsageOf(collectionDirs);
  const started = performance.now();
  const result = resultRow(await client.execute(sql));
  const took = seconds(started);
  if (result['status'] !== 'succeeded') throw new Error(`${sql}: status ${String(result['status'])}`);
  const after = await diskUsageOf(collectionDirs);
  return {
    seconds: took,
    jobId: result['job_id'] ?? '',
    rows: Number(result['rows']),
    logicalBytes: Number(result['bytes']),
    diskBytes: after.bytes - before.bytes,
    allocatedBytes: after.allocated - before.allocated,
    files: after.files - before.files,
  };
}

interface UpdatePhase {
  rows: number;
  statements: number;
  seconds: number;
}

/** Balance +1 on `CHANGED_FRACTION` of the rows, distinct random ids, 500 per statement. */
async function changeRows(client: CairnClient, rows: number): Promise<UpdatePhase> {
  const want = Math.max(1, Math.round(rows * CHANGED_FRACTION));
  const ids = new Set<number>();
  while (ids.size < want) ids.add(randomInt(rows));
  const all = [...ids];
  const started = performance.now();
  let statements = 0;
  for (let i = 0; i < all.length; i += UPDATE_BATCH) {
    const batch = all.slice(i, i + UPDATE_BATCH);
    await client.execute(`UPDATE bank.bank SET balance = balance + 1 WHERE id IN (${batch.join(', ')})`);
    statements++;
  }
  return { rows: all.length, statements, seconds: seconds(started) };
}

/**
 * Writes exactly `bytes` bytes of bank rows as `id,balance,payload` lines (ids cycling over
 * the table's, payloads random hex as initBank draws them, the last line cut short).
 */
async function writeRowText(path: string, bytes: number, o: BankOptions): Promise<void> {
  const out = createWriteStream(path);
  const chunkTarget = 4 << 20;
  let written = 0;
  let id = 0;
  while (written < bytes) {
    const lines: string[] = [];
    let size = 0;
    while (size < chunkTarget && written + size < bytes) {
      const line = `${id},${INITIAL_BALANCE},${randomBytes(Math.ceil(o.payloadBytes / 2)).toString('hex').slice(0, o.payloadBytes)}\n`;
      lines.push(line);
      size += line.length;
      id = (id + 1) % o.rows;
    }
    let chunk = lines.join('');
    if (written + chunk.length > bytes) chunk = chunk.slice(0, bytes - written);
    written += chunk.length;
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

interface ZstdRun {
  bytes: number;
  compressedBytes: number;
  seconds: number;
}

/** Times `zstd -1 -T2` compressing a file (just written, so in the page cache) to a file. */
async function zstdBaseline(bytes: number, o: BankOptions): Promise<ZstdRun> {
  const dir = await scratchDir('cairn-bench-zstd-');
  const input = join(dir, 'bank.csv');
  say(`zstd baseline: writing ${(bytes / MB).toFixed(1)} MB of bank rows as text...`);
  await writeRowText(input, bytes, o);
  say('zstd baseline: zstd -1 -T2...');
  const started = performance.now();
  await run('zstd', ['-1', '-T2', '-q', '-f', '-o', join(dir, 'bank.csv.zst'), input]);
  const took = seconds(started);
  return { bytes: (await stat(input)).size, compressedBytes: (await stat(join(dir, 'bank.csv.zst'))).size, seconds: took };
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (o === undefined) return;
  installSignalHandlers();
  const load1 = warnIfBusy();
  const freshPage = freshPageCpuSecondsPerGiB();
  say(`fresh memory: ${freshPage.toFixed(2)} CPU-s per GiB first written (host.freshPageCpuSecondsPerGiB)`);
  say(`backup: ${o.mb} MB of bank rows (${o.rows} rows, ${o.payloadBytes}-byte payloads), kv.range.max_bytes '${o.rangeMax}'`);
  say(`starting a ${NODES}-node local cluster...`);
  const { cluster, dataDir, client, startSeconds } = await startCluster('cairn-bench-backup-');
  let load: LoadFigures;
  let loadMemory: ProcessMemory[];
  let split: { ranges: number; seconds: number };
  const runs: CollectionRun[] = [];
  const phases: Record<string, { start: number; end: number }> = {};
  const cpu = CpuMeter.forCluster(cluster, dataDir);
  try {
    const loadSampler = sampleMemory(cluster);
    try {
      load = await marked(phases, 'load', () => loadBank(client, o), cpu);
    } finally {
      loadMemory = loadSampler.stop();
    }
    split = await splitRanges(client, o.rangeMax);
    // Each collection in turn on the same loaded cluster: a full backup, 1% of the rows
    // changed, an incremental (phase marks suffixed with the collection after the first).
    for (const [i, kind] of o.collections.entries()) {
      const suffix = i === 0 ? '' : `-${kind}`;
      runs.push(await backupInto(client, kind, collectionFor(kind, dataDir, COLLECTION_PATH), cluster, o, phases, suffix, cpu));
    }
  } finally {
    client.close();
    await stopCluster();
  }

  // The cluster is stopped by now, so the baseline has the machine to itself.
  const first = runs[0]!;
  const zstd = await zstdBaseline(first.full.logicalBytes, o);
  if (zstd.bytes !== first.full.logicalBytes) throw new Error(`zstd baseline read ${zstd.bytes} bytes, the backup ${first.full.logicalBytes}`);
  const zstdMbps = zstd.bytes / MB / zstd.seconds;
  const zstdCompression = zstd.bytes / zstd.compressedBytes;
  // Every collection's full exports the same rows (updates change balances, not sizes).
  const figures = runs.map((r) => {
    const mbPerSecond = r.full.logicalBytes / MB / r.full.seconds;
    return {
      ...r,
      mbPerSecond,
      ratio: mbPerSecond / zstdMbps,
      compression: r.full.logicalBytes / r.full.diskBytes,
      incrementalFractions: {
        time: r.incremental.seconds / r.full.seconds,
        logicalBytes: r.incremental.logicalBytes / r.full.logicalBytes,
        diskBytes: r.incremental.diskBytes / r.full.diskBytes,
      },
    };
  });
  const f0 = figures[0]!;

  process.stdout.write('\n');
  const rows: string[][] = [['', 'logical MB', 'seconds', 'MB/s', 'MB written', 'compression']];
  for (const f of figures) {
    rows.push([f.label, (f.full.logicalBytes / MB).toFixed(1), f.full.seconds.toFixed(2), f.mbPerSecond.toFixed(2), (f.full.diskBytes / MB).toFixed(1), `${f.compression.toFixed(2)}x`]);
  }
  rows.push([ZSTD_LABEL, (zstd.bytes / MB).toFixed(1), zstd.seconds.toFixed(2), zstdMbps.toFixed(2), (zstd.compressedBytes / MB).toFixed(1), `${zstdCompression.toFixed(2)}x`]);
  for (const f of figures) {
    rows.push([
      `incremental after ${CHANGED_FRACTION * 100}% of rows changed → ${f.kind} (median of ${f.incrementalSamples.length})`,
      (f.incremental.logicalBytes / MB).toFixed(2),
      f.incremental.seconds.toFixed(2),
      (f.incremental.logicalBytes / MB / f.incremental.seconds).toFixed(2),
      (f.incremental.diskBytes / MB).toFixed(2),
      `${(f.incremental.logicalBytes / f.incremental.diskBytes).toFixed(2)}x`,
    ]);
  }
  process.stdout.write(formatTable(rows) + '\n');
  const lines = [''];
  for (const f of figures) {
    lines.push(
      `${f.kind}: ratio backup/zstd ${f.ratio.toPrecision(3)} (zstd alone is ${(1 / f.ratio).toFixed(1)}x faster over the same number of logical bytes); ` +
        `incremental / full: time ${f.incrementalFractions.time.toPrecision(3)}, logical size ${f.incrementalFractions.logicalBytes.toPrecision(3)}, on-disk size ${f.incrementalFractions.diskBytes.toPrecision(3)}`,
      `  backup: ${f.full.rows} rows, ${f.full.files} files (${mib(f.full.allocatedBytes)} MiB allocated, du), ${f.rangesAfter} ranges at its end; updates: ${f.updates.rows} rows in ${f.updates.seconds.toFixed(1)} s`,
      `  incrementals, s in the order taken: ${f.incrementalSamples.map((i) => i.seconds.toFixed(3)).join(', ')} (median ${f.incremental.seconds.toFixed(3)})`,
    );
  }
  lines.push(
    `${split.ranges} ranges at the start; load: ${(load.bytes / MB).toFixed(1)} MB of row data in ${load.seconds.toFixed(1)} s (${load.mbPerSecond.toFixed(2)} MB/s)`,
    '',
    'CPU seconds (user + system) by phase and process:',
    cpuTable(cpu.byPhase),
    ...figures.map((f) => `full → ${f.kind}: CPU s per GiB of logical bytes: ${Object.entries(f.fullCpuSecondsPerGiB ?? {}).map(([n, v]) => `${n} ${v.toFixed(1)}`).join(', ')}`),
    '',
    'memory during the load:',
    memoryTable(loadMemory),
  );
  for (const f of figures) lines.push('', `memory during the full backup → ${f.kind}:`, memoryTable(f.memory), '', `memory during the incremental backup → ${f.kind}:`, memoryTable(f.incrementalMemory));
  lines.push('');
  process.stdout.write(lines.join('\n'));
  const byCollection = Object.fromEntries(
    figures.map((f) => [
      f.kind,
      {
        uri: f.uri,
        full: { label: f.label, ...f.full, mb: f.full.logicalBytes / MB, mbPerSecond: f.mbPerSecond, compression: f.compression },
        ratio: f.ratio,
        ratios: { backupToZstd: f.ratio, incrementalTimeToFull: f.incrementalFractions.time, incrementalBytesToFull: f.incrementalFractions.diskBytes },
        updates: f.updates,
        incremental: { ...f.incremental, fractionOfFull: f.incrementalFractions },
        incrementalSamples: f.incrementalSamples,
        rangesAfterBackup: f.rangesAfter,
        fullCpuSecondsPerGiB: f.fullCpuSecondsPerGiB,
        ...memoryPeaks(f.memory, f.incrementalMemory),
      },
    ]),
  );
  const allMemory = figures.flatMap((f) => [f.memory, f.incrementalMemory]);
  const result = {
    bench: 'backup',
    at: new Date().toISOString(),
    host: { cpus: cpus().length, node: process.version, freshPageCpuSecondsPerGiB: freshPage, loadAverageAtStart: load1, loadAverageAtEnd: loadavg()[0] },
    options: o,
    cluster: { nodes: NODES, startSeconds, collection: f0.kind, uri: f0.uri },
    load,
    split,
    // The first collection's figures, as before; byCollection has every collection's.
    rangesAfterBackup: f0.rangesAfter,
    full: { label: f0.label, ...f0.full, mb: f0.full.logicalBytes / MB, mbPerSecond: f0.mbPerSecond, compression: f0.compression },
    zstd: { label: ZSTD_LABEL, ...zstd, mbPerSecond: zstdMbps, compression: zstdCompression },
    ratio: f0.ratio,
    ratios: { backupToZstd: f0.ratio, incrementalTimeToFull: f0.incrementalFractions.time, incrementalBytesToFull: f0.incrementalFractions.diskBytes },
    updates: f0.updates,
    incremental: { ...f0.incremental, fractionOfFull: f0.incrementalFractions },
    incrementalSamples: f0.incrementalSamples,
    byCollection,
    memory: f0.memory,
    memoryByPhase: { load: loadMemory, full: f0.memory, incremental: f0.incrementalMemory },
    // Over the load and every backup; peakNode*/peakCoordinator* split it by role.
    ...memoryPeaks(loadMemory, ...allMemory),
    peaksByPhase: { load: memoryPeaks(loadMemory), full: memoryPeaks(...figures.map((f) => f.memory)), incremental: memoryPeaks(...figures.map((f) => f.incrementalMemory)) },
    // Each process's user + system CPU seconds over each phase (phase names as phaseClockMicros').
    cpuSecondsByRole: cpu.byPhase,
    fullCpuSecondsPerGiB: f0.fullCpuSecondsPerGiB,
    // Monotonic microseconds, to cut --cpu-prof profiles of the cluster's processes by phase.
    phaseClockMicros: phases,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

interface CollectionRun {
  kind: CollectionKind;
  label: string;
  uri: string;
  full: BackupRun;
  /** The median sample (the lower middle one for an even count). */
  incremental: BackupRun;
  /** Every incremental, in the order taken, each with the update phase before it. */
  incrementalSamples: Array<BackupRun & { updates: UpdatePhase }>;
  /** The median sample's update phase. */
  updates: UpdatePhase;
  memory: ProcessMemory[];
  incrementalMemory: ProcessMemory[];
  rangesAfter: number;
  /** The full backup's CPU seconds per GiB of logical bytes, by process and in total. */
  fullCpuSecondsPerGiB: Record<string, number> | undefined;
}

/** A full backup into the collection, 1% of the rows changed, then an incremental, each timed and sampled. */
async function backupInto(
  client: CairnClient,
  kind: CollectionKind,
  collection: { sql: string; label: string; dirs: string[] },
  cluster: Parameters<typeof sampleMemory>[0],
  o: BankOptions & { incrementals: number },
  phases: Record<string, { start: number; end: number }>,
  suffix: string,
  cpu: CpuMeter,
): Promise<CollectionRun> {
  say(`full backup into ${collection.sql}...`);
  let full: BackupRun;
  let memory: ProcessMemory[];
  const sampler = sampleMemory(cluster);
  try {
    full = await marked(phases, `full${suffix}`, () => timedBackup(client, `BACKUP DATABASE bank INTO ${collection.sql}`, collection.dirs), cpu);
  } finally {
    memory = sampler.stop();
  }
  say(`  ${full.seconds.toFixed(1)} s, ${(full.logicalBytes / MB).toFixed(1)} MB logical, ${(full.diskBytes / MB).toFixed(1)} MB on disk`);
  const rangesAfter = await rangeCount(client);
  const incrementalSamples: Array<BackupRun & { updates: UpdatePhase }> = [];
  const incrementalMemories: ProcessMemory[][] = [];
  for (let i = 0; i < o.incrementals; i++) {
    say(`updating ${CHANGED_FRACTION * 100}% of the rows...`);
    const updates = await changeRows(client, o.rows);
    say(`  ${updates.rows} rows in ${updates.statements} statements, ${updates.seconds.toFixed(1)} s`);
    say(`incremental backup ${i + 1}/${o.incrementals}...`);
    const incSampler = sampleMemory(cluster);
    try {
      // The first one's phase keeps its old name; the later ones are numbered.
      const phase = `incremental${suffix}${i === 0 ? '' : `#${i + 1}`}`;
      const run = await marked(phases, phase, () => timedBackup(client, `BACKUP DATABASE bank INTO LATEST IN ${collection.sql}`, collection.dirs), cpu);
      incrementalSamples.push({ ...run, updates });
    } finally {
      incrementalMemories.push(incSampler.stop());
    }
    const last = incrementalSamples[incrementalSamples.length - 1]!;
    say(`  ${last.seconds.toFixed(3)} s, ${last.rows} rows, ${(last.logicalBytes / MB).toFixed(2)} MB logical`);
  }
  const byTime = [...incrementalSamples].sort((a, b) => a.seconds - b.seconds);
  const { updates, ...incremental } = byTime[Math.floor((byTime.length - 1) / 2)]!;
  const incrementalMemory = mergeMemory(incrementalMemories);
  const fullCpu = cpu.byPhase[`full${suffix}`];
  return {
    kind, label: backupLabel(collection.label), uri: collection.sql, full, incremental, incrementalSamples, updates, memory, incrementalMemory, rangesAfter,
    fullCpuSecondsPerGiB: cpuSecondsPerGiB(fullCpu, full.logicalBytes),
  };
}

/** Several samplings of the same processes as one: the first's start, the largest peaks, the last VmHWM. */
function mergeMemory(samplings: ProcessMemory[][]): ProcessMemory[] {
  const merged = new Map<number, ProcessMemory>();
  for (const sampling of samplings) {
    for (const m of sampling) {
      const seen = merged.get(m.pid);
      merged.set(m.pid, seen === undefined ? { ...m } : { ...seen, rssPeak: Math.max(seen.rssPeak, m.rssPeak), anonPeak: Math.max(seen.anonPeak, m.anonPeak), hwm: m.hwm });
    }
  }
  return [...merged.values()];
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`backup benchmark failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
