import { describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import { collectProcessMetrics, parseListenAddress, startMetricsServer } from './index.js';

describe('parseListenAddress', () => {
  it('accepts host:port, :port and port', () => {
    expect(parseListenAddress('0.0.0.0:8080')).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(parseListenAddress(':26257')).toEqual({ host: '127.0.0.1', port: 26257 });
    expect(parseListenAddress('9090')).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(parseListenAddress('[::1]:80')).toEqual({ host: '::1', port: 80 });
  });

  it('refuses what is not an address, with the code and the input', () => {
    expect(() => parseListenAddress('localhost:http')).toThrow(/invalid listen address "localhost:http"/);
    expect(() => parseListenAddress('1.2.3.4:70000')).toThrow(/invalid listen address/);
  });
});

describe('startMetricsServer', () => {
  it('serves /metrics in Prometheus format and /health, on a free port', async () => {
    const registry = new Registry();
    const c = new Counter({ name: 'cairn_test_things_total', help: 'things', registers: [registry] });
    c.inc(3);
    let healthy = true;
    const server = await startMetricsServer('127.0.0.1', 0, registry, () => healthy);
    try {
      expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
      const metrics = await fetch(`http://${server.address}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toContain('text/plain');
      expect(await metrics.text()).toContain('cairn_test_things_total 3');
      expect((await fetch(`http://${server.address}/health`)).status).toBe(200);
      healthy = false;
      expect((await fetch(`http://${server.address}/health`)).status).toBe(503);
      expect((await fetch(`http://${server.address}/nope`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});

describe('collectProcessMetrics', () => {
  it('registers the runtime metrics under the prefix with _total on counters only', async () => {
    const registry = new Registry();
    collectProcessMetrics(registry, 'cairn_test_');
    const metrics = await registry.getMetricsAsJSON();
    const names = metrics.map((m) => m.name);
    expect(names).toContain('cairn_test_process_cpu_seconds_total');
    // The per-type gauges stay: their sum is what the dropped `_total` gauges showed.
    expect(names).toContain('cairn_test_nodejs_active_handles');
    const misnamed = metrics.filter((m) => m.name.endsWith('_total') && String(m.type) !== 'counter').map((m) => m.name);
    expect(misnamed).toEqual([]);
  });
});
