import { waitFor, type ManagedProcess, type ProcessCluster } from '@cairn/testing';
import { at } from './cluster.js';
import { scrapeMetric } from './metrics.js';

/** An address a process reported in its ready line (`grpc`, `metrics`). */
export function reportedAddress(proc: ManagedProcess, key: 'grpc' | 'metrics'): string {
  const address = proc.readyInfo[key];
  if (typeof address !== 'string') throw new Error(`${proc.name} reported no ${key} address: ${JSON.stringify(proc.readyInfo)}`);
  return address;
}

/**
 * Waits until exactly one running coordinator reports `cairn_coordinator_is_leader 1` on its
 * /metrics and returns it.
 */
export async function leaderCoordinator(cluster: ProcessCluster, timeoutMs = 15_000): Promise<ManagedProcess> {
  const index = await waitFor(
    async () => {
      const gauges = await Promise.all(
        cluster.coordinators.map((c) =>
          c.running ? scrapeMetric(reportedAddress(c, 'metrics'), 'cairn_coordinator_is_leader').catch(() => undefined) : undefined,
        ),
      );
      const leaders = gauges.flatMap((g, i) => (g === 1 ? [i] : []));
      return leaders.length === 1 ? leaders[0] : undefined;
    },
    { what: 'exactly one coordinator with cairn_coordinator_is_leader 1', timeoutMs, intervalMs: 100 },
  );
  return at(cluster.coordinators, index, 'coordinator');
}
