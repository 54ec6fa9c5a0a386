import { CairnError, ErrorCode } from '@cairn/errors';
import { KeyRewriter, decodeDescriptor } from '@cairn/catalog';
import type { WorkQueue } from '@cairn/cluster';
import type { Job, JobContext, Resumer } from '@cairn/jobs';
import { decodeRestoreDetails } from '../jobs/job-details.js';
import { prefixEnd, tablePrefix } from '@cairn/keys';
import { DescriptorState, RestoreWorkItem, RestoreWorkResult, type Descriptor } from '@cairn/proto';
import type { Logger } from '@cairn/metrics';
import type { DescriptorChange, DescriptorWriter } from '../catalog/descriptor-writer.js';
import { runSpanItems } from './span-items.js';
import { unhex } from './backup-details.js';
import type { RestoreDetails } from './restore-details.js';
import { spanStatus } from './backup-resumer.js';
import { restoreClusterMetadata, type ClusterMetadataStores } from './cluster-metadata.js';
import type { ReplicaCatchUp } from './replica-catch-up.js';

/**
 * Runs a RESTORE job: creates the new objects OFFLINE, has nodes restore every span (merge
 * layers, rewrite keys, ingest), then makes the objects PUBLIC. Failure or cancel drops them.
 */
export class RestoreResumer implements Resumer {
  constructor(
    private readonly job: Job,
    /**
     * What a restore needs of the leader: schema changes and a logger, not the leader; and
     * whether this job restores a cluster in place (erasing its user databases first).
     */
    private readonly leader: {
      readonly descriptors: DescriptorWriter; readonly clusterMetadata: ClusterMetadataStores;
      readonly log: Logger;
      readonly restoresInPlace?: (jobId: string) => Promise<boolean>;
      /** Waits until the replicas have loaded the rows the items staged (replica-catch-up.ts). */
      readonly replicas: ReplicaCatchUp;
    },
    private readonly queue: WorkQueue,
  ) {}

  async resume(ctx: JobContext): Promise<void> {
    const d = decodeRestoreDetails(this.job.spec);
    const jobId = this.job.id;
    const descriptors = d.descriptors.map((b) => decodeDescriptor(new Uint8Array(Buffer.from(b, 'base64'))));
    await this.createOffline(descriptors, d);

    const saved = ctx.checkpoint ? decodeRestoreCheckpoint(ctx.checkpoint) : { done: [], rows: '0', bytes: '0' };
    const done = new Set<string>(saved.done);
    let rows = BigInt(saved.rows);
    let bytes = BigInt(saved.bytes);
    if (done.size < d.items.length) {
      const items = d.items.map((it, i) => ({
        id: String(i),
        payload: RestoreWorkItem.encode({
          span: { start: unhex(it.start), end: unhex(it.end) },
          files: it.files.map((f) => ({ layerUri: d.layers[f.layer]![f.locality] ?? d.layers[f.layer]!['default']!, path: f.path, layer: f.layer })),
          endTime: BigInt(d.endTime),
          rewrites: d.rewrites,
          encryptionKey: d.encryptionKey ? unhex(d.encryptionKey) : new Uint8Array(0),
        }).finish(),
      }));
      const results = runSpanItems(this.queue, jobId, { kind: 'restore', localityFilter: d.executionLocality ?? [] }, items, done, ctx.signal);
      await ctx.setProgress(done.size / Math.max(1, d.items.length), 'restoring spans');
      for await (const r of results) {
        const res = RestoreWorkResult.decode(r.payload);
        rows += res.rows;
        bytes += res.bytes;
        done.add(r.itemId);
        const cp = encodeRestoreCheckpoint({ done: [...done], rows: String(rows), bytes: String(bytes) });
        ctx.setSpanProgress({ done: done.size, total: d.items.length, bytes, rows });
        await ctx.setProgress(Math.min(0.99, done.size / d.items.length), spanStatus('restoring', done.size, d.items.length, bytes), cp);
        if (done.size >= d.items.length) break;
      }
      if (ctx.signal.aborted) throw new CairnError(ErrorCode.Canceled, 'restore interrupted');
    }
    // Every item's rows are in the log; the tables go public once replicas have loaded them,
    // so a read right after the RESTORE does not wait on (or time out behind) the loading.
    await ctx.setProgress(0.99, 'loading restored rows on replicas');
    await this.leader.replicas.untilApplied(
      d.newTableIds.map((id) => ({ start: tablePrefix(id), end: prefixEnd(tablePrefix(id)) })),
      ctx.signal,
    );
    if (d.clusterMetadata) {
      // Before the objects go PUBLIC: once they are visible, so are their grants.
      const ids = new Map(d.rewrites.map((r) => [r.oldId, r.newId]));
      await restoreClusterMetadata(this.leader.clusterMetadata, d.clusterMetadata, d.grants ?? [], ids);
    }
    await this.setState(descriptors, DescriptorState.PUBLIC);
    // Held and written with `succeeded`: the last result's checkpoint already counts every row.
    await ctx.setProgress(1, null);
    this.leader.log.info({ jobId, rows: String(rows) }, 'restore done');
  }

  /** The job's queue, once `succeeded` is stored; left behind by a crash, the leader's start sweeps it. */
  async afterSuccess(): Promise<void> {
    await this.queue.closeJob(this.job.id);
  }

  async onFailOrCancel(): Promise<void> {
    await this.queue.closeJob(this.job.id);
    const d = decodeRestoreDetails(this.job.spec);
    const descriptors = d.descriptors.map((b) => decodeDescriptor(new Uint8Array(Buffer.from(b, 'base64'))));
    // Only what this job created (still OFFLINE) is dropped.
    const ours = descriptors.filter((x) => {
      const cur = this.leader.descriptors.catalog.descriptor(x.kind!.value.id);
      return cur !== undefined && cur.kind!.value.state === DescriptorState.OFFLINE;
    });
    await this.setState(ours, DescriptorState.DROPPED);
  }

  private async createOffline(descriptors: Descriptor[], d: RestoreDetails): Promise<void> {
    const inPlace = (await this.leader.restoresInPlace?.(this.job.id)) === true;
    await this.leader.descriptors.change(async (c) => {
      const missing = descriptors.filter((x) => c.catalog.descriptor(x.kind!.value.id) === undefined);
      if (missing.length === 0) return;
      // A cluster restored in place: every user database goes in the same batch that creates
      // the restored objects, so no reader (and no leader taking over) ever sees a cluster
      // half erased, or erased without the restore's objects to fill in.
      if (inPlace) eraseUserDatabases(c, new Set(d.names.map((n) => n.id)));
      for (const n of d.names) {
        const taken = n.parentId === 0 ? c.catalog.database(n.name) : undefined;
        if (taken && taken.id !== n.id && !inPlace) throw new CairnError(ErrorCode.DuplicateObject, `database "${n.name}" already exists`);
      }
      await c.splitAt([...d.newTableIds.flatMap((id) => [tablePrefix(id), prefixEnd(tablePrefix(id))]), ...preSplitKeys(d)]);
      for (const x of missing) c.put(x);
    });
  }

  private async setState(descriptors: Descriptor[], state: DescriptorState): Promise<void> {
    if (descriptors.length === 0) return;
    await this.leader.descriptors.change(async (c) => {
      for (const x of descriptors) {
        const updated: Descriptor =
          x.kind!.$case === 'database'
            ? { kind: { $case: 'database', value: { ...x.kind!.value, state } } }
            : { kind: { $case: 'table', value: { ...x.kind!.value, state } } };
        // A dropped object frees its name; OFFLINE and PUBLIC objects hold theirs.
        if (state === DescriptorState.DROPPED) c.putWithoutName(updated);
        else c.put(updated);
      }
    });
  }
}

/** Drops every database (and its tables) not in `keep`, freeing their names. */
function eraseUserDatabases(c: DescriptorChange, keep: ReadonlySet<number>): void {
  for (const db of c.catalog.databases()) {
    if (keep.has(db.id)) continue;
    for (const t of c.catalog.tablesIn(db.id)) c.putWithoutName({ kind: { $case: 'table', value: { ...t, state: DescriptorState.DROPPED } } });
    c.putWithoutName({ kind: { $case: 'database', value: { ...db, state: DescriptorState.DROPPED } } });
  }
}

/** A restore's progress: the items done and the rows and bytes they restored. */
export interface RestoreCheckpoint {
  done: string[];
  rows: string;
  bytes: string;
}

export function encodeRestoreCheckpoint(c: RestoreCheckpoint): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(c));
}

export function decodeRestoreCheckpoint(b: Uint8Array): RestoreCheckpoint {
  return JSON.parse(new TextDecoder().decode(b)) as RestoreCheckpoint;
}

/**
 * At most this many cuts before a restore, whatever the number of items: each cut is a range
 * update every replica applies, and what is left over (ranges of several items) is cut by size
 * as the rows arrive, as before.
 */
const MAX_PRE_SPLITS = 256;

/**
 * Where the restored tables are cut before any row arrives: at the items' starts (the backup's
 * data files' starts, in the new table ids), as CockroachDB's restore splits at its spans
 * before it ingests. Otherwise each new table began as one range that the leader's size check
 * cut again and again while the restore filled it, each cut a scan of the range for split
 * keys on one replica and a scan of its pieces for their counters on every replica: in a CPU
 * profile of a 512 MB restore, 13% of a node's main thread. Every n-th item's start when there
 * are more items than MAX_PRE_SPLITS.
 */
export function preSplitKeys(d: Pick<RestoreDetails, 'items' | 'rewrites'>): Uint8Array[] {
  const rewriter = new KeyRewriter(new Map(d.rewrites.map((r) => [r.oldId, r.newId])));
  const every = Math.max(1, Math.ceil(d.items.length / MAX_PRE_SPLITS));
  const keys: Uint8Array[] = [];
  for (let i = 0; i < d.items.length; i += every) {
    const start = unhex(d.items[i]!.start);
    const key = start.length > 0 ? rewriter.tryRewrite(start) : undefined;
    if (key !== undefined) keys.push(key);
  }
  return keys;
}
