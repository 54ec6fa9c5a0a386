import type { NatsConnection } from 'nats';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterState, CoordinatorRegistry, NodeRegistry, connectNats } from '@cairn/cluster';
import { startMetricsServer, type MetricsServer } from '@cairn/metrics';
import type { CoordinatorRecord, NodeRecord } from '@cairn/proto';
import { startNatsServer, type NatsServerHandle } from '@cairn/testing';
import { PROMETHEUS_SD_PATH, localityLabel, prometheusSdRoute, prometheusTargetGroups } from './service-discovery.js';

function coordinator(id: string, httpAddress: string, heartbeatAtMs = 1000n, region?: string): CoordinatorRecord {
  return {
    coordinatorId: id,
    httpAddress,
    grpcAddress: '127.0.0.1:26257',
    startedAtMs: 1n,
    heartbeatAtMs,
    buildVersion: 'test',
    locality: region ? [{ key: 'region', value: region }] : [],
  };
}

function node(nodeId: number, address: string, locality: string, over: Partial<NodeRecord> = {}): NodeRecord {
  return {
    nodeId,
    address,
    locality: locality.split(',').map((t) => {
      const [key, value] = t.split('=');
      return { key: key!, value: value! };
    }),
    startedAtMs: 1n,
    heartbeatAtMs: 1000n,
    ranges: 0,
    appliedSeq: 0n,
    draining: false,
    buildVersion: 'test',
    ...over,
  };
}

describe('prometheusTargetGroups', () => {
  it('lists coordinators then nodes, one group each, with role, id and locality labels', () => {
    const groups = prometheusTargetGroups(
      [coordinator('coordinator-b', '10.0.0.2:8080', 1000n, 'us-west1'), coordinator('coordinator-a', '10.0.0.1:8080')],
      [node(2, '10.0.1.2:8081', 'region=us-west1,zone=us-west1-a'), node(1, '10.0.1.1:8081', 'region=us-east1')],
    );
    expect(groups).toEqual([
      { targets: ['10.0.0.1:8080'], labels: { cairn_role: 'coordinator', cairn_coordinator_id: 'coordinator-a' } },
      { targets: ['10.0.0.2:8080'], labels: { cairn_role: 'coordinator', cairn_coordinator_id: 'coordinator-b', locality_region: 'us-west1' } },
      { targets: ['10.0.1.1:8081'], labels: { cairn_role: 'node', cairn_node_id: '1', locality_region: 'us-east1' } },
      {
        targets: ['10.0.1.2:8081'],
        labels: { cairn_role: 'node', cairn_node_id: '2', locality_region: 'us-west1', locality_zone: 'us-west1-a' },
      },
    ]);
  });

  it('keeps crashed processes (so up == 0 pages), drops drained nodes, and keeps the newest record per address', () => {
    const groups = prometheusTargetGroups(
      [coordinator('old-id', '10.0.0.1:8080', 1000n), coordinator('new-id', '10.0.0.1:8080', 2000n), coordinator('no-http', '')],
      [
        // Its heartbeat is long past: it crashed. It stays a target.
        node(1, '10.0.1.1:8081', 'region=a', { heartbeatAtMs: 1n }),
        node(2, '10.0.1.2:8081', 'region=b', { draining: true }),
        // A store wiped and started again on the same address under a new node id.
        node(3, '10.0.1.3:8081', 'region=c', { heartbeatAtMs: 500n }),
        node(4, '10.0.1.3:8081', 'region=c', { heartbeatAtMs: 900n }),
      ],
    );
    expect(groups.map((g) => g.labels['cairn_coordinator_id'] ?? g.labels['cairn_node_id'])).toEqual(['new-id', '1', '4']);
  });

  it('makes a locality tier key a valid Prometheus label name', () => {
    expect(localityLabel('region')).toBe('locality_region');
    expect(localityLabel('cloud.provider-zone')).toBe('locality_cloud_provider_zone');
  });
});

describe(`GET ${PROMETHEUS_SD_PATH}`, () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let http: MetricsServer;
  let coordinators: CoordinatorRegistry;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats(server.url, 'sd-test');
    const state = await ClusterState.open(nc);
    coordinators = await CoordinatorRegistry.open(state);
    await coordinators.put(coordinator('coordinator-0', '127.0.0.1:18080'));
    await new NodeRegistry(state.nodes).put(node(1, '127.0.0.1:18081', 'region=us-east1,zone=us-east1-b'));
    http = await startMetricsServer('127.0.0.1', 0, new Registry(), {
      routes: { [PROMETHEUS_SD_PATH]: prometheusSdRoute({ coordinators, nodes: state.nodes }) },
    });
  });
  afterAll(async () => {
    await http?.close();
    await nc?.close();
    await server?.stop();
  });

  it('answers JSON in http_sd_configs format from the registries, as they are at each request', async () => {
    const res = await fetch(`http://${http.address}${PROMETHEUS_SD_PATH}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual([
      { targets: ['127.0.0.1:18080'], labels: { cairn_role: 'coordinator', cairn_coordinator_id: 'coordinator-0' } },
      { targets: ['127.0.0.1:18081'], labels: { cairn_role: 'node', cairn_node_id: '1', locality_region: 'us-east1', locality_zone: 'us-east1-b' } },
    ]);

    await coordinators.put(coordinator('coordinator-1', '127.0.0.1:18082'));
    const again = (await (await fetch(`http://${http.address}${PROMETHEUS_SD_PATH}`)).json()) as Array<{ targets: string[] }>;
    expect(again.flatMap((g) => g.targets)).toEqual(['127.0.0.1:18080', '127.0.0.1:18082', '127.0.0.1:18081']);
  });

  it('refuses other methods', async () => {
    const res = await fetch(`http://${http.address}${PROMETHEUS_SD_PATH}`, { method: 'POST' });
    expect(res.status).toBe(405);
  });
});
