import { CairnError, ErrorCode } from '@cairn/errors';

/**
 * The node's position in the write log, and the readers waiting for it to advance: a read
 * at time T must not run until every write at or before T has been applied here.
 *
 * It also carries the MVCC timestamp of the last applied entry: the cluster's time as this
 * node knows it (the leader stamps every entry), which is what GC measures its TTL against
 * instead of the local wall clock.
 */
export class AppliedPosition {
  private waiters: Array<{ seq: number; resolve: () => void; timer: NodeJS.Timeout }> = [];

  constructor(
    private current: number,
    private currentTimestamp = 0n,
  ) {}

  get seq(): number {
    return this.current;
  }

  /** Timestamp of the last applied entry; 0n until one is known. */
  get timestamp(): bigint {
    return this.currentTimestamp;
  }

  advance(seq: number, timestamp?: bigint): void {
    this.current = seq;
    if (timestamp !== undefined && timestamp > this.currentTimestamp) this.currentTimestamp = timestamp;
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => w.seq <= seq);
    this.waiters = this.waiters.filter((w) => w.seq > seq);
    for (const w of ready) {
      clearTimeout(w.timer);
      w.resolve();
    }
  }

  async waitFor(seq: number, timeoutMs: number): Promise<void> {
    if (!(await this.reached(seq, timeoutMs))) {
      throw new CairnError(ErrorCode.Unavailable, `replica is behind: applied ${this.current}, need ${seq}`, { retryable: true });
    }
  }

  /** Whether the log is applied up to `seq` within `timeoutMs` (false once it has waited that long). */
  async reached(seq: number, timeoutMs: number): Promise<boolean> {
    if (seq <= this.current) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        resolve(false);
      }, timeoutMs);
      this.waiters.push({ seq, resolve: () => resolve(true), timer });
    });
  }
}
