import { CairnClient } from '@cairn/client';
import type { ClientSecurity } from './client-security.js';

export const DEFAULT_HOST = '127.0.0.1:26257';

/** The SQL user a command runs as when `--user` is not given (as `cockroach sql`). */
export const DEFAULT_USER = 'root';

/**
 * `--host a,b [--user u]` → a client that fails over between the given coordinators; over TLS
 * with a certificate or password when `security` says so (client-security.ts).
 */
export function clientFor(host: string, retryForMs = 15_000, user = DEFAULT_USER, security: ClientSecurity = {}): CairnClient {
  return new CairnClient({ addresses: host.split(',').map((h) => h.trim()).filter(Boolean), retryForMs, user, ...security });
}
