import { randomBytes, randomUUID } from 'node:crypto';
import { CairnError } from '@cairn/errors';
import type { ExternalStorage } from './external-storage.js';
import { openStorage, type StorageContext } from './open-storage.js';

/** What one write/read/delete round trip against a storage showed. */
export interface StorageProbeResult {
  ok: boolean;
  /** The first failure's message (storages' messages carry redacted URIs only); '' when ok. */
  error: string;
  transferredBytes: number;
  writeSeconds: number;
  readSeconds: number;
  /** The probe file could be deleted: false on object-locked or write-once buckets. */
  canDelete: boolean;
}

/** Where probe files go, apart from backups (CockroachDB writes its checks to a similar side path). */
export const PROBE_DIRECTORY = 'cairn-connection-check';

/**
 * Writes `bytes` random bytes to a fresh file, reads them back and compares, then deletes it:
 * what a backup does to a storage, timed. Never throws; the outcome says what failed.
 */
export async function probeStorage(storage: ExternalStorage, bytes: number, label = 'probe'): Promise<StorageProbeResult> {
  const path = `${PROBE_DIRECTORY}/${label}-${randomUUID()}.bin`;
  const body = new Uint8Array(randomBytes(bytes));
  const out: StorageProbeResult = { ok: false, error: '', transferredBytes: 0, writeSeconds: 0, readSeconds: 0, canDelete: false };
  const message = (err: unknown): string => (err instanceof CairnError || err instanceof Error ? err.message : String(err));
  let t = performance.now();
  try {
    await storage.writeFile(path, body);
    out.writeSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    const back = await storage.readAll(path);
    out.readSeconds = (performance.now() - t) / 1000;
    if (Buffer.compare(Buffer.from(back), Buffer.from(body)) !== 0) {
      out.error = `read back ${String(back.length)} bytes that differ from the ${String(bytes)} written to ${storage.uri}`;
      return out;
    }
    out.transferredBytes = bytes;
  } catch (err) {
    out.error = message(err);
    return out;
  }
  try {
    await storage.delete(path);
    out.canDelete = true;
    out.ok = true;
  } catch (err) {
    out.error = `wrote and read back, but cannot delete (retention will not be able to expire backups here): ${message(err)}`;
    out.ok = true;
  }
  return out;
}

/** Opens `uri` as this process would for a backup and probes it; opening errors are reported, not thrown. */
export async function probeStorageUri(
  uri: string,
  ctx: StorageContext,
  bytes: number,
  label?: string,
): Promise<StorageProbeResult> {
  let storage: ExternalStorage;
  try {
    storage = await openStorage(uri, ctx);
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err), transferredBytes: 0, writeSeconds: 0, readSeconds: 0, canDelete: false };
  }
  try {
    return await probeStorage(storage, bytes, label);
  } finally {
    await storage.close();
  }
}
