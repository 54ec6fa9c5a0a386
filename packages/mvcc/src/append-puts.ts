import type { Database, PutOptions } from 'lmdb';

/**
 * lmdb-js's put option for LMDB's MDB_APPEND. A put with it goes straight to the last leaf
 * page instead of searching the tree, and when that page is full LMDB starts a new one
 * instead of splitting the full one in half: keys loaded in order fill their pages (three
 * 1 KB rows to a 4 KiB page instead of one or two), so a bulk load writes about a third fewer
 * pages, each a copy into a new page-cache page at commit. LMDB refuses the put (MDB_KEYEXIST)
 * unless the key sorts after every key the database holds.
 */
const APPEND: PutOptions = { append: true };

/** True when every key sorts strictly after the one before it (LMDB's byte order). */
export function strictlyAscending(keys: readonly Buffer[]): boolean {
  for (let i = 1; i < keys.length; i++) if (Buffer.compare(keys[i - 1]!, keys[i]!) >= 0) return false;
  return true;
}

/**
 * Whether `key` sorts after every key `db` holds; must be asked inside the write transaction
 * that will put it, where reads see that transaction's own writes.
 */
export function sortsAfterLast(db: Database<Buffer, Buffer>, key: Buffer): boolean {
  for (const last of db.getKeys({ reverse: true, limit: 1 })) return Buffer.compare(key, last) > 0;
  return true;
}

/**
 * Puts `key` at the end of `db` inside a write transaction. Returns false when LMDB refused
 * the append (the key did not sort after every key held): nothing was written, and the
 * caller puts it the ordinary way. lmdb-js answers a put inside a transaction callback at
 * once, with a settled promise whose `result` says whether the condition held; a refused
 * append is reported only there, never thrown.
 */
export function putAppending(db: Database<Buffer, Buffer>, key: Buffer, value: Buffer | Uint8Array): boolean {
  // lmdb-js takes PutOptions in place of a version (its types list only the version form).
  const put = db.put.bind(db) as (k: Buffer, v: Buffer | Uint8Array, o: PutOptions) => Promise<boolean> & { result?: boolean };
  const outcome = put(key, value, APPEND);
  return outcome.result !== false;
}
