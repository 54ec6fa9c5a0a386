/**
 * The restore batches this process staged, kept in memory for its own replica.
 *
 * A restore processor stages a span's rows on the ingest stream, and every replica of the span
 * then reads them back from it, the processor's own node included: nats-server delivered each
 * batch three times, and the node that had just encoded a batch received and parsed it again.
 * With this, the node's replica loads the batches it staged itself from here, and only the
 * other replicas read the stream.
 *
 * Only ever a shortcut: the stream still holds every batch, and a replica reads it whenever
 * the batches are not all here (over the budget, dropped after a while, taken by an earlier
 * attempt, the process restarted). The bytes kept are the very buffers published (no copy),
 * and nothing changes them once published.
 */
export interface LocalStagedBatchesOptions {
  /** Bytes of batches kept at most; a subject that would pass it is not kept at all. Default 32 MiB. */
  maxBytes?: number;
  /** A subject not taken this long after its last batch is dropped (its restore failed, or another node's replica holds it). Default 2 min. */
  maxAgeMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

interface Kept {
  batches: Uint8Array[];
  bytes: number;
  /** Set once the stager knows every batch was stored: only a sealed subject is handed out. */
  sealed: boolean;
  /**
   * The subject went over the budget: its batches are let go and later ones not kept (a part
   * of a subject is no use, its replica reads the stream anyway).
   */
  refused: boolean;
  touchedAt: number;
}

export class LocalStagedBatches {
  private readonly subjects = new Map<string, Kept>();
  private bytes = 0;
  private readonly maxBytes: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor(o: LocalStagedBatchesOptions = {}) {
    this.maxBytes = o.maxBytes ?? 32 * 1024 * 1024;
    this.maxAgeMs = o.maxAgeMs ?? 120_000;
    this.now = o.now ?? Date.now;
  }

  /** Keeps the next batch of `subject` (in publish order), when there is room for it. */
  keep(subject: string, batch: Uint8Array): void {
    this.dropStale();
    let kept = this.subjects.get(subject);
    if (kept === undefined) {
      kept = { batches: [], bytes: 0, sealed: false, refused: false, touchedAt: this.now() };
      this.subjects.set(subject, kept);
    }
    kept.touchedAt = this.now();
    if (kept.refused) return;
    if (this.bytes + batch.byteLength > this.maxBytes) {
      this.bytes -= kept.bytes;
      kept.batches = [];
      kept.bytes = 0;
      kept.refused = true;
      return;
    }
    kept.batches.push(batch);
    kept.bytes += batch.byteLength;
    this.bytes += batch.byteLength;
  }

  /** Every batch of `subject` is stored on the stream: its batches can be handed out. */
  seal(subject: string): void {
    const kept = this.subjects.get(subject);
    if (kept === undefined) return;
    kept.sealed = true;
    kept.touchedAt = this.now();
  }

  /**
   * The `messages` batches of `subject`, in order, if all of them are here and sealed;
   * undefined otherwise. Either way they are no longer kept: a second read goes to the stream.
   */
  take(subject: string, messages: number): Uint8Array[] | undefined {
    const kept = this.subjects.get(subject);
    this.drop(subject);
    this.dropStale();
    if (kept === undefined || !kept.sealed || kept.refused || kept.batches.length !== messages) return undefined;
    return kept.batches;
  }

  /** Forgets `subject` (its replica is not on this node, or its restore failed). */
  drop(subject: string): void {
    const kept = this.subjects.get(subject);
    if (kept === undefined) return;
    this.subjects.delete(subject);
    this.bytes -= kept.bytes;
  }

  /** Bytes kept now. */
  keptBytes(): number {
    return this.bytes;
  }

  private dropStale(): void {
    const cutoff = this.now() - this.maxAgeMs;
    for (const [subject, kept] of this.subjects) {
      if (kept.touchedAt < cutoff) this.drop(subject);
    }
  }
}
