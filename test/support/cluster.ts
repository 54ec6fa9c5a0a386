import type { CairnClient } from '@cairn/client';
import type { ManagedProcess, ProcessCluster } from '@cairn/testing';

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

/** Stops a whole process cluster (used in afterAll; tolerates a cluster that never started). */
export async function stopCluster(cluster: ProcessCluster | undefined): Promise<void> {
  await cluster?.stop();
}
