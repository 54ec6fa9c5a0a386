import { EventEmitter } from 'node:events';
import type { KV } from 'nats';
import { JsApiCode, isJsApiError } from './nats-errors.js';
import { retryNats } from './nats-retry.js';

const LEASE_KEY = 'leader';

/** What the lease holder advertises: who it is and where clients reach its gRPC API. */
export interface LeaderInfo {
  coordinatorId: string;
  grpcAddress: string;
  acquiredAtMs: number;
}

export type LeaseEvents = {
  elected: [LeaderInfo];
  lost: [reason: string];
};

/**
 * Coordinator leadership as a lease in a KV bucket whose entries expire after the TTL.
 *
 * Acquisition uses `kv.create()`, which only succeeds when the key is absent (expired or
 * released): the one primitive that is safe on Debian's nats-server 2.9 (TOOLCHAIN.md).
 * The holder renews with `update(rev)`; being the only writer, it never contends. A holder
 * that cannot renew for more than half the TTL steps down before a standby can take over,
 * so two leaders never act at once (the write log's expected-sequence check fences the rest).
 */
export class LeaderLease extends EventEmitter<LeaseEvents> {
  private revision = 0;
  private acquiredAtMs = 0;
  /** When the last successful write was sent: the entry cannot expire before this + TTL. */
  private lastRenewMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private inflight: Promise<void> | undefined;

  constructor(
    private readonly kv: KV,
    private readonly self: Omit<LeaderInfo, 'acquiredAtMs'>,
    private readonly ttlMs: number,
  ) {
    super();
  }

  get isLeader(): boolean {
    return this.revision !== 0;
  }

  /** Starts competing for the lease (again, after `stop()`). */
  start(): void {
    this.stopped = false;
    if (this.timer) clearInterval(this.timer);
    const tick = Math.max(100, Math.floor(this.ttlMs / 4));
    this.timer = setInterval(() => this.step(), tick);
    this.step();
  }

  /** Releases the lease (clean shutdown) so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
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
    const sinceRenew = Date.now() - this.lastRenewMs;
    if (this.isLeader && sinceRenew > this.ttlMs / 2) this.stepDown(`lease not renewed for ${sinceRenew}ms`);
    if (this.inflight) return;
    this.inflight = (this.isLeader ? this.renew() : this.tryAcquire()).finally(() => {
      this.inflight = undefined;
    });
  }

  private stepDown(reason: string): void {
    this.revision = 0;
    this.emit('lost', reason);
  }

  private async tryAcquire(): Promise<void> {
    const sentAt = Date.now();
    const info: LeaderInfo = { ...this.self, acquiredAtMs: sentAt };
    try {
      this.revision = await this.kv.create(LEASE_KEY, encode(info));
      this.acquiredAtMs = sentAt;
      this.lastRenewMs = sentAt;
      // When stopped meanwhile, stop() releases it instead.
      if (!this.stopped) this.emit('elected', info);
    } catch {
      // Held by someone else (or NATS unavailable): try again next tick.
    }
  }

  private async renew(): Promise<void> {
    const sentAt = Date.now();
    const info: LeaderInfo = { ...this.self, acquiredAtMs: this.acquiredAtMs };
    try {
      const revision = await this.kv.update(LEASE_KEY, encode(info), this.revision);
      // Stepped down while the request hung: the entry just written expires on its own.
      if (!this.isLeader) return;
      this.revision = revision;
      this.lastRenewMs = sentAt;
    } catch (err) {
      if (!this.isLeader) return;
      const lostFor = Date.now() - this.lastRenewMs;
      const taken = isJsApiError(err, JsApiCode.WrongLastSequence);
      if (taken || lostFor > this.ttlMs / 2) {
        this.stepDown(taken ? 'lease taken by another coordinator' : `lease not renewed for ${lostFor}ms`);
      }
    }
  }
}

function encode(v: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(v));
}
