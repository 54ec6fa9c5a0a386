import type { Timestamp } from './timestamp.js';

/**
 * One MVCC revision of a key; a null value is a deletion tombstone. What the store exports
 * and a backup data file holds: @cairn/mvcc and @cairn/backup-format both speak it.
 */
export interface MvccRevision {
  key: Uint8Array;
  ts: Timestamp;
  value: Uint8Array | null;
}

/**
 * One MVCC revision in buffers its producer reuses for the next one (@cairn/mvcc's
 * `exportRevisionSlots`, which a data file writer's `writeSlot` copies from): the key is
 * `key[0, keyLength)`, the value `value[valueStart, valueEnd)` unless `hasValue` is false (a
 * tombstone). A whole export then makes no object per revision: a fresh key, value view and
 * revision object per row were ~1.2 KB of garbage each, and their scavenges most of a node's
 * GC during a backup.
 */
export interface RevisionSlot {
  key: Uint8Array;
  keyLength: number;
  ts: Timestamp;
  hasValue: boolean;
  value: Uint8Array;
  valueStart: number;
  valueEnd: number;
}
