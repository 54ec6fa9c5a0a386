import type { NatsConnection } from 'nats';
import { DataFileReader, type RandomAccessSource } from '@cairn/backup-format';
import { KeyRewriter } from '@cairn/catalog';
import { collectBytes, openStorage, type ExternalStorage } from '@cairn/cloud';
import { CairnError, ErrorCode } from '@cairn/errors';
import { IngestStager, LEADER_INGEST_REF_SUBJECT, ingestSubject, retryNats, type WorkContext } from '@cairn/cluster';
import { IngestRef, RestoreWorkItem, RestoreWorkResult, type KeyValueOp } from '@cairn/proto';
import type { ProcessorDeps } from './backup-processor.js';
import { mergeRevisions, visibleAt } from './merge-revisions.js';

/** Rows per staged message: large enough to amortize a publish, small enough to bound memory. */
const BATCH_BYTES = 256 * 1024;

function storageSource(storage: ExternalStorage, path: string): RandomAccessSource {
  let size: Promise<number> | undefined;
  return {
    size: () => (size ??= storage.size(path)),
    read: (offset, length) => collectBytes(storage.readFile(path, { offset, length })),
  };
}

/**
 * Has the leader append the log entry naming staged rows; resolves once it is stored, so the
 * rows are then part of the log like any write (replicas load them at the entry's position).
 */
async function logIngest(nc: NatsConnection, ref: IngestRef): Promise<void> {
  const data = IngestRef.encode(ref).finish();
  // Through a leader change (no responder, or a leader whose writer just broke) ask again for
  // a while instead of redoing the whole span: the staged rows are still there. Logging the
  // same reference twice is harmless, replicas load the same rows again. A request the old
  // leader received just before it was killed is never answered: each attempt waits 10 s (a
  // live leader answers in milliseconds), not a minute, before asking the new leader.
  await retryNats(
    async () => {
      const reply = await nc.request(LEADER_INGEST_REF_SUBJECT, data, { timeout: 10_000 });
      if (reply.data.byteLength > 0) {
        throw new CairnError(ErrorCode.Unavailable, `no coordinator leader logged the restored rows: ${new TextDecoder().decode(reply.data)}`, { retryable: true });
      }
    },
    { what: 'no coordinator leader logged the restored rows', budgetMs: 60_000 },
  );
}

/**
 * Restores one span: reads the overlapping files of every layer (verifying each block's
 * checksum), merges them, keeps each key's state at the restore time, rewrites table ids and
 * stages the result on the ingest stream; then the leader logs one small entry naming it and
 * every replica loads the rows from the stream (AddSSTable's shape: the leader never carries
 * the data). A file that fails its checksum fails the item before anything is logged.
 */
export async function processRestoreItem(deps: ProcessorDeps, payload: Uint8Array, ctx: WorkContext): Promise<Uint8Array> {
  const item = RestoreWorkItem.decode(payload);
  const span = { start: item.span!.start, end: item.span!.end };
  const rewriter = new KeyRewriter(new Map(item.rewrites.map((r) => [r.oldId, r.newId])));
  const storages = new Map<string, ExternalStorage>();
  const js = deps.nc.jetstream();
  try {
    const sources = [];
    for (const f of item.files) {
      let storage = storages.get(f.layerUri);
      if (!storage) {
        storage = await openStorage(f.layerUri, deps.storage);
        storages.set(f.layerUri, storage);
      }
      const reader = new DataFileReader(f.path, storageSource(storage, f.path), item.encryptionKey.length > 0 ? { encryptionKey: item.encryptionKey } : {});
      sources.push({ layer: f.layer, blocks: reader.iterateBlocks(span) });
    }
    const stager = new IngestStager(js, ingestSubject(ctx.jobId, ctx.itemId, ctx.attempt), deps.stagedHere);
    let rows = 0;
    let bytes = 0;
    let batch: KeyValueOp[] = [];
    let batchBytes = 0;
    let first: Uint8Array | undefined;
    let last: Uint8Array | undefined;
    for await (const kvs of visibleAt(mergeRevisions(sources), item.endTime)) {
      if (ctx.signal.aborted) throw new CairnError(ErrorCode.Canceled, 'restore work canceled');
      for (const kv of kvs) {
        const key = rewriter.rewrite(kv.key);
        if (!first || Buffer.compare(key, first) < 0) first = key;
        if (!last || Buffer.compare(key, last) > 0) last = key;
        batch.push({ key, value: kv.value });
        const size = kv.key.length + kv.value.length;
        batchBytes += size;
        rows++;
        bytes += size;
        if (batchBytes >= BATCH_BYTES) {
          await stager.add(batch);
          batch = [];
          batchBytes = 0;
        }
      }
    }
    if (batch.length > 0) await stager.add(batch);
    const messages = await stager.finish();
    if (messages > 0 && first && last) {
      const end = new Uint8Array(last.length + 1);
      end.set(last);
      await logIngest(deps.nc, { subject: stager.subject, messages, startKey: first, endKey: end, rows: BigInt(rows) });
    }
    return RestoreWorkResult.encode({ rows: BigInt(rows), bytes: BigInt(bytes) }).finish();
  } finally {
    for (const s of storages.values()) await s.close();
  }
}
