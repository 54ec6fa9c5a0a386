import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { KV, KvEntry, NatsConnection, Subscription } from 'nats';
import { JsApiCode, isJsApiError, isNoResponders } from './nats-errors.js';
import { retryNats } from './nats-retry.js';
import { watchConnection } from './nats-connection.js';

const LEASE_KEY = 'leader';
/** The holder answers requests on this subject while it holds the lease. */
export const LEADER_PRESENCE_SUBJECT = 'cairn.leader.presence';
/**
 * A standby breaks the lease after the holder's presence has been missing this long: NATS
 * says "no responders" at once when the holder's connection is gone from the whole NATS
 * cluster (its process died), while a holder whose NATS server died is back on another one
 * well within it. The holder steps down after being disconnected for PRESENCE_MARGIN_MS less.
 */
const PRESENCE_GRACE_MS = 3000;
const PRESENCE_MARGIN_MS = 1000;
const PRESENCE_PROBE_TIMEOUT_MS = 500;

/** What the lease holder advertises: who it is and where clients reach its gRPC API. */
export interface LeaderInfo {
  coordinatorId: string;
  grpcAddress: string;
  acquiredAtMs: number;
  /**
   * Which LeaderLease instance wrote the entry (random per instance): how a holder
   * recognises its own write when the request that made it timed out and a retry then
   * finds the revision moved on. Absent in entries written before it existed.
   */
  incarnation?: string;
}

export type LeaseEvents = {
  elected: [LeaderInfo];
  lost: [reason: string];
};

/**
 * Coordinator leadership as a lease in a KV bucket whose entries expire after the TTL.
 *
 * Acquisition uses `kv.create()`, which only succeeds when the key is absent (expired,
 * released or broken): the one primitive that is safe on Debian's nats-server 2.9
 * (TOOLCHAIN.md). The holder renews with `update(rev)`; being the only writer, it never
 * contends.
 *
 * Two ways to lose it, sized for the two failures of a deployment:
 * - NATS loses a server. Streams whose leader was on it elect a new one (2-6 s seen here),
 *   and renewals fail meanwhile. The holder keeps the lease through that: it steps down only
 *   when it has not renewed for most of the TTL (`stepDownAfterMs`), before the entry can
 *   expire.
 * - The holder's process dies. With a presence connection, the holder answers on
 *   LEADER_PRESENCE_SUBJECT and standbys ask it each tick: once NATS has said "no
 *   responders" for PRESENCE_GRACE_MS in a row while the entry went unrenewed, a standby
 *   deletes the entry (only the revision it saw) and takes the lease, without waiting out
 *   the TTL. A holder cut off from
 *   NATS for that long (less a margin) steps down first, so a lease is broken only under a
 *   holder that no longer acts. Should NATS routes split while the holder stays connected,
 *   two coordinators could lead for a moment: the write log's expected-sequence check
 *   fences the old one's writes.
 * Without a presence connection only the TTL hands over, and the holder steps down at half
 * of it.
 */
export class LeaderLease extends EventEmitter<LeaseEvents> {
  private revision = 0;
  private acquiredAtMs = 0;
  /** When the last successful write was sent: the entry cannot expire before this + TTL. */
  private lastRenewMs = 0;
  /** When the first renewal since the last success was sent whose outcome is unknown. */
  private unansweredSinceMs: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private inflight: Promise<void> | undefined;
  private presenceSub: Subscription | undefined;
  /** Since when probes of the holder's presence have all found no responder... */
  private absentSinceMs: number | undefined;
  /** ...and the lease entry's revision has stayed this one. */
  private absentRevision = 0;
  /** Since when this process's connection has been down (undefined while connected). */
  private disconnectedSinceMs: number | undefined;
  private stopStatus: (() => void) | undefined;
  private readonly tickMs: number;
  private readonly stepDownAfterMs: number;
  /**
   * Stamped in every entry this instance writes, to recognise its own writes (see
   * LeaderInfo.incarnation). Renewed on stepping down: an entry of a term given up is not
   * this instance's to adopt again.
   */
  private incarnation = randomUUID();

  constructor(
    private readonly kv: KV,
    private readonly self: Omit<LeaderInfo, 'acquiredAtMs'>,
    private readonly ttlMs: number,
    /** The process's connection, for presence (see the class comment). */
    private readonly presence?: NatsConnection,
  ) {
    super();
    this.tickMs = presence ? Math.min(500, Math.max(100, Math.floor(ttlMs / 4))) : Math.max(100, Math.floor(ttlMs / 4));
    this.stepDownAfterMs = presence ? Math.floor(ttlMs * 0.7) : ttlMs / 2;
  }

  get isLeader(): boolean {
    return this.revision !== 0;
  }

  /** Starts competing for the lease (again, after `stop()`). */
  start(): void {
    this.stopped = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => this.step(), this.tickMs);
    if (this.presence && !this.stopStatus) this.stopStatus = this.followConnection(this.presence);
    this.step();
  }

  /** Releases the lease (clean shutdown) so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.stopStatus?.();
    this.stopStatus = undefined;
    this.withdrawPresence();
    // An acquisition or renewal still in flight may yet succeed: release what it leaves.
    await this.inflight;
    if (this.isLeader) {
      // Worth a few tries (renewal-sized timeouts are short, and a loaded machine may miss
      // one): a release that fails leaves standbys waiting out the TTL.
      await retryNats(() => this.kv.delete(LEASE_KEY, { previousSeq: this.revision }), {
        what: 'cannot release the leader lease',
        budgetMs: Math.max(1000, this.ttlMs / 2),
        initialDelayMs: 50,
      }).catch(() => {
        // Already expired or taken (wrong last sequence), or NATS is away: nothing to release.
      });
      this.revision = 0;
    }
  }

  /** The current holder, as recorded in the bucket (undefined when none). */
  async current(): Promise<LeaderInfo | undefined> {
    // Unlike renewals, a lookup may wait out a NATS failover: standbys forward through it.
    const e = await retryNats(() => this.kv.get(LEASE_KEY), { what: 'cannot read the leader lease', budgetMs: 15_000 });
    if (!e || e.operation !== 'PUT' || e.value.length === 0) return undefined;
    return JSON.parse(new TextDecoder().decode(e.value)) as LeaderInfo;
  }

  private step(): void {
    if (this.stopped) return;
    // Checked on every tick, even while a renewal hangs on a lost connection (until the
    // JetStream request timeout, longer than the TTL): the holder must give up before its
    // entry can expire and a standby take over.
    const now = Date.now();
    const sinceRenew = now - this.lastRenewMs;
    if (this.isLeader && sinceRenew > this.stepDownAfterMs) this.stepDown(`lease not renewed for ${sinceRenew}ms`);
    const offline = this.disconnectedSinceMs === undefined ? 0 : now - this.disconnectedSinceMs;
    if (this.isLeader && offline > PRESENCE_GRACE_MS - PRESENCE_MARGIN_MS) this.stepDown(`cut off from NATS for ${offline}ms`);
    if (this.inflight) return;
    this.inflight = (this.isLeader ? this.renew() : this.tryAcquire()).finally(() => {
      this.inflight = undefined;
    });
  }

  private stepDown(reason: string): void {
    this.revision = 0;
    this.incarnation = randomUUID();
    this.withdrawPresence();
    this.emit('lost', reason);
  }

  /** Tracks whether this process's connection is up (a holder cut off must step down). */
  private followConnection(nc: NatsConnection): () => void {
    return watchConnection(nc, (change) => {
      if (change === 'reconnect') this.disconnectedSinceMs = undefined;
      else this.disconnectedSinceMs ??= Date.now();
      // Interest seen through a server this process just left or joined proves nothing:
      // a standby counts the holder's absence afresh.
      this.absentSinceMs = undefined;
    });
  }

  private announcePresence(): void {
    if (!this.presence || this.presenceSub) return;
    this.presenceSub = this.presence.subscribe(LEADER_PRESENCE_SUBJECT, {
      callback: (_err, m) => {
        if (this.isLeader) m.respond(new TextEncoder().encode(this.self.coordinatorId));
      },
    });
  }

  private withdrawPresence(): void {
    this.presenceSub?.unsubscribe();
    this.presenceSub = undefined;
  }

  /**
   * A standby's check of the holder: breaks the lease once the holder's presence has been
   * missing for the grace period (see the class comment), and returns whether it did. Anything
   * but "no responders" (an answer, a timeout, this process's own connection being down)
   * proves nothing either way and restarts the count only when the holder answered.
   */
  private async checkHolder(entry: KvEntry): Promise<boolean> {
    if (!this.presence || entry.operation !== 'PUT') return false;
    try {
      await this.presence.request(LEADER_PRESENCE_SUBJECT, new Uint8Array(0), { timeout: PRESENCE_PROBE_TIMEOUT_MS });
      this.absentSinceMs = undefined;
      return false;
    } catch (err) {
      if (!isNoResponders(err) || this.disconnectedSinceMs !== undefined) return false;
    }
    const now = Date.now();
    if (this.absentSinceMs === undefined || entry.revision !== this.absentRevision) {
      // The count starts (again) at this revision: a holder that renews meanwhile is alive,
      // whatever its presence looks like from here (seen: interest missing for a moment
      // after a NATS server died, while the holder renewed).
      this.absentSinceMs = now;
      this.absentRevision = entry.revision;
      return false;
    }
    if (now - this.absentSinceMs < PRESENCE_GRACE_MS) return false;
    // Neither present nor renewing for the grace period: delete exactly that revision, so a
    // renewal that lands meanwhile makes the delete fail.
    this.absentSinceMs = undefined;
    return this.kv.delete(LEASE_KEY, { previousSeq: entry.revision }).then(
      () => true,
      () => false,
    );
  }

  private async tryAcquire(): Promise<void> {
    const sentAt = Date.now();
    const info: LeaderInfo = { ...this.self, acquiredAtMs: sentAt, incarnation: this.incarnation };
    try {
      this.becomeLeader(await this.kv.create(LEASE_KEY, encode(info)), sentAt);
    } catch (err) {
      // NATS unavailable: try again next tick.
      if (!isJsApiError(err, JsApiCode.WrongLastSequence)) return;
      const entry = await this.kv.get(LEASE_KEY).catch(() => undefined);
      const mine = this.ownWrite(entry);
      // An earlier attempt of ours landed although its answer was lost (a timeout during a
      // NATS election): the lease is ours since that attempt was sent.
      if (entry && mine) this.becomeLeader(entry.revision, mine.acquiredAtMs);
      // Held by someone else: is the holder still there? Once its lease is broken, compete
      // at once rather than a tick later.
      else if (entry && (await this.checkHolder(entry)) && !this.stopped) await this.tryAcquire();
    }
  }

  private becomeLeader(revision: number, sentAt: number): void {
    this.revision = revision;
    this.unansweredSinceMs = undefined;
    this.acquiredAtMs = sentAt;
    this.lastRenewMs = sentAt;
    this.absentSinceMs = undefined;
    // When stopped meanwhile, stop() releases it instead.
    if (!this.stopped) {
      this.announcePresence();
      this.emit('elected', { ...this.self, acquiredAtMs: sentAt, incarnation: this.incarnation });
    }
  }

  /** The entry's holder info when this instance wrote it. */
  private ownWrite(entry: KvEntry | null | undefined): LeaderInfo | undefined {
    if (!entry || entry.operation !== 'PUT' || entry.value.length === 0) return undefined;
    const info = decode(entry.value);
    return info?.incarnation === this.incarnation ? info : undefined;
  }

  private async renew(): Promise<void> {
    const sentAt = Date.now();
    const info: LeaderInfo = { ...this.self, acquiredAtMs: this.acquiredAtMs, incarnation: this.incarnation };
    try {
      const revision = await this.kv.update(LEASE_KEY, encode(info), this.revision);
      // Stepped down while the request hung: the entry just written expires on its own.
      if (!this.isLeader) return;
      this.revision = revision;
      this.lastRenewMs = sentAt;
      this.unansweredSinceMs = undefined;
    } catch (err) {
      if (!this.isLeader) return;
      let taken = isJsApiError(err, JsApiCode.WrongLastSequence);
      if (taken) {
        // Seen in a NATS election: a renewal timed out here but was applied, so the next one
        // names a stale revision. The entry is still ours: carry on from its revision. It was
        // written by a request sent no earlier than the first unanswered one.
        const entry = await this.kv.get(LEASE_KEY).catch(() => undefined);
        if (!this.isLeader) return;
        if (entry && this.ownWrite(entry)) {
          this.revision = entry.revision;
          if (this.unansweredSinceMs !== undefined) this.lastRenewMs = Math.max(this.lastRenewMs, this.unansweredSinceMs);
          this.unansweredSinceMs = undefined;
          taken = false;
        }
      } else {
        this.unansweredSinceMs ??= sentAt;
      }
      const lostFor = Date.now() - this.lastRenewMs;
      if (taken || lostFor > this.stepDownAfterMs) {
        this.stepDown(taken ? 'lease taken by another coordinator' : `lease not renewed for ${lostFor}ms`);
      }
    }
  }
}

function encode(v: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(v));
}

function decode(b: Uint8Array): LeaderInfo | undefined {
  try {
    return JSON.parse(new TextDecoder().decode(b)) as LeaderInfo;
  } catch {
    return undefined;
  }
}
