import type { StorageContext } from '@cairn/cloud';
import { CairnError, ErrorCode } from '@cairn/errors';
import type { Job, JobContext, JobLogger, Resumer } from '@cairn/jobs';
import { decodeExpiryDetails } from '../jobs/job-details.js';
import { BackupCollection } from './backup-collection.js';
import { chooseExpiredChains, type ExpiryDetails } from './expiry-planner.js';

/**
 * A BACKUP EXPIRY job's progress: the chains it chose and those it has deleted. The choice is
 * made once and saved before anything is deleted, because a chain whose manifest is gone no
 * longer shows in a listing: a retried or adopted job finishes from this list.
 */
export interface ExpiryCheckpoint {
  /** When the chains were chosen (ms), and the cutoff that follows from it (ns, decimal). */
  decidedAtMs: number;
  cutoff: string;
  /** Full subdirs of the chains to delete, oldest first. */
  expire: string[];
  /** Those already dealt with: deleted, or kept after all (see `resume`). */
  done: string[];
  /** Chains deleted so far. */
  deleted: number;
  /** Chains kept, for the log and SHOW JOBS. */
  kept: number;
  /** Files deleted so far. */
  files: number;
  /**
   * Chains the storage refused to delete (an object-locked or write-once bucket, a missing
   * delete permission), with the storage's reason; the job goes on with the others and then
   * fails naming them.
   */
  notDeleted?: Array<{ fullSubdir: string; error: string }>;
}

export function encodeExpiryCheckpoint(c: ExpiryCheckpoint): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(c));
}

export function decodeExpiryCheckpoint(b: Uint8Array): ExpiryCheckpoint {
  return JSON.parse(new TextDecoder().decode(b)) as ExpiryCheckpoint;
}

/** Testing knobs of `ExpiryResumer`, injected per resumer. */
export interface ExpiryResumerKnobs {
  /** The clock the retention is measured against (default `Date.now`). */
  now?: () => number;
  /** Called after a chain's files are deleted and before its checkpoint says so. */
  afterChainDeleted?: (fullSubdir: string, signal: AbortSignal) => Promise<void>;
}

/**
 * Runs a BACKUP EXPIRY job: chooses the chains of the collection the retention expires
 * (`chooseExpiredChains`), checkpoints the choice, then deletes them one by one, oldest
 * first (`BackupCollection.deleteChain`), checkpointing each. Everything it does is
 * idempotent; there is nothing to undo on failure or cancel, since a chain is invisible from
 * the moment its full's manifest is gone.
 */
export class ExpiryResumer implements Resumer {
  constructor(
    private readonly job: Job,
    private readonly storage: StorageContext,
    private readonly log: JobLogger,
    private readonly knobs: ExpiryResumerKnobs = {},
  ) {}

  async resume(ctx: JobContext): Promise<void> {
    const d = decodeExpiryDetails(this.job.spec);
    const collection = await BackupCollection.open(d.collection, this.storage);
    try {
      let cp = ctx.checkpoint ? decodeExpiryCheckpoint(ctx.checkpoint) : await this.decide(collection, d);
      if (!ctx.checkpoint) await ctx.setProgress(0, status(cp), encodeExpiryCheckpoint(cp));
      for (const full of cp.expire) {
        if (cp.done.includes(full)) continue;
        if (ctx.signal.aborted) throw new CairnError(ErrorCode.Canceled, 'backup expiry interrupted');
        // Someone may have appended an incremental to this chain by name since the choice was
        // made (BACKUP INTO '<subdir>' IN ...): newer data is kept, whatever was decided.
        const now = await collection.chainSummary(full);
        if (now.newestEndTime >= BigInt(cp.cutoff)) {
          this.log.warn({ jobId: this.job.id, fullSubdir: full }, 'backup chain gained a newer layer since it was chosen; keeping it');
          cp = { ...cp, done: [...cp.done, full], kept: cp.kept + 1 };
        } else {
          let deleted;
          try {
            deleted = await collection.deleteChain(full, this.storage);
          } catch (err) {
            // A refusal (not a failure worth retrying) is the storage's final word on this
            // chain for now: note it and go on, so one locked chain does not keep the rest.
            if (!(err instanceof CairnError) || err.retryable || err.code === ErrorCode.Canceled) throw err;
            this.log.warn({ jobId: this.job.id, fullSubdir: full, err: err.message }, 'expired backup chain could not be deleted');
            cp = { ...cp, done: [...cp.done, full], notDeleted: [...(cp.notDeleted ?? []), { fullSubdir: full, error: err.message }] };
            await ctx.setProgress(Math.min(0.99, cp.done.length / cp.expire.length), status(cp), encodeExpiryCheckpoint(cp));
            continue;
          }
          await this.knobs.afterChainDeleted?.(full, ctx.signal);
          cp = { ...cp, done: [...cp.done, full], deleted: cp.deleted + 1, files: cp.files + deleted.files };
          this.log.info({ jobId: this.job.id, fullSubdir: full, layers: deleted.layers, files: deleted.files }, 'expired backup chain deleted');
        }
        await ctx.setProgress(Math.min(0.99, cp.done.length / cp.expire.length), status(cp), encodeExpiryCheckpoint(cp));
      }
      const refused = cp.notDeleted ?? [];
      if (refused.length > 0) {
        throw new CairnError(
          ErrorCode.FailedPrecondition,
          `backup expiry could not delete ${String(refused.length)} of ${String(cp.expire.length)} expired backups in ${collection.redacted}: ` +
            `${refused.map((r) => `${r.fullSubdir} (${r.error})`).join('; ')}. They stay restorable and are tried again by the next expiry; ` +
            'on a bucket with Object Lock, files cannot be deleted before their retention date (see docs/operations.md, "Object Lock and retention")',
        );
      }
      await ctx.setProgress(1, status(cp), encodeExpiryCheckpoint(cp));
      this.log.info(
        { jobId: this.job.id, collection: collection.redacted, deleted: cp.deleted, kept: cp.kept, files: cp.files },
        'backup expiry done',
      );
    } finally {
      await collection.close();
    }
  }

  async onFailOrCancel(): Promise<void> {
    // Nothing to undo: deleted files cannot come back, and a chain the job left half deleted
    // is already invisible, its full's manifest having gone first.
  }

  private async decide(collection: BackupCollection, d: ExpiryDetails): Promise<ExpiryCheckpoint> {
    const nowMs = (this.knobs.now ?? Date.now)();
    const plan = chooseExpiredChains({
      chains: await collection.chainSummaries(),
      latestFull: await collection.latestFull(),
      nowMs,
      retentionMs: d.retentionMs,
    });
    this.log.info(
      { jobId: this.job.id, collection: collection.redacted, retention: d.retention, expire: plan.expire.map((c) => c.fullSubdir), kept: plan.keep.length },
      'backup chains chosen for expiry',
    );
    return {
      decidedAtMs: nowMs,
      cutoff: String(plan.cutoff),
      expire: plan.expire.map((c) => c.fullSubdir),
      done: [],
      deleted: 0,
      kept: plan.keep.length,
      files: 0,
    };
  }
}

/** `deleted 2 of 3 expired backups (41 files); 4 kept`: SHOW JOBS' running_status. */
function status(cp: ExpiryCheckpoint): string {
  const refused = cp.notDeleted?.length ?? 0;
  return `deleted ${cp.deleted} of ${cp.expire.length} expired backups (${cp.files} files); ${cp.kept} kept${refused > 0 ? `; ${refused} could not be deleted` : ''}`;
}
