import { KeyBuilder, KeyReader } from './key-codec.js';
import { prefixEnd, type Span } from './spans.js';

/** Table holding schema descriptors (databases, tables, views, sequences). */
export const DESCRIPTOR_TABLE_ID = 1;
/** Table mapping (parent id, name) to descriptor ids. */
export const NAMESPACE_TABLE_ID = 2;
/** Table of cluster settings. */
export const SETTINGS_TABLE_ID = 3;
/** Ids below this are reserved for system tables; user descriptors start here. */
export const FIRST_USER_ID = 100;

/** The key prefix of every row of a table: `uvarint(tableId)`. */
export function tablePrefix(tableId: number): Uint8Array {
  return new KeyBuilder(9).uvarint(tableId).finish();
}

/** All keys of one table. */
export function tableSpan(tableId: number): Span {
  const start = tablePrefix(tableId);
  return { start, end: prefixEnd(start) };
}

/** The table id a key belongs to (throws a Corruption CairnError for a non-table key). */
export function decodeTableId(key: Uint8Array): number {
  return new KeyReader(key).uvarint();
}

/** Every key of the system tables (ids below FIRST_USER_ID). */
export const SYSTEM_SPAN: Span = { start: tablePrefix(0), end: tablePrefix(FIRST_USER_ID) };
