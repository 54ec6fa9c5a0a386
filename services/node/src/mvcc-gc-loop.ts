import type { JetStreamManager } from 'nats';
import {
  DEFAULT_GC_INTERVAL,
  DEFAULT_GC_TTL_SECONDS,
  GC_INTERVAL_SETTING,
  GC_TTL_SETTING,
  LOG_STREAM,
  type ProtectedTimestampCache,
  type SettingsView,
} from '@cairn/cluster';
import { FIRST_USER_ID, decodeTableId } from '@cairn/keys';
import type { MvccStore } from '@cairn/mvcc';
import type { Logger } from '@cairn/metrics';
import { LogEntry } from '@cairn/proto';
import type { AppliedPosition } from './applied-position.js';
import type { RangeTable } from './range-table.js';

const NANOS_PER_SECOND = 1_000_000_000n;
/** The loop looks at the interval setting at least this often, so a shorter one applies soon. */
const MAX_POLL_MS = 1000;

/** What one GC round over this node's replicas did. */
export interface GcRound {
  /**
   * `now - gc.ttlseconds` on the cluster's time line (before protected timestamps), for the
   * ranges that follow the setting; a table with a TTL of its own has its own threshold.
   */
  readonly threshold: bigint;
  /** Revisions removed over every replica. */
  readonly removed: number;
  /** Replicas (ranges held here) collected. */
  readonly ranges: number;
  /** Replicas whose threshold a protected timestamp record held back. */
  readonly heldBack: number;
}

export interface MvccGcLoopOptions {
  readonly store: MvccStore;
  readonly ranges: RangeTable;
  /** Gives the cluster's time: the timestamp of the last log entry applied here. */
  readonly applied: AppliedPosition;
  readonly settings: SettingsView;
  readonly protectedTimestamps: ProtectedTimestampCache;
  /**
   * A table's own GC TTL (its zone configuration, or its database's); undefined: the
   * `gc.ttlseconds` setting applies. Absent: every range follows the setting.
   */
  readonly tableGcTtlSeconds?: (tableId: number) => number | undefined;
  readonly log: Logger;
  /** Called after each round that ran (metrics). */
  readonly onRound?: (round: GcRound) => void;
}

/**
 * The node's MVCC garbage collector (CockroachDB's MVCC GC queue, one round over every
 * replica per `kv.gc.interval`): removes revisions overwritten more than `gc.ttlseconds` ago,
 * except those a protected timestamp record still needs.
 *
 * "Now" is the timestamp of the newest log entry this replica applied, never the local wall
 * clock: the leader stamps every entry, so a node with a skewed clock cannot collect early,
 * and a replica never collects history it has not caught up to. On an idle cluster the
 * threshold therefore waits for the next write.
 */
export class MvccGcLoop {
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private stopped = true;
  private lastRunMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly o: MvccGcLoopOptions) {}

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  /** Stops the loop and waits for a round in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.round;
  }

  /**
   * One round over every replica this node holds. Undefined when the cluster's time is not
   * known yet (nothing applied since start) or the TTL reaches back before the epoch.
   */
  async runOnce(): Promise<GcRound | undefined> {
    const now = this.o.applied.timestamp;
    const ttlSeconds = this.o.settings.getInt(GC_TTL_SETTING, DEFAULT_GC_TTL_SECONDS);
    const threshold = now - BigInt(ttlSeconds) * NANOS_PER_SECOND;
    if (now === 0n) return undefined;
    let removed = 0;
    let heldBack = 0;
    const held = this.o.ranges.held();
    for (const r of held) {
      const span = { start: r.startKey, end: r.endKey };
      // Ranges split at table boundaries: a range's first key says which table's zone applies.
      const own = this.tableTtl(r.startKey);
      const rangeThreshold = own === undefined ? threshold : now - BigInt(own) * NANOS_PER_SECOND;
      if (rangeThreshold <= 0n) continue;
      const protectedTs = this.o.protectedTimestamps.timestampsProtecting(span);
      if (protectedTs.some((p) => p < rangeThreshold)) heldBack++;
      removed += (await this.o.store.gc(span, rangeThreshold, protectedTs)).removed;
    }
    return { threshold, removed, ranges: held.length, heldBack };
  }

  /** The GC TTL of the user table a range starts in, when its zone sets one. */
  private tableTtl(startKey: Uint8Array): number | undefined {
    if (this.o.tableGcTtlSeconds === undefined || startKey.length === 0) return undefined;
    let tableId: number;
    try {
      tableId = decodeTableId(startKey);
    } catch {
      return undefined;
    }
    return tableId >= FIRST_USER_ID ? this.o.tableGcTtlSeconds(tableId) : undefined;
  }

  private schedule(): void {
    if (this.stopped) return;
    const intervalMs = this.o.settings.getDurationMs(GC_INTERVAL_SETTING, DEFAULT_GC_INTERVAL);
    const dueInMs = Math.max(0, this.lastRunMs + intervalMs - performance.now());
    this.timer = setTimeout(() => {
      if (this.stopped) return;
      // The interval may have changed while waiting: run only once it has really elapsed.
      if (performance.now() - this.lastRunMs < this.o.settings.getDurationMs(GC_INTERVAL_SETTING, DEFAULT_GC_INTERVAL)) {
        this.schedule();
        return;
      }
      this.lastRunMs = performance.now();
      this.round = this.runLogged().finally(() => {
        this.round = undefined;
        this.schedule();
      });
    }, Math.min(dueInMs, MAX_POLL_MS));
  }

  private async runLogged(): Promise<void> {
    try {
      const round = await this.runOnce();
      if (!round) return;
      this.o.onRound?.(round);
      const meta = { component: 'gc', threshold: String(round.threshold), removed: round.removed, ranges: round.ranges, heldBack: round.heldBack };
      if (round.removed > 0) this.o.log.info(meta, 'mvcc gc removed revisions');
      else this.o.log.debug(meta, 'mvcc gc round');
    } catch (err) {
      this.o.log.warn({ component: 'gc', err }, 'mvcc gc round failed; will retry');
    }
  }
}

/**
 * The timestamp of log entry `seq` (what the node applied last before a restart), so GC knows
 * the cluster's time before the next entry arrives; 0n when there is none.
 */
export async function logTimestampAt(jsm: JetStreamManager, seq: number): Promise<bigint> {
  if (seq <= 0) return 0n;
  try {
    const m = await jsm.streams.getMessage(LOG_STREAM, { seq });
    return LogEntry.decode(m.data).timestamp;
  } catch {
    // Unknown until the next entry is applied: GC just waits for it.
    return 0n;
  }
}
