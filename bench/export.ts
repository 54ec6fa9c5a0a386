/**
 * A node's export path in one process: CPU seconds per GiB of LMDB scan, data file and local file, the cluster backup's yardstick.
 *
 * Writes `--mb` MB of bank rows to one MvccStore (as the raw-LMDB baseline of `pnpm bench
 * load` does), then, in a child process with a node's V8 heap limit (HEAP_LIMIT_MIB), runs the
 * full export a backup item runs, in stages, each over every row:
 * - scan: `exportRevisionSlots` alone (one reused slot per revision, as the backup processor
 *   reads them);
 * - writer: the scan into a DataFileWriter (zstd level 1, CRC-32, SHA-256, `writeSlot`) whose
 *   sink drops the chunks (back into the writer's ChunkPool);
 * - file: the same into data files of `bulkio.backup.file_size` (128 MiB) written through
 *   openWritePipe to a LocalDirStorage, which gives each chunk back to the pool once written,
 *   as a node writes its own `nodelocal://` or `file://` files (fsync and rename included).
 * For each: wall and CPU seconds (user + system, every thread), the main thread's share,
 * MB of logical bytes (keys + values, as BACKUP counts them) per CPU-second and CPU seconds
 * per GiB, to set beside `cpuSecondsByRole` of `pnpm bench backup`.
 *
 * Prints a table, then one JSON line with every figure as the last line of stdout.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ChunkPool, DataFileWriter } from '@cairn/backup-format';
import { LocalDirStorage, openWritePipe } from '@cairn/cloud';
import { HEAP_LIMIT_MIB, nodeCommandLineFlags } from '@cairn/metrics';
import { MvccStore } from '@cairn/mvcc';
import {
  MB,
  cleanup,
  cpus,
  defaultBatchSize,
  formatTable,
  loadRawLmdb,
  positiveInt,
  procCpuSeconds,
  say,
  scratchDir,
  freshPageCpuSecondsPerGiB,
  warnIfBusy,
} from './lib/common.js';

const FILE_SIZE = 128 * 1024 * 1024;
const STAGES = ['scan', 'writer', 'file'] as const;
type Stage = (typeof STAGES)[number];

interface StageFigures {
  stage: Stage;
  logicalBytes: number;
  wallSeconds: number;
  cpuSeconds: number;
  mainThreadCpuSeconds: number;
  mbPerCpuSecond: number;
  cpuSecondsPerGiB: number;
}

const ALL = { start: new Uint8Array(0), end: new Uint8Array(0) };
const NEWEST = (1n << 64n) - 1n;

/** One stage over the whole store; returns the logical bytes it exported. */
async function runStage(stage: Stage, store: MvccStore, outDir: string): Promise<number> {
  const revisions = () => store.exportRevisionSlots(ALL, 0n, NEWEST, false);
  // As the backup processor's: chunks come back once the storage has written them.
  const chunkPool = new ChunkPool();
  if (stage === 'scan') {
    let bytes = 0;
    for (const r of revisions()) bytes += r.keyLength + (r.valueEnd - r.valueStart);
    return bytes;
  }
  if (stage === 'writer') {
    const w = new DataFileWriter({ sink: (c) => chunkPool.give(c), chunkPool });
    for (const r of revisions()) {
      const flushed = w.writeSlot(r);
      if (flushed) await flushed;
    }
    return (await w.finish()).logicalBytes;
  }
  // As processBackupItem: files of FILE_SIZE through a write pipe to the local dir.
  const storage = new LocalDirStorage(outDir);
  let bytes = 0;
  let files = 0;
  const open = () => {
    const pipe = openWritePipe(storage, `data/${files++}.sst`, { onChunkDone: (c) => chunkPool.give(c) });
    return { pipe, writer: new DataFileWriter({ sink: (c) => pipe.write(c), chunkPool }) };
  };
  const close = async (f: ReturnType<typeof open>) => {
    bytes += (await f.writer.finish()).logicalBytes;
    await f.pipe.end();
  };
  let current = open();
  for (const r of revisions()) {
    let finishing: Promise<void> | undefined;
    if (current.writer.bytesWritten >= FILE_SIZE) {
      finishing = close(current);
      current = open();
    }
    const flushed = current.writer.writeSlot(r);
    if (finishing) await finishing;
    if (flushed) await flushed;
  }
  await close(current);
  await storage.close();
  return bytes;
}

/** The child: every stage over the store in `dir`, one JSON line per stage on stdout. */
async function child(dir: string): Promise<void> {
  const store = await MvccStore.open(join(dir, 'store'));
  try {
    for (const stage of STAGES) {
      const cpu0 = procCpuSeconds(process.pid) ?? NaN;
      const main0 = procCpuSeconds(process.pid, process.pid) ?? NaN;
      const started = performance.now();
      const logicalBytes = await runStage(stage, store, join(dir, `out-${stage}`));
      const wallSeconds = (performance.now() - started) / 1000;
      const cpuSeconds = (procCpuSeconds(process.pid) ?? NaN) - cpu0;
      const mainThreadCpuSeconds = (procCpuSeconds(process.pid, process.pid) ?? NaN) - main0;
      const figures: StageFigures = {
        stage,
        logicalBytes,
        wallSeconds,
        cpuSeconds,
        mainThreadCpuSeconds,
        mbPerCpuSecond: logicalBytes / MB / cpuSeconds,
        cpuSecondsPerGiB: cpuSeconds / (logicalBytes / 2 ** 30),
      };
      process.stdout.write(JSON.stringify(figures) + '\n');
    }
  } finally {
    await store.close();
  }
}

/**
 * Runs the child under a node's heap limit and young generation (this process has V8's
 * defaults) and collects its stages.
 */
function runChild(dir: string): Promise<StageFigures[]> {
  return new Promise((resolve, reject) => {
    const args = [...process.execArgv, `--max-old-space-size=${HEAP_LIMIT_MIB.node}`, ...nodeCommandLineFlags('node'), process.argv[1]!, '--child', dir];
    const c = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('error', reject);
    c.on('exit', (code, signal) => {
      if (code !== 0) return reject(new Error(`export child exited with ${signal ?? code}`));
      resolve(out.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as StageFigures));
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: { mb: { type: 'string' }, 'payload-bytes': { type: 'string' }, child: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.child !== undefined) return child(values.child);
  if (values.help === true) {
    process.stdout.write(
      [
        'usage: pnpm bench export [--mb N] [--payload-bytes N]',
        '  --mb             logical MB (10^6 bytes) of bank row data in the store (default 256)',
        '  --payload-bytes  payload string length per row (default 1000)',
        '',
      ].join('\n'),
    );
    return;
  }
  const mb = positiveInt('mb', values.mb, 256);
  const payloadBytes = positiveInt('payload-bytes', values['payload-bytes'], 1000);
  const rows = Math.floor((mb * MB) / (payloadBytes + 16));
  const load1 = warnIfBusy();
  const freshPage = freshPageCpuSecondsPerGiB();
  say(`fresh memory: ${freshPage.toFixed(2)} CPU-s per GiB first written (host.freshPageCpuSecondsPerGiB)`);
  const dir = await scratchDir('cairn-bench-export-');
  say(`export: writing ${rows} bank rows (${mb} MB of row data) to one store...`);
  await loadRawLmdb(join(dir, 'store'), rows, payloadBytes, defaultBatchSize(payloadBytes));
  say(`exporting in a child with --max-old-space-size=${HEAP_LIMIT_MIB.node}: ${STAGES.join(', ')}...`);
  const stages = await runChild(dir);
  process.stdout.write('\n');
  process.stdout.write(
    formatTable([
      ['stage', 'logical MB', 'wall s', 'CPU s', 'main thread CPU s', 'MB per CPU-s', 'CPU s per GiB'],
      ...stages.map((s) => [
        s.stage,
        (s.logicalBytes / MB).toFixed(1),
        s.wallSeconds.toFixed(2),
        s.cpuSeconds.toFixed(2),
        s.mainThreadCpuSeconds.toFixed(2),
        s.mbPerCpuSecond.toFixed(1),
        s.cpuSecondsPerGiB.toFixed(2),
      ]),
    ]) + '\n',
  );
  const result = {
    bench: 'export',
    at: new Date().toISOString(),
    host: { cpus: cpus().length, node: process.version, freshPageCpuSecondsPerGiB: freshPage, loadAverageAtStart: load1 },
    options: { mb, payloadBytes, rows, heapLimitMiB: HEAP_LIMIT_MIB.node, fileSize: FILE_SIZE },
    stages: Object.fromEntries(stages.map((s) => [s.stage, s])),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`export benchmark failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
