import { CairnError, ErrorCode } from '@cairn/errors';
import { type Catalog, decodeRow, findIndex, indexEntry, primaryIndexSpan, primaryKeyOfEntry, secondaryIndexSpan, withIndex } from '@cairn/catalog';
import { keyToHex } from '@cairn/keys';
import { ObjectKind, type KeyValueOp, type TableDescriptor } from '@cairn/proto';
import type { CreateIndexStatement, DropIndexStatement } from '@cairn/sql';
import { catalogName } from './ddl-statements.js';
import { distinctPointSpans } from './row-predicates.js';
import { tagOnly, type StatementResult } from './result.js';
import type { SessionWith } from './session.js';

/** CREATE/DROP INDEX change a descriptor and read the rows the index covers. */
type IndexSession = SessionWith<'descriptors' | 'reads'>;

/**
 * CREATE INDEX: under the schema change lock (which DML takes too, so no row changes
 * meanwhile) every row is read at the newest timestamp and its index entry staged; the
 * entries and the descriptor naming the index are written as one batch, so no reader ever
 * sees the index without all its entries.
 */
export async function createIndex(s: IndexSession, stmt: CreateIndexStatement): Promise<StatementResult> {
  return s.descriptors.change(async (c) => {
    const table = c.catalog.resolveTable(catalogName(stmt.table), s.database);
    if (table.kind !== ObjectKind.TABLE) throw new CairnError(ErrorCode.FailedPrecondition, `"${table.name}" is not a table`);
    if (stmt.ifNotExists && stmt.name !== undefined && table.indexes.some((i) => i.name === stmt.name)) return tagOnly('CREATE INDEX');
    const next = withIndex(table, stmt.name, stmt.columns);
    const index = next.indexes[next.indexes.length - 1]!;
    const { timestamp, seq } = s.reads.readPoint();
    const ops: KeyValueOp[] = [];
    for await (const kv of s.reads.reader.scan(primaryIndexSpan(table), timestamp, seq)) {
      const entry = indexEntry(next, index, decodeRow(table, kv.key, kv.value));
      ops.push({ key: entry.key, value: entry.value });
    }
    c.putData(ops);
    c.put({ kind: { $case: 'table', value: next } });
    return tagOnly('CREATE INDEX');
  });
}

/** DROP INDEX: the descriptor loses the index and every entry is deleted, in one batch. */
export async function dropIndex(s: IndexSession, stmt: DropIndexStatement): Promise<StatementResult> {
  return s.descriptors.change(async (c) => {
    const table = stmt.table !== undefined ? c.catalog.resolveTable(catalogName(stmt.table), s.database) : tableWithIndex(s, c.catalog, stmt.name);
    if (table === undefined || !table.indexes.some((i) => i.name === stmt.name)) {
      if (stmt.ifExists) return tagOnly('DROP INDEX');
      throw new CairnError(ErrorCode.UndefinedObject, `index "${stmt.name}" does not exist`);
    }
    const index = findIndex(table, stmt.name);
    const { timestamp, seq } = s.reads.readPoint();
    const ops: KeyValueOp[] = [];
    for await (const kv of s.reads.reader.scan(secondaryIndexSpan(table, index), timestamp, seq)) ops.push({ key: kv.key });
    c.putData(ops);
    c.put({ kind: { $case: 'table', value: { ...table, indexes: table.indexes.filter((i) => i.id !== index.id) } } });
    return tagOnly('DROP INDEX');
  });
}

/** `DROP INDEX name` without a table: the one table of the current database that has it. */
function tableWithIndex(s: IndexSession, catalog: Catalog, name: string): TableDescriptor | undefined {
  if (!s.database) return undefined;
  const db = catalog.resolveDatabase(s.database);
  const found = catalog.tablesIn(db.id).filter((t) => t.indexes.some((i) => i.name === name));
  if (found.length > 1) {
    throw new CairnError(ErrorCode.InvalidArgument, `index name "${name}" is ambiguous (found in ${found.map((t) => t.name).join(' and ')}): write table@${name}`);
  }
  return found[0];
}

/** Index entries whose rows are read with one batched `scanSpans`: bounds what one lookup holds. */
const INDEX_LOOKUP_BATCH = 256;

/**
 * The rows of `table` as its index `name` finds them (`SELECT ... FROM t@name`): each entry
 * points at a primary key, whose row is read at the same timestamp, in batches of entries
 * (one point read per entry, one after another, cost a round trip each). An entry without its
 * row would mean an index out of step with its table: that is reported, not skipped.
 */
export async function* rowsThroughIndex(s: SessionWith<'reads'>, table: TableDescriptor, name: string, timestamp: bigint, seq: number): AsyncGenerator<{ key: Uint8Array; value: Uint8Array }> {
  const index = findIndex(table, name);
  const lookUp = async function* (keys: Uint8Array[]): AsyncGenerator<{ key: Uint8Array; value: Uint8Array }> {
    // scanSpans takes spans in key order; the rows go out in the index's order.
    const rows = new Map<string, { key: Uint8Array; value: Uint8Array }>();
    for await (const kv of s.reads.reader.scanSpans(distinctPointSpans(keys), timestamp, seq)) rows.set(keyToHex(kv.key), kv);
    for (const key of keys) {
      const row = rows.get(keyToHex(key));
      if (!row) throw new CairnError(ErrorCode.Internal, `index "${name}" of "${table.name}" has an entry for a missing row`);
      yield row;
    }
  };
  let pending: Uint8Array[] = [];
  for await (const entry of s.reads.reader.scan(secondaryIndexSpan(table, index), timestamp, seq)) {
    pending.push(primaryKeyOfEntry(table, entry.value));
    if (pending.length >= INDEX_LOOKUP_BATCH) {
      yield* lookUp(pending);
      pending = [];
    }
  }
  if (pending.length > 0) yield* lookUp(pending);
}
