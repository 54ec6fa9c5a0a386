import type { Leader } from '../leader.js';

/** Per-request context: the leader's state and the session's current database. */
export interface Session {
  leader: Leader;
  database: string;
}
