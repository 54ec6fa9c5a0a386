import type { NatsConnection } from 'nats';
import { ChunkPool, DataFileWriter, dataFileName } from '@cairn/backup-format';
import { joinPath, openStorage, openWritePipe, type ExternalStorage, type StorageContext } from '@cairn/cloud';
import type { MvccStore } from '@cairn/mvcc';
import { BackupWorkItem, BackupWorkResult, type BackupFile, type LocalityTier } from '@cairn/proto';
import type { LocalStagedBatches, WorkContext } from '@cairn/cluster';
import { CairnError, ErrorCode } from '@cairn/errors';
import type { AppliedPosition } from '../applied-position.js';
import type { RangeTable } from '../range-table.js';
import { exportRevisionBatches } from './revision-source.js';

export interface ProcessorDeps {
  nodeId: number;
  locality: LocalityTier[];
  store: MvccStore;
  ranges: RangeTable;
  applied: AppliedPosition;
  nc: NatsConnection;
  storage: StorageContext;
  /** Called with bytes written per file, for metrics. */
  onFileWritten?: (bytes: number, locality: string) => void;
  /** Restore batches staged here, kept for this node's own replica (see LocalStagedBatches). */
  stagedHere?: LocalStagedBatches;
}

/** Picks this node's destination: its most specific tier that has a URI, else `default`. */
export function layerUriFor(uris: Record<string, string>, tiers: readonly LocalityTier[]): { uri: string; locality: string } {
  for (let i = tiers.length - 1; i >= 0; i--) {
    const t = tiers[i]!;
    const uri = uris[`${t.key}=${t.value}`];
    if (uri) return { uri, locality: `${t.key}=${t.value}` };
  }
  const uri = uris['default'];
  if (!uri) throw new CairnError(ErrorCode.InvalidArgument, 'backup work item without a default destination');
  return { uri, locality: 'default' };
}

/**
 * The chunks of every data file this process writes to a storage that gives them back
 * (`releasesChunksOnPull`: a local dir) are reused from here, a few at a time, instead of a
 * fresh 512 KiB ArrayBuffer each, which only a mark-compact frees (see ChunkPool).
 */
const chunkPool = new ChunkPool();

/**
 * Exports one span of a backup layer: streams its revisions into data files (rolled at the
 * target size, never inside one key's revisions) written to this node's locality's URI.
 */
export async function processBackupItem(deps: ProcessorDeps, payload: Uint8Array, ctx: WorkContext): Promise<Uint8Array> {
  const item = BackupWorkItem.decode(payload);
  const span = { start: item.span!.start, end: item.span!.end };
  const { uri, locality } = layerUriFor(item.layerUris, deps.locality);
  const storage = await openStorage(uri, deps.storage);
  const files: BackupFile[] = [];
  let current: OpenFile | undefined;
  try {
    const revisions = exportRevisionBatches(deps, {
      span,
      startTs: item.startTime,
      endTs: item.endTime,
      allRevisions: item.allRevisions,
      minAppliedSeq: Number(item.minAppliedSeq),
    }, item.replicas);
    const targetFileSize = Number(item.targetFileSize);
    let opened = 0;
    for await (const batch of revisions) {
      for (const slot of batch) {
        if (ctx.signal.aborted) throw new CairnError(ErrorCode.Canceled, 'backup work canceled');
        // The slot's key and value lie in buffers the export reuses (exportRevisionBatches):
        // the writer copies them before anything is awaited, so a full file is finished
        // after the revision went into the next one, and a key kept is copied.
        let finishing: Promise<BackupFile> | undefined;
        if (current && current.writer.bytesWritten >= targetFileSize && current.writer.isNewKey(slot.key, slot.keyLength)) {
          finishing = current.finish(slot.key.slice(0, slot.keyLength));
          // Awaited below; observed now in case the next write throws first.
          finishing.catch(() => undefined);
          current = undefined;
        }
        current ??= openFile(deps, storage, locality, opened++ === 0 ? span.start : slot.key.slice(0, slot.keyLength), item.encryptionKey);
        const flushed = current.writer.writeSlot(slot);
        if (finishing) files.push(await finishing);
        // Awaited only when the revision sent a chunk to the storage, not once per revision.
        if (flushed) await flushed;
      }
    }
    if (current) files.push(await current.finish(span.end));
    current = undefined;
    // A drain or cancel that came while the last file was stored: an item's export has few
    // awaits (one per 512 KiB chunk), so this is often where it lands. The item is handed back
    // rather than reported; its files stay behind unlisted, as after a kill.
    if (ctx.signal.aborted) throw new CairnError(ErrorCode.Canceled, 'backup work canceled');
  } catch (err) {
    // Leave nothing half-written behind (the storage write is atomic once aborted).
    await current?.abort(err instanceof Error ? err : new Error(String(err)));
    throw err;
  } finally {
    await storage.close();
  }
  for (const f of files) deps.onFileWritten?.(Number(f.bytes), f.locality);
  return BackupWorkResult.encode({ span: item.span, files }).finish();
}

interface OpenFile {
  writer: DataFileWriter;
  finish(end: Uint8Array): Promise<BackupFile>;
  abort(err: Error): Promise<void>;
}

function openFile(deps: ProcessorDeps, storage: ExternalStorage, locality: string, start: Uint8Array, key: Uint8Array): OpenFile {
  const path = dataFileName(deps.nodeId);
  const pipe = openWritePipe(storage, joinPath(path), { onChunkDone: (chunk) => chunkPool.give(chunk) });
  const writer = new DataFileWriter({
    sink: (chunk) => pipe.write(chunk),
    chunkPool,
    ...(key.length > 0 ? { encryptionKey: key } : {}),
  });
  return {
    writer,
    abort: (err) => pipe.abort(err),
    finish: async (end) => {
      const summary = await writer.finish();
      const { bytes } = await pipe.end();
      return {
        span: { start, end },
        path,
        entries: BigInt(summary.entries),
        rows: BigInt(summary.rows),
        logicalBytes: BigInt(summary.logicalBytes),
        bytes: BigInt(bytes),
        locality,
        checksum: summary.checksum,
        nodeId: deps.nodeId,
      };
    },
  };
}
