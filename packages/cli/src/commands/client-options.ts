import { CairnClient } from '@cairn/client';

export const DEFAULT_HOST = '127.0.0.1:26257';

/** The SQL user a command runs as when `--user` is not given (as `cockroach sql`). */
export const DEFAULT_USER = 'root';

/** `--host a,b [--user u]` → a client that fails over between the given coordinators. */
export function clientFor(host: string, retryForMs = 15_000, user = DEFAULT_USER): CairnClient {
  return new CairnClient({ addresses: host.split(',').map((h) => h.trim()).filter(Boolean), retryForMs, user });
}
