import type { Logger } from '@cairn/metrics';
import type { StorageContext } from '@cairn/cloud';
import { BackupCollection } from '../backup/backup-collection.js';
import type { ManagedBackupRecord, ManagedBackupStore } from './managed-backup-store.js';

/**
 * Deletes the chains of expired managed fulls (a full expires together with the incrementals
 * on it), then their records. The records are the checkpoint: a chain's records go only once
 * `deleteChain` (idempotent, manifest first, so the chain is never half visible) has returned,
 * so a leader that dies part way leaves the records for the next one to finish. LATEST's chain
 * is kept (it is what the next incremental appends to); it is not listed once expired.
 */
export async function deleteExpiredChains(
  deps: { readonly store: ManagedBackupStore; readonly storage: StorageContext; readonly log: Logger },
  collectionUri: string,
  nowMs: number,
): Promise<number> {
  const records = await deps.store.records();
  // Whatever its outcome: a full's run ends long before its expiry (two days at the least).
  const expired = new Set(records.filter((r) => r.type === 'FULL' && r.expiresAtMs <= nowMs).map((r) => r.fullSubdir));
  if (expired.size === 0) return 0;
  const collection = await BackupCollection.open([collectionUri], deps.storage);
  let deleted = 0;
  try {
    const latest = await collection.latestFull();
    const norm = (s: string) => s.replace(/^\/+/, '').replace(/\/+$/, '');
    for (const full of expired) {
      if (latest !== undefined && norm(latest) === norm(full)) continue;
      const { layers, files } = await collection.deleteChain(full, deps.storage);
      const chain: ManagedBackupRecord[] = records.filter((r) => r.fullSubdir === full);
      for (const r of chain) await deps.store.deleteRecord(r.jobId);
      deps.log.info({ collection: collection.redacted, fullSubdir: full, layers, files }, 'expired managed backup chain deleted');
      deleted++;
    }
  } finally {
    await collection.close();
  }
  return deleted;
}
