import type { ServerResponse } from 'node:http';
import type { KV } from 'nats';
import { readAllKeys, type CoordinatorRegistry } from '@cairn/cluster';
import type { HttpRoute } from '@cairn/metrics';
import { NodeRecord, type CoordinatorRecord, type LocalityTier } from '@cairn/proto';

/** Where every coordinator serves Prometheus HTTP service discovery (`http_sd_configs`). */
export const PROMETHEUS_SD_PATH = '/sd/prometheus';

/** One entry of Prometheus' HTTP SD response: targets sharing a set of labels. */
export interface PrometheusTargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/**
 * The scrape targets of a cluster from its registries: every coordinator and every node that
 * has not left on purpose. A crashed process stays listed (its record outlives it), so
 * Prometheus keeps scraping it and `up == 0` pages; a node that drained (SIGTERM) and a
 * coordinator that stopped cleanly drop out, since a planned stop is not an outage. When two
 * records share a metrics address (a process restarted under a new id), the newest heartbeat
 * wins so the dead id cannot alert forever.
 *
 * One group per target, as their labels differ: `cairn_role` (`coordinator` | `node`),
 * `cairn_coordinator_id` or `cairn_node_id`, and `locality_<tier key>` per locality tier
 * (`locality_region`, `locality_zone`; characters Prometheus refuses in a label name become
 * `_`).
 */
export function prometheusTargetGroups(coordinators: CoordinatorRecord[], nodes: NodeRecord[]): PrometheusTargetGroup[] {
  const coordinatorGroups = newestPerAddress(
    coordinators.filter((c) => c.httpAddress !== ''),
    (c) => c.httpAddress,
    (c) => c.heartbeatAtMs,
  )
    .sort((a, b) => a.coordinatorId.localeCompare(b.coordinatorId))
    .map((c) => ({ targets: [c.httpAddress], labels: withLocality({ cairn_role: 'coordinator', cairn_coordinator_id: c.coordinatorId }, c.locality) }));
  const nodeGroups = newestPerAddress(
    nodes.filter((n) => n.address !== '' && !n.draining),
    (n) => n.address,
    (n) => n.heartbeatAtMs,
  )
    .sort((a, b) => a.nodeId - b.nodeId)
    .map((n) => ({ targets: [n.address], labels: withLocality({ cairn_role: 'node', cairn_node_id: String(n.nodeId) }, n.locality) }));
  return [...coordinatorGroups, ...nodeGroups];
}

function withLocality(labels: Record<string, string>, locality: readonly LocalityTier[]): Record<string, string> {
  for (const tier of locality) labels[localityLabel(tier.key)] = tier.value;
  return labels;
}

/** `locality_<key>`, with what a Prometheus label name cannot hold replaced by `_`. */
export function localityLabel(key: string): string {
  return `locality_${key.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

function newestPerAddress<T>(records: T[], address: (r: T) => string, heartbeat: (r: T) => bigint): T[] {
  const byAddress = new Map<string, T>();
  for (const r of records) {
    const seen = byAddress.get(address(r));
    if (!seen || heartbeat(r) > heartbeat(seen)) byAddress.set(address(r), r);
  }
  return [...byAddress.values()];
}

/**
 * The `GET /sd/prometheus` handler: reads both registries on each request (Prometheus asks
 * every `refresh_interval`, 60 s by default), so any coordinator, a standby too, answers with
 * the cluster as it is. When NATS cannot be read the request fails (500) and Prometheus keeps
 * the targets it had.
 */
export function prometheusSdRoute(registries: { coordinators: CoordinatorRegistry; nodes: KV }): HttpRoute {
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply(res, 405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }, 'method not allowed\n');
      return;
    }
    const [coordinators, nodeValues] = await Promise.all([registries.coordinators.list(), readAllKeys(registries.nodes)]);
    const nodes: NodeRecord[] = [];
    for (const value of nodeValues.values()) {
      try {
        nodes.push(NodeRecord.decode(value));
      } catch {
        // One unreadable record must not hide every other target.
      }
    }
    reply(res, 200, { 'content-type': 'application/json' }, `${JSON.stringify(prometheusTargetGroups(coordinators, nodes))}\n`);
  };
}

function reply(res: ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  res.writeHead(status, headers);
  res.end(body);
}
