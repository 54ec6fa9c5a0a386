import { DEFAULT_DATABASES } from '@cairn/catalog';
import type { KV } from 'nats';
import type { DescriptorWriter } from './descriptor-writer.js';

/** Set in `cairn_meta` once a cluster has been given its default databases. */
const CREATED_KEY = 'bootstrap.default-databases';

/**
 * Gives a new cluster the databases CockroachDB creates with one, `defaultdb` and `postgres`,
 * once in its life: a user who drops them does not see them come back. The key is written
 * after the databases, so a leader that dies in between leaves the next one to finish.
 */
export async function ensureDefaultDatabases(deps: { descriptors: DescriptorWriter; meta: KV }): Promise<string[]> {
  const done = await deps.meta.get(CREATED_KEY);
  if (done !== null && done.operation === 'PUT') return [];
  const created = await deps.descriptors.change(async (c) => {
    const missing = DEFAULT_DATABASES.filter((name) => c.catalog.database(name) === undefined);
    for (const name of missing) c.put({ kind: { $case: 'database', value: c.catalog.buildDatabaseDescriptor(name, c.allocateId()) } });
    return missing;
  });
  await deps.meta.put(CREATED_KEY, new TextEncoder().encode('1'));
  return created;
}
