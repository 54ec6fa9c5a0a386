/**
 * The value of an unlabelled gauge or counter on a process's Prometheus endpoint
 * (`http://<address>/metrics`), or undefined when the metric is absent.
 */
export async function scrapeMetric(address: string, name: string): Promise<number | undefined> {
  const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(2_000) });
  if (!res.ok) throw new Error(`GET http://${address}/metrics: HTTP ${res.status}`);
  const text = await res.text();
  for (const line of text.split('\n')) {
    const [metric, value] = line.trim().split(/\s+/);
    if (metric === name && value !== undefined) return Number(value);
  }
  return undefined;
}
