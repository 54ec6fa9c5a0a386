import type { NatsConnection } from 'nats';
import { DataFileReader, type RandomAccessSource } from '@cairn/backup-format';
import { KeyRewriter } from '@cairn/catalog';
import { collectBytes, openStorage, type ExternalStorage } from '@cairn/cloud';
import { CairnError, ErrorCode } from '@cairn/errors';
import type { WorkContext } from '@cairn/cluster';
import { RestoreWorkItem, RestoreWorkResult, WriteBatch, type KeyValueOp } from '@cairn/proto';
import type { ProcessorDeps } from './backup-processor.js';
import { mergeRevisions, visibleAt } from './merge-revisions.js';

/** Subject the coordinator leader serves to append restored key/values to the write log. */
export const LEADER_INGEST_SUBJECT = 'cairn.leader.ingest';
const BATCH_BYTES = 256 * 1024;
const INGEST_IN_FLIGHT = 4;

function storageSource(storage: ExternalStorage, path: string): RandomAccessSource {
  let size: Promise<number> | undefined;
  return {
    size: () => (size ??= storage.size(path)),
    read: (offset, length) => collectBytes(storage.readFile(path, { offset, length })),
  };
}

/** Sends restored key/values to the leader, which appends them to the replicated log. */
export async function ingestBatch(nc: NatsConnection, ops: KeyValueOp[]): Promise<void> {
  let reply;
  try {
    reply = await nc.request(LEADER_INGEST_SUBJECT, WriteBatch.encode({ ops }).finish(), { timeout: 60_000 });
  } catch (err) {
    throw new CairnError(ErrorCode.Unavailable, `no coordinator leader took the restored data: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
      retryable: true,
    });
  }
  if (reply.data.byteLength > 0) {
    throw new CairnError(ErrorCode.Unavailable, new TextDecoder().decode(reply.data), { retryable: true });
  }
}

/**
 * Restores one span: reads the overlapping files of every layer (verifying each block's
 * checksum), merges them, keeps each key's state at the restore time, rewrites table ids and
 * ingests the result.
 */
export async function processRestoreItem(deps: ProcessorDeps, payload: Uint8Array, ctx: WorkContext): Promise<Uint8Array> {
  const item = RestoreWorkItem.decode(payload);
  const span = { start: item.span!.start, end: item.span!.end };
  const rewriter = new KeyRewriter(new Map(item.rewrites.map((r) => [r.oldId, r.newId])));
  const storages = new Map<string, ExternalStorage>();
  try {
    const sources = [];
    for (const f of item.files) {
      let storage = storages.get(f.layerUri);
      if (!storage) {
        storage = await openStorage(f.layerUri, deps.storage);
        storages.set(f.layerUri, storage);
      }
      const reader = new DataFileReader(f.path, storageSource(storage, f.path), item.encryptionKey.length > 0 ? { encryptionKey: item.encryptionKey } : {});
      sources.push({ layer: f.layer, revisions: reader.iterate(span) });
    }
    let rows = 0n;
    let bytes = 0n;
    let batch: KeyValueOp[] = [];
    const inFlight: Promise<void>[] = [];
    let batchBytes = 0;
    for await (const kv of visibleAt(mergeRevisions(sources), item.endTime)) {
      if (ctx.signal.aborted) throw new CairnError(ErrorCode.Canceled, 'restore work canceled');
      batch.push({ key: rewriter.rewrite(kv.key), value: kv.value });
      batchBytes += kv.key.length + kv.value.length;
      rows++;
      bytes += BigInt(kv.key.length + kv.value.length);
      if (batchBytes >= BATCH_BYTES) {
        // A few batches in flight: reading and decoding files overlaps the log appends.
        inFlight.push(observed(ingestBatch(deps.nc, batch)));
        if (inFlight.length >= INGEST_IN_FLIGHT) await inFlight.shift();
        batch = [];
        batchBytes = 0;
      }
    }
    if (batch.length > 0) inFlight.push(observed(ingestBatch(deps.nc, batch)));
    await Promise.all(inFlight.splice(0));
    return RestoreWorkResult.encode({ rows, bytes }).finish();
  } finally {
    for (const s of storages.values()) await s.close();
  }
}

/** A promise whose rejection counts as handled until someone awaits it (no process crash). */
function observed<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}
