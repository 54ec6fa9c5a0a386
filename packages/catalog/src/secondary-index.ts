/*
 * Secondary index entries, in the table's own keyspace:
 *   key   = tablePrefix(table.id) + uvarint(index.id)
 *           + for each indexed column: uvarint(0) for NULL, or uvarint(1) and the key encoding
 *           + the row's primary key encoding (without its table/index prefix)
 *   value = that same primary key encoding
 * The primary key suffix keeps entries of equal indexed values apart (the index is not
 * unique). Nothing in an entry names the table id except the key prefix, so RESTORE's key
 * rewrite moves an index with its rows, and BACKUP's table span holds both.
 */

import { CairnError, ErrorCode } from '@cairn/errors';
import { KeyBuilder, prefixEnd, tablePrefix } from '@cairn/keys';
import type { Span } from '@cairn/keys';
import type { IndexDescriptor, KeyValueOp, TableDescriptor } from '@cairn/proto';
import type { Datum } from './datum.js';
import { appendKeyDatum, encodeRowKey, primaryIndexPrefix, PRIMARY_INDEX_ID } from './row-codec.js';

const NULL_MARKER = 0;
const VALUE_MARKER = 1;

/** `tablePrefix(tableId) + uvarint(indexId)`. */
export function secondaryIndexPrefix(tableId: number, indexId: number): Uint8Array {
  return new KeyBuilder(12).raw(tablePrefix(tableId)).uvarint(indexId).finish();
}

/** Every entry of one secondary index. */
export function secondaryIndexSpan(table: TableDescriptor, index: IndexDescriptor): Span {
  const start = secondaryIndexPrefix(table.id, index.id);
  return { start, end: prefixEnd(start) };
}

/** The index of `table` named `name`, or UndefinedObject (`index "x" not found`). */
export function findIndex(table: TableDescriptor, name: string): IndexDescriptor {
  const index = table.indexes.find((i) => i.name === name);
  if (index === undefined) throw new CairnError(ErrorCode.UndefinedObject, `index "${name}" not found`);
  return index;
}

/** The row key an index entry's value points at. */
export function primaryKeyOfEntry(table: TableDescriptor, value: Uint8Array): Uint8Array {
  const prefix = primaryIndexPrefix(table.id);
  const out = new Uint8Array(prefix.length + value.length);
  out.set(prefix);
  out.set(value, prefix.length);
  return out;
}

/** The key and value of `row`'s entry in `index` (row in `table.columns` order). */
export function indexEntry(table: TableDescriptor, index: IndexDescriptor, row: readonly Datum[]): { key: Uint8Array; value: Uint8Array } {
  if (index.id === PRIMARY_INDEX_ID) throw new CairnError(ErrorCode.Internal, `index "${index.name}" has the primary index's id`);
  const pk = encodeRowKey(table, row).subarray(primaryIndexPrefix(table.id).length);
  const b = new KeyBuilder(16 + pk.length).raw(secondaryIndexPrefix(table.id, index.id));
  for (const name of index.columns) {
    const ordinal = table.columns.findIndex((c) => c.name === name);
    const col = table.columns[ordinal];
    if (col === undefined) throw new CairnError(ErrorCode.Internal, `index "${index.name}" names missing column "${name}"`);
    const d = row[ordinal] ?? null;
    if (d === null) {
      b.uvarint(NULL_MARKER);
    } else {
      b.uvarint(VALUE_MARKER);
      appendKeyDatum(b, col.type, d, table, ordinal);
    }
  }
  return { key: b.raw(pk).finish(), value: Uint8Array.from(pk) };
}

/**
 * The ops that keep every secondary index of `table` in step with one row changing from
 * `before` to `after` (`before` absent: an insert; `after` absent: a delete). An entry whose
 * key does not change is rewritten in place, never deleted and re-put.
 */
export function indexEntryOps(table: TableDescriptor, before: readonly Datum[] | undefined, after: readonly Datum[] | undefined): KeyValueOp[] {
  const ops: KeyValueOp[] = [];
  for (const index of table.indexes) {
    const old = before === undefined ? undefined : indexEntry(table, index, before);
    const now = after === undefined ? undefined : indexEntry(table, index, after);
    if (old !== undefined && (now === undefined || !sameBytes(old.key, now.key))) ops.push({ key: old.key });
    if (now !== undefined) ops.push({ key: now.key, value: now.value });
  }
  return ops;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * `table` with a new index on `columns` (CREATE INDEX): named `name`, or as CockroachDB names
 * it, `<table>_<col>_..._idx`. Refuses a missing or repeated column and a taken name
 * (DuplicateObject, `index "x" already exists`).
 */
export function withIndex(table: TableDescriptor, name: string | undefined, columns: readonly string[]): TableDescriptor {
  for (const c of columns) {
    if (!table.columns.some((col) => col.name === c)) {
      throw new CairnError(ErrorCode.UndefinedObject, `column "${c}" does not exist`);
    }
  }
  if (new Set(columns).size !== columns.length) {
    throw new CairnError(ErrorCode.InvalidArgument, `index "${name ?? ''}" contains duplicate column`);
  }
  const indexName = name ?? `${table.name}_${columns.join('_')}_idx`;
  if (indexName === `${table.name}_pkey` || table.indexes.some((i) => i.name === indexName)) {
    throw new CairnError(ErrorCode.DuplicateObject, `index "${indexName}" already exists`);
  }
  const id = Math.max(table.nextIndexId ?? 0, PRIMARY_INDEX_ID + 1);
  return {
    ...table,
    indexes: [...table.indexes, { id, name: indexName, columns: [...columns] }],
    nextIndexId: id + 1,
  };
}
