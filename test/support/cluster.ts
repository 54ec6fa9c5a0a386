import type { CairnClient } from '@cairn/client';
import { waitFor, type ManagedProcess } from '@cairn/testing';

/** The process at `index`, failing the test with a clear message when there is none. */
export function at<T>(items: readonly T[], index: number, what = 'item'): T {
  const item = items[index];
  if (item === undefined) throw new Error(`no ${what} at index ${index} (have ${items.length})`);
  return item;
}

/** The node id a node process reported in its ready line. */
export function nodeIdOf(node: ManagedProcess): number {
  const id = node.readyInfo['nodeId'];
  if (typeof id !== 'number') throw new Error(`${node.name} reported no numeric nodeId: ${JSON.stringify(node.readyInfo)}`);
  return id;
}

/** Rows of `SHOW NODES` as objects keyed by column name. */
export async function showNodes(client: CairnClient): Promise<Record<string, string | null>[]> {
  const r = await client.execute('SHOW NODES');
  return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i] ?? null])));
}

/**
 * The fingerprint of `database.table` as read from each node's own replicas, all at one
 * timestamp (the cluster's current time unless `timestamp` is given).
 */
export async function replicaFingerprints(
  client: CairnClient,
  nodeIds: number[],
  database: string,
  table: string,
  timestamp?: bigint,
): Promise<{ timestamp: bigint; byNode: Map<number, string> }> {
  const ts = timestamp ?? (await client.fingerprint({ database, table })).timestamp;
  const byNode = new Map<number, string>();
  for (const nodeId of nodeIds) {
    const res = await client.fingerprint({ database, table, timestamp: ts, nodeId });
    if (res.timestamp !== ts) throw new Error(`node ${nodeId} fingerprinted at ${res.timestamp}, asked for ${ts}`);
    const fp = res.tables.find((t) => t.tableName === table)?.fingerprint;
    if (fp === undefined) throw new Error(`node ${nodeId} returned no fingerprint for ${database}.${table}`);
    byNode.set(nodeId, fp);
  }
  return { timestamp: ts, byNode };
}

/** The replica node ids of each range of a table, from `SHOW RANGES FROM TABLE`. */
export async function rangeReplicas(client: CairnClient, table: string): Promise<number[][]> {
  const r = await client.execute(`SHOW RANGES FROM TABLE ${table}`);
  const col = r.columns.indexOf('replicas');
  if (col < 0) throw new Error(`SHOW RANGES has no replicas column: ${r.columns.join(', ')}`);
  return r.rows.map((row) =>
    (row[col] ?? '')
      .replace(/[{}]/g, '')
      .split(',')
      .filter((s) => s !== '')
      .map(Number)
      .sort((a, b) => a - b),
  );
}

/**
 * Waits until every range of `table` has a replica on each of `nodeIds`. Ranges are
 * up-replicated asynchronously as nodes join, so a cluster that has just started may still
 * hold some ranges on fewer nodes.
 */
export async function waitForReplicas(client: CairnClient, table: string, nodeIds: number[], timeoutMs = 30_000): Promise<number[][]> {
  const want = [...nodeIds].sort((a, b) => a - b);
  return waitFor(
    async () => {
      const ranges = await rangeReplicas(client, table);
      return ranges.length > 0 && ranges.every((r) => r.join(',') === want.join(',')) ? ranges : undefined;
    },
    { what: `every range of ${table} replicated on nodes ${want.join(',')}`, timeoutMs, intervalMs: 250 },
  );
}
