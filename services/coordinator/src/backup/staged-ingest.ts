import type { JetStreamManager, NatsConnection, Subscription } from 'nats';
import { LEADER_INGEST_REF_SUBJECT, isLive, purgeStaged } from '@cairn/cluster';
import type { Logger } from '@cairn/metrics';
import { IngestRef, type NodeRecord } from '@cairn/proto';

/** Appends a log entry naming staged rows; `stored` settles once JetStream has it. */
export type IngestRefAppender = (ref: IngestRef) => { seq: number; stored: Promise<unknown> };

/**
 * The leader's side of restores that bypass it: restore processors stage their rows on the
 * ingest stream and send here only a reference, which the leader appends to the log (so the
 * rows take their place in log order) and answers once stored. It remembers what it logged
 * and purges each subject once every live node has applied its entry; whatever a leader
 * failover forgets expires with the stream's max age.
 */
export class StagedIngest {
  private sub: Subscription | undefined;
  private readonly logged: Array<{ subject: string; seq: number }> = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly log: Logger,
  ) {}

  serve(append: IngestRefAppender): void {
    this.sub = this.nc.subscribe(LEADER_INGEST_REF_SUBJECT, {
      callback: (err, msg) => {
        if (err) return;
        let entry;
        try {
          const ref = IngestRef.decode(msg.data);
          entry = append(ref);
          this.logged.push({ subject: ref.subject, seq: entry.seq });
        } catch (e) {
          msg.respond(new TextEncoder().encode(e instanceof Error ? e.message : String(e)));
          return;
        }
        entry.stored.then(
          () => msg.respond(new Uint8Array(0)),
          (e: unknown) => msg.respond(new TextEncoder().encode(e instanceof Error ? e.message : String(e))),
        );
      },
    });
  }

  /** Purges the staged rows of every entry all live nodes have applied. */
  async purgeApplied(nodes: readonly NodeRecord[]): Promise<void> {
    const now = Date.now();
    const live = nodes.filter((n) => isLive(n, now));
    if (live.length === 0 || this.logged.length === 0) return;
    const applied = Math.min(...live.map((n) => Number(n.appliedSeq)));
    while (this.logged.length > 0 && this.logged[0]!.seq <= applied) {
      const { subject } = this.logged[0]!;
      try {
        await purgeStaged(this.jsm, subject);
      } catch (err) {
        this.log.warn({ err, subject }, 'cannot purge staged restore rows yet');
        return;
      }
      this.logged.shift();
    }
  }

  stop(): void {
    this.sub?.unsubscribe();
  }
}
