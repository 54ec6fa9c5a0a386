/**
 * @cairn/mvcc: the node-local MVCC store on LMDB (reads at a timestamp, tombstones, export
 * of revision windows for backup, ingest for restore, GC below a threshold).
 */
export { MvccStore, revisionsInSlot } from './mvcc-store.js';
export type { MvccOp, MvccRevision, MvccRow, MvccStoreOptions, RevisionSlot, SpanStats } from './mvcc-store.js';
export {
  MAX_MVCC_KEY_LEN,
  decodeMvccKey,
  decodeUserKey,
  encodeMvccKey,
  encodeMvccValue,
  encodeRevisionPrefix,
  mvccKeyTs,
} from './mvcc-key.js';
