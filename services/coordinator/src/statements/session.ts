import type { Leader } from '../leader.js';

/** Per-request context: the leader's state, the session's current database and its user. */
export interface Session {
  leader: Leader;
  database: string;
  /** The SQL user statements run as (normalized; `root` unless the client named another). */
  user: string;
}
