import { collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * prom-client's default gauges whose names end in `_total`: Prometheus keeps that suffix for
 * counters (`promtool check metrics`: non-counter metrics should not have "_total" suffix).
 * Each has a per-type gauge beside it (`nodejs_active_handles{type}`...) whose sum is the same
 * number, so dropping them loses nothing.
 */
const MISNAMED_DEFAULT_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * Registers prom-client's process and Node.js runtime metrics under `prefix`, less the
 * default gauges named like counters, so every process's /metrics passes `promtool check
 * metrics`.
 */
export function collectProcessMetrics(registry: Registry, prefix: string): void {
  collectDefaultMetrics({ register: registry, prefix });
  for (const name of MISNAMED_DEFAULT_GAUGES) {
    if (registry.getSingleMetric(prefix + name) !== undefined) registry.removeSingleMetric(prefix + name);
  }
}
