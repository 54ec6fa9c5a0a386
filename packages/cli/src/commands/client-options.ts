import { CairnClient } from '@cairn/client';

export const DEFAULT_HOST = '127.0.0.1:26257';

/** `--host a,b` → a client that fails over between the given coordinators. */
export function clientFor(host: string, retryForMs = 15_000): CairnClient {
  return new CairnClient({ addresses: host.split(',').map((h) => h.trim()).filter(Boolean), retryForMs });
}
