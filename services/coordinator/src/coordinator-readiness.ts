import type { NatsConnection } from 'nats';
import type { LeaderInfo } from '@cairn/cluster';
import { cachedFor, evaluateReadiness, respondsWithin, type Readiness, type ReadinessCheck } from '@cairn/metrics';

/** How long a NATS round trip may take before the coordinator reports itself not ready. */
const NATS_PROBE_TIMEOUT_MS = 1000;
/** How often the gRPC health status is re-evaluated (HTTP probes evaluate on each request). */
const GRPC_HEALTH_INTERVAL_MS = 1000;

export interface CoordinatorReadinessDeps {
  nc: NatsConnection;
  coordinatorId: string;
  /** True while this coordinator holds the lease and its Leader has started. */
  leading(): boolean;
  /** The lease holder as recorded in the bucket (any coordinator). */
  leaseHolder(): Promise<LeaderInfo | undefined>;
  /** Told each time the verdict is evaluated on the timer (the gRPC health service). */
  onChange(ready: boolean): void;
}

/**
 * When a coordinator is ready to take traffic: NATS answers, and a leader is known (itself,
 * once its Leader runs, or another coordinator named by the lease, to which it forwards).
 * Its JetStream state is open by construction: this exists only after `ClusterState.open`.
 * Draining (SIGTERM) makes it not ready at once, so load balancers stop sending calls before
 * the API closes.
 */
export class CoordinatorReadiness {
  private draining = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly checks: ReadinessCheck[];

  constructor(private readonly deps: CoordinatorReadinessDeps) {
    const holder = cachedFor(1000, () => deps.leaseHolder());
    this.checks = [
      () => (this.draining ? 'draining' : undefined),
      respondsWithin(() => deps.nc.rtt(), NATS_PROBE_TIMEOUT_MS, 'NATS not reachable'),
      async () => {
        if (deps.leading()) return undefined;
        const h = await holder();
        if (!h) return 'no coordinator leader known yet';
        // Elected, but its Leader is still starting: it can neither serve nor forward yet.
        return h.coordinatorId === deps.coordinatorId ? 'leader starting' : undefined;
      },
    ];
  }

  check(): Promise<Readiness> {
    return evaluateReadiness(this.checks);
  }

  /** Re-evaluates every second and reports the verdict to `onChange` (gRPC health). */
  start(): void {
    const tick = (): void => {
      void this.check().then((r) => {
        if (this.timer) this.deps.onChange(r.ready && !this.draining);
      });
    };
    this.timer = setInterval(tick, GRPC_HEALTH_INTERVAL_MS);
    tick();
  }

  /** Not ready from now on; the gRPC health turns NOT_SERVING at once. */
  drain(): void {
    this.draining = true;
    this.deps.onChange(false);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
