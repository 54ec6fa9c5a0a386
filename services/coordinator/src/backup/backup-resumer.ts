import { CairnError, ErrorCode, sideBySide } from '@cairn/errors';
import type { ProtectedTimestampStore, WorkQueue } from '@cairn/cluster';
import type { Job, JobContext, Resumer } from '@cairn/jobs';
import { decodeBackupDetails } from '../jobs/job-details.js';
import {
  BackupCheckpoint,
  BackupWorkItem,
  BackupWorkResult,
  MvccFilter,
  type BackupFile,
  type BackupManifest,
} from '@cairn/proto';
import { joinPath, openStorage, type StorageContext } from '@cairn/cloud';
import {
  checkpointFileName,
  checksumFileName,
  encodeCheckpoint,
  encodePartDescriptor,
  partFileName,
  writeChecksummedFile,
} from '@cairn/backup-format';
import { BackupCollection } from './backup-collection.js';
import { runSpanItems } from './span-items.js';
import { unhex, type BackupDetails } from './backup-details.js';
import { protectBackupJob, releaseBackupJob } from './backup-protection.js';

const CHECKPOINT_INTERVAL_MS = 2000;

/**
 * Runs a BACKUP job: publishes one work item per planned span (skipping spans a checkpoint
 * already has), collects each span's files exactly once, checkpoints, then writes the
 * manifest (and LATEST for a full backup). Nodes do the exporting. The job holds a protected
 * timestamp record on what it reads from its first run until it ends, paused time included.
 */
export class BackupResumer implements Resumer {
  constructor(
    private readonly job: Job,
    private readonly queue: WorkQueue,
    private readonly storage: StorageContext,
    private readonly protectedTs: ProtectedTimestampStore,
  ) {}

  async resume(ctx: JobContext): Promise<void> {
    const d = decodeBackupDetails(this.job.spec);
    const jobId = this.job.id;
    // Before any item is queued (awaited below, ahead of the first publish or the manifest),
    // but beside the queue's opening and the first progress write, not a round trip before
    // them: on a first run the statement's own write of the record is in flight too, and this
    // one then costs two round trips (a refused create, a read).
    const protecting = protectBackupJob(this.protectedTs, jobId, d);
    protecting.catch(() => undefined);
    const done = new Map<string, BackupFile[]>();
    if (ctx.checkpoint) {
      // A resumed job (after a pause or a coordinator failover) skips the spans it has.
      const cp = BackupCheckpoint.decode(ctx.checkpoint);
      for (const sp of cp.completedSpans) done.set(spanIdContaining(d, sp.start), []);
      for (const f of cp.files) done.get(spanIdContaining(d, f.span?.start ?? new Uint8Array(0)))?.push(f);
    }
    const key = d.encryptionKey ? unhex(d.encryptionKey) : undefined;
    let collection: BackupCollection;
    try {
      collection = await BackupCollection.open(d.collection, this.storage);
    } catch (err) {
      // As when the record was written first: its failure is the one reported.
      await protecting;
      throw err;
    }
    try {
      const layerUris = collection.layerUris(d.layerPath);
      // Routed: each span is exported by a node holding it (no export over NATS, no second
      // copy of the data between nodes) unless no live holder is eligible.
      const items = d.spans.map((span, i) => ({
        id: String(i),
        holders: span.replicas,
        payload: BackupWorkItem.encode({
          span: { start: unhex(span.start), end: unhex(span.end) },
          startTime: BigInt(span.startTime),
          endTime: BigInt(d.endTime),
          allRevisions: d.revisionHistory,
          layerUris,
          targetFileSize: BigInt(d.targetFileSize),
          minAppliedSeq: BigInt(d.minAppliedSeq),
          replicas: span.replicas,
          encryptionKey: key ?? new Uint8Array(0),
        }).finish(),
      }));
      let lastCheckpoint = Date.now();
      let previousCheckpoint: string | undefined;
      const total = d.spans.length;
      if (done.size < total) {
        // With the counts from the start (also after an adoption): SHOW JOB and the CLI read them.
        const firstProgress = ctx.setProgress(done.size / total, spanStatus('exporting', done.size, total, loggedBytes(done)));
        firstProgress.catch(() => undefined);
        const beforePublish = sideBySide([protecting, firstProgress]);
        beforePublish.catch(() => undefined);
        const results = runSpanItems(this.queue, jobId, { kind: 'backup', localityFilter: d.executionLocality, routed: true }, items, done, ctx.signal, beforePublish);
        for await (const r of results) {
          done.set(r.itemId, BackupWorkResult.decode(r.payload).files);
          // The last item needs no checkpoint of its own: the job's progress below carries
          // every span, and the manifest follows (a small incremental spent a progress write,
          // two file writes and two deletes on it).
          if (done.size >= total) break;
          if (Date.now() - lastCheckpoint > CHECKPOINT_INTERVAL_MS) {
            const cp = this.checkpoint(d, done);
            ctx.setSpanProgress({ done: done.size, total, bytes: loggedBytes(done), rows: loggedRows(done) });
            await ctx.setProgress(Math.min(0.99, done.size / total), spanStatus('exporting', done.size, total, loggedBytes(done)), cp);
            previousCheckpoint = await this.writeCheckpointFile(collection, d.layerPath, cp, previousCheckpoint, key);
            lastCheckpoint = Date.now();
          }
        }
      }
      // Settled already when items were queued; a run that had none left awaits it here.
      await protecting;
      ctx.setSpanProgress({ done: done.size, total, bytes: loggedBytes(done), rows: loggedRows(done) });
      if (ctx.signal.aborted) throw new CairnError(ErrorCode.Canceled, 'backup interrupted');
      const files = [...done.values()].flat();
      const manifest = this.manifest(d, files);
      // The checkpoint of every span and the part files do not depend on each other (a run
      // resumed after either writes the part files again): side by side.
      const [, partFiles] = await Promise.all([ctx.setProgress(0.99, 'writing manifest', this.checkpoint(d, done)), this.writeParts(d, files, layerUris, key)]);
      manifest.partFiles = partFiles;
      await collection.writeManifest(d.layerPath, manifest, key);
      // The backup is durable: its protection record goes (before `succeeded`, so a finished
      // job holds none, as SHOW PROTECTED TIMESTAMPS shows right after the statement), beside
      // LATEST, which a crash before it leaves for the resumed run to write again.
      await sideBySide([d.movesLatest ? collection.writeLatest(d.fullSubdir, BigInt(d.endTime)) : Promise.resolve(), releaseBackupJob(this.protectedTs, d)]);
      // Held, and written with `succeeded` (the checkpoint at 0.99 already names every span's
      // files, which the statement reports); the queue goes after (afterSuccess).
      await ctx.setProgress(1, null);
    } finally {
      await collection.close();
    }
  }

  /**
   * The job's queue, once `succeeded` is stored: a small incremental is answered sooner (0-11
   * ms, median, 32 MB bench). Left behind by a crash, a new leader's sweep closes it.
   */
  async afterSuccess(): Promise<void> {
    await this.queue.closeJob(this.job.id);
  }

  async onFailOrCancel(): Promise<void> {
    await releaseBackupJob(this.protectedTs, decodeBackupDetails(this.job.spec));
    // Files already written stay (as in CockroachDB) but no manifest or LATEST names them.
    await this.queue.closeJob(this.job.id);
  }

  /**
   * `progress/BACKUP-CHECKPOINT-<desc time>` (+ checksum) in the layer, as CockroachDB keeps
   * one: a plain listing shows the newest first. The previous one is removed.
   */
  private async writeCheckpointFile(
    collection: BackupCollection,
    layerPath: string,
    checkpoint: Uint8Array,
    previous: string | undefined,
    key: Uint8Array | undefined,
  ): Promise<string> {
    const name = joinPath(layerPath, checkpointFileName(BigInt(Date.now()) * 1_000_000n));
    const cp = BackupCheckpoint.decode(checkpoint);
    const { body, checksumBody } = writeChecksummedFile(encodeCheckpoint(cp, key ? { encryptionKey: key } : {}));
    await collection.storage.writeFile(checksumFileName(name), checksumBody);
    await collection.storage.writeFile(name, body);
    if (previous && previous !== name) {
      await collection.storage.delete(previous);
      await collection.storage.delete(checksumFileName(previous));
    }
    return name;
  }

  /**
   * One BACKUP_PART descriptor per non-default locality, in that locality's URI, written side
   * by side: each is a write (and its fsyncs) on another node or store, a few round trips; one
   * after another they were a third of a small locality-aware incremental (130-260 ms of
   * 0.4-0.6 s in a trace, docs/throughput.md "Incremental critical path"). All are written
   * before the manifest that names them.
   */
  private async writeParts(d: BackupDetails, files: BackupFile[], layerUris: Record<string, string>, key: Uint8Array | undefined): Promise<string[]> {
    const localities = [...new Set(files.map((f) => f.locality))].filter((l) => l !== 'default').sort();
    const names = await Promise.all(
      localities.map(async (locality, i) => {
        const uri = layerUris[locality];
        if (!uri) return undefined;
        const name = partFileName(i + 1, locality);
        const storage = await openStorage(uri, this.storage);
        try {
          const part = encodePartDescriptor({ backupId: d.backupId, locality, files: files.filter((f) => f.locality === locality) }, key ? { encryptionKey: key } : {});
          await storage.writeFile(name, part);
        } finally {
          await storage.close();
        }
        return name;
      }),
    );
    return names.filter((n) => n !== undefined);
  }

  private checkpoint(d: BackupDetails, done: Map<string, BackupFile[]>): Uint8Array {
    const completedSpans = [...done.keys()].map((id) => {
      const s = d.spans[Number(id)]!;
      return { start: unhex(s.start), end: unhex(s.end) };
    });
    return BackupCheckpoint.encode({
      backupId: d.backupId,
      jobId: BigInt(this.job.id),
      startTime: BigInt(d.startTime),
      endTime: BigInt(d.endTime),
      completedSpans,
      files: [...done.values()].flat(),
      writtenAt: BigInt(Date.now()) * 1_000_000n,
    }).finish();
  }

  private manifest(d: BackupDetails, files: BackupFile[]): BackupManifest {
    const spans = d.spans.map((s) => ({ start: unhex(s.start), end: unhex(s.end) }));
    return {
      startTime: BigInt(d.startTime),
      endTime: BigInt(d.endTime),
      mvccFilter: d.revisionHistory ? MvccFilter.ALL : MvccFilter.LATEST,
      revisionStartTime: d.revisionHistory ? BigInt(d.revisionStartTime ?? d.startTime) : 0n,
      spans,
      introducedSpans: d.spans.filter((s) => d.incremental && s.startTime === '0').map((s) => ({ start: unhex(s.start), end: unhex(s.end) })),
      descriptors: d.descriptors.map((b) => new Uint8Array(Buffer.from(b, 'base64'))),
      descriptorRevisions: (d.descriptorRevisions ?? []).map((r) => ({
        id: r.id,
        timestamp: BigInt(r.timestamp),
        change: r.descriptor !== undefined
          ? { $case: 'descriptor' as const, value: new Uint8Array(Buffer.from(r.descriptor, 'base64')) }
          : { $case: 'dropped' as const, value: true },
      })),
      files: files.sort((a, b) => Buffer.compare(a.span?.start ?? new Uint8Array(0), b.span?.start ?? new Uint8Array(0))),
      clusterId: '',
      backupId: d.backupId,
      formatVersion: 1,
      isFullCluster: d.isFullCluster,
      dependencies: d.dependencies,
      localityUris: {},
      jobId: BigInt(this.job.id),
      coordinatorNodeId: 0,
      completeDatabaseIds: d.completeDatabaseIds,
      partFiles: [],
      grants: d.grants ?? [],
      clusterMetadata: d.clusterMetadata,
    } as BackupManifest;
  }
}

/** The item id of the planned span containing `key`. */
function spanIdContaining(d: BackupDetails, key: Uint8Array): string {
  const k = Buffer.from(key);
  return String(
    d.spans.findIndex((s) => Buffer.compare(unhex(s.start), k) <= 0 && (s.end === '' || Buffer.compare(k, unhex(s.end)) < 0)),
  );
}

function loggedRows(done: Map<string, BackupFile[]>): bigint {
  let n = 0n;
  for (const files of done.values()) for (const f of files) n += f.rows;
  return n;
}

function loggedBytes(done: Map<string, BackupFile[]>): bigint {
  let n = 0n;
  for (const files of done.values()) for (const f of files) n += f.logicalBytes;
  return n;
}

/** `exporting spans: 3/12, 45.1 MB`: a running status people read and the CLI's progress bar parses. */
export function spanStatus(verb: string, done: number, total: number, bytes: bigint): string {
  return `${verb} spans: ${done}/${total}, ${(Number(bytes) / 1e6).toFixed(1)} MB`;
}
