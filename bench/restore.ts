/**
 * RESTORE MB/s of a full bank backup on a 3-node cluster, next to the load MB/s of the same rows.
 *
 * Loads `--mb` MB of bank rows (initBank, as `cairn workload init bank`, timed: the baseline),
 * sets kv.range.max_bytes so the table splits into ranges spread over the nodes, takes a full
 * `BACKUP DATABASE bank INTO 'nodelocal://1/…'`, then times a non-detached
 * `RESTORE DATABASE bank FROM LATEST IN '…' WITH new_db_name = 'bank2'` while sampling every
 * cluster process's RSS every 200 ms, and checks that `SHOW FINGERPRINTS FROM DATABASE bank2`
 * equals bank's. Both MB/s count the same row data (8-byte id + 8-byte balance + payload, as
 * initBank counts it), so their ratio is the load time over the restore time: how much faster
 * the cluster takes the rows back from a backup than through SQL. After the cluster has
 * stopped, the same rows go into one MvccStore as raw LMDB batched puts (as `pnpm bench load`'s
 * baseline), and `ratioToRawLmdb` = restore MB/s ÷ raw LMDB MB/s.
 *
 * Prints tables, then one JSON line with every figure as the last line of stdout.
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BANK_FLAGS,
  BANK_FLAGS_HELP,
  MB,
  NODES,
  bankOptions,
  cleanup,
  cpus,
  cpuSecondsPerGiB,
  cpuTable,
  CpuMeter,
  fingerprints,
  formatTable,
  installSignalHandlers,
  defaultBatchSize,
  loadBank,
  loadRawLmdb,
  marked,
  memoryPeaks,
  memoryTable,
  scratchDir,
  rangeCount,
  resultRow,
  sampleMemory,
  say,
  seconds,
  splitRanges,
  startCluster,
  stopCluster,
  freshPageCpuSecondsPerGiB,
  warnIfBusy,
  collectionFor,
  COLLECTION_KINDS,
  diskUsageOf,
  type BankOptions,
  type CollectionKind,
  type ProcessMemory,
} from './lib/common.js';

const COLLECTION_PATH = 'bench-restore';

const restoreLabel = (collection: string) => `cairn RESTORE, ${NODES}-node cluster ← ${collection}`;
const LOAD_LABEL = `cairn load (initBank SQL UPSERTs), same cluster`;
const RAW_LABEL = 'raw LMDB batched puts (1 process), same rows';

function parseOptions(argv: string[]): (BankOptions & { collection: CollectionKind }) | undefined {
  const { values } = parseArgs({ args: argv, strict: true, options: { ...BANK_FLAGS, collection: { type: 'string' } } });
  if (values.help === true) {
    process.stdout.write(
      [
        'usage: pnpm bench restore [--mb N] [--payload-bytes N] [--range-max SIZE] [--collection nodelocal|file|locality]',
        ...BANK_FLAGS_HELP,
        '  --collection     where the backup restored from lies: nodelocal (nodelocal://1, default: other nodes read it through node 1),',
        '                   file (file:// on a directory every node shares), locality (each node\'s files on its own nodelocal)',
        '',
      ].join('\n'),
    );
    return undefined;
  }
  const collection = values.collection ?? 'nodelocal';
  if (!(COLLECTION_KINDS as readonly string[]).includes(collection)) throw new Error(`--collection must be nodelocal, file or locality, got "${collection}"`);
  return { ...bankOptions(values), collection: collection as CollectionKind };
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (o === undefined) return;
  installSignalHandlers();
  const load1 = warnIfBusy();
  const freshPage = freshPageCpuSecondsPerGiB();
  say(`fresh memory: ${freshPage.toFixed(2)} CPU-s per GiB first written (host.freshPageCpuSecondsPerGiB)`);
  say(`restore: ${o.mb} MB of bank rows (${o.rows} rows, ${o.payloadBytes}-byte payloads), kv.range.max_bytes '${o.rangeMax}'`);
  say(`starting a ${NODES}-node local cluster...`);
  const { cluster, dataDir, client, startSeconds } = await startCluster('cairn-bench-restore-');
  const collection = collectionFor(o.collection, dataDir, COLLECTION_PATH);
  let m;
  const phases: Record<string, { start: number; end: number }> = {};
  const cpu = CpuMeter.forCluster(cluster, dataDir);
  try {
    const loadSampler = sampleMemory(cluster);
    let load;
    let loadMemory: ProcessMemory[];
    try {
      load = await marked(phases, 'load', () => loadBank(client, o), cpu);
    } finally {
      loadMemory = loadSampler.stop();
    }
    const split = await splitRanges(client, o.rangeMax);

    say(`full backup into ${collection.label}...`);
    let started = performance.now();
    const backup = resultRow(await marked(phases, 'backup', () => client.execute(`BACKUP DATABASE bank INTO ${collection.sql}`), cpu));
    const backupSeconds = seconds(started);
    const backupLogicalBytes = Number(backup['bytes']);
    const backupDisk = await diskUsageOf(collection.dirs);
    say(`  ${backupSeconds.toFixed(1)} s, ${(backupLogicalBytes / MB).toFixed(1)} MB logical, ${(backupDisk.bytes / MB).toFixed(1)} MB on disk`);
    const sourceFingerprint = await fingerprints(client, 'bank');

    say(`restore as bank2...`);
    const sampler = sampleMemory(cluster);
    let restore: Record<string, string | null>;
    let memory: ProcessMemory[];
    started = performance.now();
    try {
      restore = resultRow(
        await marked(phases, 'restore', () => client.execute(`RESTORE DATABASE bank FROM LATEST IN ${collection.sql} WITH new_db_name = 'bank2'`), cpu),
      );
    } finally {
      memory = sampler.stop();
    }
    const restoreSeconds = seconds(started);
    if (restore['status'] !== 'succeeded') throw new Error(`RESTORE: status ${String(restore['status'])}`);
    say(`  ${restoreSeconds.toFixed(1)} s`);

    const fpStarted = performance.now();
    const restoredFingerprint = await fingerprints(client, 'bank2');
    const fingerprintSeconds = seconds(fpStarted);
    const counted = Number((await client.execute('SELECT count(*) FROM bank2.bank')).rows[0]?.[0]);
    const fingerprintMatches = restoredFingerprint === sourceFingerprint && restoredFingerprint !== '';
    if (!fingerprintMatches) throw new Error(`bank2's fingerprints ${restoredFingerprint} differ from bank's ${sourceFingerprint}`);
    if (counted !== o.rows) throw new Error(`bank2.bank has ${counted} rows, bank.bank ${o.rows}`);
    const rangesAfter = await rangeCount(client);
    m = { load, loadMemory, split, backup: { seconds: backupSeconds, logicalBytes: backupLogicalBytes, diskBytes: backupDisk.bytes, files: backupDisk.files }, sourceFingerprint, restore, memory, restoreSeconds, restoredFingerprint, fingerprintSeconds, fingerprintMatches, rangesAfter };
  } finally {
    client.close();
    await stopCluster();
  }

  // The cluster is stopped by now, so the baseline has the machine to itself.
  const batchSize = defaultBatchSize(o.payloadBytes);
  say(`raw LMDB baseline: ${o.rows} rows in batches of ${batchSize}...`);
  const raw = await loadRawLmdb(join(await scratchDir('cairn-bench-raw-'), 'store'), o.rows, o.payloadBytes, batchSize);
  if (raw.bytes !== m.load.bytes) throw new Error(`raw baseline wrote ${raw.bytes} bytes of row data, the load ${m.load.bytes}`);
  const rawMbps = raw.bytes / MB / raw.seconds;

  const rowMb = m.load.bytes / MB;
  const restoreMbps = rowMb / m.restoreSeconds;
  const ratio = restoreMbps / m.load.mbPerSecond;
  const ratioToRawLmdb = restoreMbps / rawMbps;
  process.stdout.write('\n');
  process.stdout.write(
    formatTable([
      ['', 'rows', 'MB', 'seconds', 'rows/s', 'MB/s'],
      [restoreLabel(collection.label), String(o.rows), rowMb.toFixed(1), m.restoreSeconds.toFixed(2), Math.round(o.rows / m.restoreSeconds).toString(), restoreMbps.toFixed(2)],
      [LOAD_LABEL, String(m.load.rows), rowMb.toFixed(1), m.load.seconds.toFixed(2), Math.round(m.load.rows / m.load.seconds).toString(), m.load.mbPerSecond.toFixed(2)],
      [RAW_LABEL, String(raw.rows), (raw.bytes / MB).toFixed(1), raw.seconds.toFixed(2), Math.round(raw.rows / raw.seconds).toString(), rawMbps.toFixed(2)],
    ]) + '\n',
  );
  process.stdout.write(
    [
      '',
      `ratio restore/load: ${ratio.toPrecision(3)} (same rows and bytes; restore is ${ratio >= 1 ? `${ratio.toFixed(1)}x faster` : `${(1 / ratio).toFixed(1)}x slower`} than loading through SQL)`,
      `ratio restore/raw LMDB: ${ratioToRawLmdb.toPrecision(3)} (raw batched puts into one store are ${(1 / ratioToRawLmdb).toFixed(1)}x faster)`,
      `fingerprints of bank2 match bank's (${m.fingerprintSeconds.toFixed(1)} s to compute): ${m.restoredFingerprint}`,
      `backup restored: ${(m.backup.logicalBytes / MB).toFixed(1)} MB logical (${(m.backup.logicalBytes / MB / m.restoreSeconds).toFixed(2)} MB/s logical), ` +
        `${(m.backup.diskBytes / MB).toFixed(1)} MB on disk in ${m.backup.files} files, taken in ${m.backup.seconds.toFixed(1)} s; ${m.split.ranges} ranges of bank.bank`,
      '',
      'CPU seconds (user + system) by phase and process:',
      cpuTable(cpu.byPhase),
      `restore: CPU s per GiB of row data: ${Object.entries(cpuSecondsPerGiB(cpu.byPhase['restore'], m.load.bytes) ?? {}).map(([n, v]) => `${n} ${v.toFixed(1)}`).join(', ')}`,
      '',
      'memory during the load:',
      memoryTable(m.loadMemory),
      '',
      'memory during the restore:',
      memoryTable(m.memory),
      '',
    ].join('\n'),
  );
  const result = {
    bench: 'restore',
    at: new Date().toISOString(),
    host: { cpus: cpus().length, node: process.version, freshPageCpuSecondsPerGiB: freshPage, loadAverageAtStart: load1, loadAverageAtEnd: loadavg()[0] },
    options: o,
    cluster: { nodes: NODES, startSeconds, collection: o.collection, uri: collection.sql },
    load: { label: LOAD_LABEL, ...m.load },
    split: m.split,
    rangesAfter: m.rangesAfter,
    backup: m.backup,
    restore: {
      label: restoreLabel(collection.label),
      jobId: m.restore['job_id'],
      rows: o.rows,
      bytes: m.load.bytes,
      seconds: m.restoreSeconds,
      mbPerSecond: restoreMbps,
      logicalMbPerSecond: m.backup.logicalBytes / MB / m.restoreSeconds,
    },
    raw: { label: RAW_LABEL, batchSize, ...raw, mbPerSecond: rawMbps },
    ratio,
    ratioToRawLmdb,
    ratios: { restoreToLoad: ratio, restoreToRawLmdb: ratioToRawLmdb },
    fingerprint: { source: m.sourceFingerprint, restored: m.restoredFingerprint, matches: m.fingerprintMatches, seconds: m.fingerprintSeconds },
    memory: m.memory,
    memoryByPhase: { load: m.loadMemory, restore: m.memory },
    // Over the load and the restore; peakNode*/peakCoordinator* split it by role.
    ...memoryPeaks(m.loadMemory, m.memory),
    peaksByPhase: { load: memoryPeaks(m.loadMemory), restore: memoryPeaks(m.memory) },
    // Each process's user + system CPU seconds over each phase (phase names as phaseClockMicros').
    cpuSecondsByRole: cpu.byPhase,
    restoreCpuSecondsPerGiB: cpuSecondsPerGiB(cpu.byPhase['restore'], m.load.bytes),
    // Monotonic microseconds, to cut --cpu-prof profiles of the cluster's processes by phase.
    phaseClockMicros: phases,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`restore benchmark failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
