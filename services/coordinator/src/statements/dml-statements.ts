import { CairnError, ErrorCode } from '@cairn/errors';
import {
  coerceLiteral,
  decodeRow,
  encodePrimaryKey,
  encodeRowKey,
  encodeRowValue,
  formatDatum,
  indexEntryOps,
  isImplicitRowId,
  type Datum,
} from '@cairn/catalog';
import { compareKeys, keyToHex } from '@cairn/keys';
import { ObjectKind, type KeyValueOp, type TableDescriptor } from '@cairn/proto';
import type { DeleteStatement, InsertStatement, SelectStatement, UpdateStatement } from '@cairn/sql';
import { resolveAsOf } from './as-of.js';
import { compileValueExpr } from './value-expr.js';
import { rowsThroughIndex } from './index-statements.js';
import { checkEnumValues } from './schema-statements.js';
import { catalogName } from './ddl-statements.js';
import { columnOrdinal, compareDatums, distinctPointSpans, literal, planScan, pointSpan } from './row-predicates.js';
import { rowsResult, tagOnly, type StatementResult } from './result.js';
import { nextValues } from './sequences.js';
import { Aggregate } from './aggregate.js';
import type { SessionWith } from './session.js';

/** DML resolves tables, reads keys at a read point and appends writes. */
type DmlSession = SessionWith<'readiness' | 'catalog' | 'reads' | 'writes'>;

/** Unique ids for tables without a declared primary key (CockroachDB's unique_rowid()). */
let lastRowId = 0n;
function uniqueRowId(): bigint {
  const now = BigInt(Date.now()) << 15n;
  lastRowId = now > lastRowId ? now : lastRowId + 1n;
  return lastRowId;
}

function writableTable(s: DmlSession, stmt: { table: InsertStatement['table'] }): TableDescriptor {
  const table = s.catalog.resolveTable(catalogName(stmt.table), s.database);
  if (table.kind !== ObjectKind.TABLE) {
    throw new CairnError(ErrorCode.FailedPrecondition, `"${table.name}" is not a table`);
  }
  return table;
}

export async function insert(s: DmlSession, stmt: InsertStatement): Promise<StatementResult> {
  const table = writableTable(s, stmt);
  const targetOrdinals = (stmt.columns ?? table.columns.filter((c) => !isImplicitRowId(table, c)).map((c) => c.name)).map((name) =>
    columnOrdinal(table, name, stmt.pos),
  );
  if (new Set(targetOrdinals).size !== targetOrdinals.length) {
    throw new CairnError(ErrorCode.InvalidArgument, 'multiple assignments to the same column');
  }
  // Omitted columns with DEFAULT nextval('seq') take the sequence's next values, given out
  // under the write lock below.
  const fromSequence = new Map<number, number>();
  table.columns.forEach((c, o) => {
    if (c.defaultSequenceId !== undefined && !targetOrdinals.includes(o)) fromSequence.set(o, c.defaultSequenceId);
  });
  const rows: Datum[][] = stmt.rows.map((lits, i) => {
    if (lits.length !== targetOrdinals.length) {
      throw new CairnError(
        ErrorCode.InvalidArgument,
        `INSERT has ${lits.length > targetOrdinals.length ? 'more' : 'fewer'} expressions than target columns in row ${i + 1}`,
        { position: lits[0]?.pos ?? stmt.pos },
      );
    }
    const row: Datum[] = table.columns.map((c) => (isImplicitRowId(table, c) ? uniqueRowId() : null));
    targetOrdinals.forEach((o, j) => (row[o] = coerceLiteral(table.columns[o]!, literal(lits[j]!))));
    checkEnumValues(s.catalog, table, row);
    table.columns.forEach((c, o) => {
      if (row[o] === null && !c.nullable && !fromSequence.has(o)) {
        throw new CairnError(ErrorCode.InvalidArgument, `null value in column "${c.name}" violates not-null constraint`);
      }
    });
    return row;
  });

  // The lock covers the checks and the append, not the wait for JetStream to store the entry:
  // later statements already read after it (reads wait for the assigned log position).
  const { stored } = await s.writes.writeLock.run(async () => {
    s.readiness.assertReady();
    const ops: KeyValueOp[] = [];
    for (const sequenceId of new Set(fromSequence.values())) {
      const ordinals = [...fromSequence].filter(([, id]) => id === sequenceId).map(([o]) => o);
      const { values, op } = await nextValues(s, sequenceId, rows.length * ordinals.length);
      rows.forEach((row, i) => ordinals.forEach((o, j) => (row[o] = values[i * ordinals.length + j]!)));
      ops.push(op);
    }
    const keyed = rows.map((row) => ({ key: encodeRowKey(table, row), row }));
    ops.push(...keyed.map(({ key, row }) => ({ key, value: encodeRowValue(table, row) })));
    if (!stmt.upsert) await checkNoDuplicates(s, table, keyed.map((k) => k.key));
    await checkForeignKeys(s, table, rows);
    // Secondary index entries go in the same log entry as the rows; an UPSERT moves the
    // entries of the row it replaces.
    const before = stmt.upsert && table.indexes.length > 0 ? await currentRows(s, table, keyed.map((k) => k.key)) : new Map<string, Datum[]>();
    for (const { key, row } of keyed) ops.push(...indexEntryOps(table, before.get(keyToHex(key)), row));
    return { stored: s.writes.appendWrite(ops).stored };
  });
  await stored;
  return tagOnly(`${stmt.upsert ? 'UPSERT' : 'INSERT'} ${rows.length}`);
}

/** INSERT refuses a primary key that is already present (or repeated within the statement). */
async function checkNoDuplicates(s: DmlSession, table: TableDescriptor, keys: Uint8Array[]): Promise<void> {
  const sorted = [...keys].sort(compareKeys);
  for (let i = 1; i < sorted.length; i++) {
    if (compareKeys(sorted[i - 1]!, sorted[i]!) === 0) throw duplicateKey(table);
  }
  if (sorted.length === 0) return;
  const { timestamp, seq } = s.reads.readPoint();
  // Few keys: look each up. Many (bulk loads, usually contiguous): one scan over their range.
  const spans = sorted.length <= 16 ? sorted.map(pointSpan) : [{ start: sorted[0]!, end: pointSpan(sorted[sorted.length - 1]!).end }];
  const wanted = new Set(sorted.map((k) => Buffer.from(k).toString('latin1')));
  for await (const kv of s.reads.reader.scanSpans(spans, timestamp, seq, true)) {
    if (wanted.has(Buffer.from(kv.key).toString('latin1'))) throw duplicateKey(table);
  }
}

function duplicateKey(table: TableDescriptor): CairnError {
  return new CairnError(ErrorCode.UniqueViolation, `duplicate key value violates unique constraint "${table.name}_pkey"`);
}

/** The rows stored now under `keys` (by hex key); a later duplicate key sees the earlier row's value. */
async function currentRows(s: DmlSession, table: TableDescriptor, keys: Uint8Array[]): Promise<Map<string, Datum[]>> {
  const { timestamp, seq } = s.reads.readPoint();
  const out = new Map<string, Datum[]>();
  for await (const kv of s.reads.reader.scanSpans(distinctPointSpans(keys), timestamp, seq)) out.set(keyToHex(kv.key), decodeRow(table, kv.key, kv.value));
  return out;
}

async function checkForeignKeys(s: DmlSession, table: TableDescriptor, rows: Datum[][]): Promise<void> {
  if (table.foreignKeys.length === 0) return;
  const { timestamp, seq } = s.reads.readPoint();
  for (const fk of table.foreignKeys) {
    const ref = s.catalog.tableById(fk.referencedTableId);
    if (!ref) continue;
    const ordinals = fk.columns.map((c) => columnOrdinal(table, c));
    // Each row's referenced key, or undefined where a column is NULL (MATCH SIMPLE: not checked).
    const checks = rows.map((row) => {
      const values = ordinals.map((o) => row[o] ?? null);
      if (values.some((v) => v === null)) return undefined;
      // FKs reference the primary key of the other table (checked at CREATE TABLE).
      return { values, key: encodePrimaryKey(ref, fk.referencedColumns.map((rc) => values[fk.referencedColumns.indexOf(rc)]!)) };
    });
    // All of them in one batched read (as an IN list's), not one point read per row.
    const spans = distinctPointSpans(checks.flatMap((c) => (c ? [c.key] : [])));
    const present = new Set<string>();
    if (spans.length > 0) for await (const kv of s.reads.reader.scanSpans(spans, timestamp, seq, true)) present.add(keyToHex(kv.key));
    for (const check of checks) {
      if (check === undefined) continue;
      const { values, key } = check;
      if (!present.has(keyToHex(key))) {
        throw new CairnError(
          ErrorCode.ForeignKeyViolation,
          `insert on table "${table.name}" violates foreign key constraint "${fk.name}": key (${values.map(String).join(', ')}) is not present in table "${ref.name}"`,
        );
      }
    }
  }
}

export async function update(s: DmlSession, stmt: UpdateStatement): Promise<StatementResult> {
  const table = writableTable(s, stmt);
  const assignments = stmt.assignments.map((a) => {
    const o = columnOrdinal(table, a.column, a.pos);
    const col = table.columns[o]!;
    if (table.primaryKey.includes(col.name)) {
      throw new CairnError(ErrorCode.FeatureNotSupported, `cannot update primary key column "${col.name}"`, { position: a.pos });
    }
    return { ordinal: o, value: compileValueExpr(table, col, a.value) };
  });
  const count = await rewriteMatchingRows(s, table, stmt.where, (row) => {
    // Every expression sees the old row, as in SQL.
    const values = assignments.map((a) => a.value(row));
    const after = [...row];
    assignments.forEach((a, i) => (after[a.ordinal] = values[i]!));
    checkEnumValues(s.catalog, table, after);
    return after;
  });
  return tagOnly(`UPDATE ${count}`);
}

export async function deleteRows(s: DmlSession, stmt: DeleteStatement): Promise<StatementResult> {
  const table = writableTable(s, stmt);
  const count = await rewriteMatchingRows(s, table, stmt.where, () => undefined);
  return tagOnly(`DELETE ${count}`);
}

/**
 * Reads the rows matching `where` at the newest timestamp and writes each one's new version
 * (`change(row)`, undefined to delete it) with its secondary index entries moved to match,
 * all in one log entry, under the write lock (so no write slips in between read and write).
 * Returns how many rows changed, once the entry is stored.
 */
async function rewriteMatchingRows(
  s: DmlSession,
  table: TableDescriptor,
  where: DeleteStatement['where'],
  change: (row: Datum[]) => Datum[] | undefined,
): Promise<number> {
  const plan = planScan(table, where);
  const { stored, count } = await s.writes.writeLock.run(async () => {
    s.readiness.assertReady();
    const ops: KeyValueOp[] = [];
    let count = 0;
    const { timestamp, seq } = s.reads.readPoint();
    // An IN list's spans go out together, batched per range (still under the lock).
    for await (const kv of s.reads.reader.scanSpans(plan.spans, timestamp, seq)) {
      const row = decodeRow(table, kv.key, kv.value);
      if (!plan.filters.every((f) => f.test(row[f.ordinal] ?? null))) continue;
      const after = change(row);
      ops.push(after === undefined ? { key: kv.key } : { key: kv.key, value: encodeRowValue(table, after) });
      ops.push(...indexEntryOps(table, row, after));
      count++;
    }
    return { count, stored: ops.length > 0 ? s.writes.appendWrite(ops).stored : Promise.resolve(0n) };
  });
  await stored;
  return count;
}

export async function select(s: DmlSession, stmt: SelectStatement): Promise<StatementResult> {
  s.readiness.assertReady();
  const table = s.catalog.resolveTable(catalogName(stmt.from), s.database);
  if (table.kind !== ObjectKind.TABLE) {
    throw new CairnError(ErrorCode.FeatureNotSupported, `SELECT from ${table.kind === ObjectKind.VIEW ? 'views' : 'sequences'} is not supported`);
  }
  const point = s.reads.readPoint();
  const timestamp = stmt.asOf ? resolveAsOf(stmt.asOf, point.timestamp) : point.timestamp;
  const plan = planScan(table, stmt.where);
  const aggregates = stmt.items.filter((i) => i.kind === 'aggregate');
  // Rows come back in primary key order: a LIMIT can stop the scan early only when ORDER BY
  // asks for that order (an ascending prefix of the key), else every row must be read first.
  const keyOrder = stmt.orderBy.every((o, i) => !o.desc && table.primaryKey[i] === o.column);
  const needsAll = aggregates.length > 0 || !keyOrder;
  const limit = !needsAll && stmt.limit !== undefined && plan.filters.length === 0 ? stmt.limit : 0;

  if (aggregates.length > 0 && aggregates.length !== stmt.items.length) {
    throw new CairnError(ErrorCode.FeatureNotSupported, 'mixing aggregates and columns needs GROUP BY, which is not supported');
  }
  // Aggregates fold each row as it arrives instead of keeping it: a count(*) over a large
  // table must not hold the table in the coordinator's memory.
  const accumulators = aggregates.map((a) => (a.kind === 'aggregate' ? new Aggregate(table, a.fn, a.arg) : undefined));
  const rows: Datum[][] = [];
  const take = (row: Datum[]): void => {
    if (!plan.filters.every((f) => f.test(row[f.ordinal] ?? null))) return;
    if (accumulators.length === 0) rows.push(row);
    else for (const a of accumulators) a?.add(row);
  };
  if (stmt.index !== undefined) {
    // `FROM t@idx`: the rows as the index finds them (in index order), filtered as a scan's.
    for await (const kv of rowsThroughIndex(s, table, stmt.index, timestamp, point.seq)) take(decodeRow(table, kv.key, kv.value));
  }
  if (stmt.index === undefined) {
    // One span streams (and a LIMIT stops it early); an IN list's spans are read together.
    const kvs = plan.spans.length === 1 ? s.reads.reader.scan(plan.spans[0]!, timestamp, point.seq, limit) : s.reads.reader.scanSpans(plan.spans, timestamp, point.seq);
    for await (const kv of kvs) {
      take(decodeRow(table, kv.key, kv.value));
      if (!needsAll && stmt.limit !== undefined && rows.length >= stmt.limit) break;
    }
  }

  if (aggregates.length > 0) {
    const cells = accumulators.map((a) => a?.result() ?? null);
    const names = aggregates.map((a) => (a.kind === 'aggregate' ? a.fn : ''));
    return rowsResult(names, [cells]);
  }

  if (stmt.orderBy.length > 0) {
    const keys = stmt.orderBy.map((o) => ({ ordinal: columnOrdinal(table, o.column, o.pos), desc: o.desc }));
    rows.sort((a, b) => {
      for (const k of keys) {
        const c = compareDatums(a[k.ordinal] ?? null, b[k.ordinal] ?? null);
        if (c !== 0) return k.desc ? -c : c;
      }
      return 0;
    });
  }
  const limited = stmt.limit !== undefined ? rows.slice(0, stmt.limit) : rows;
  const ordinals = stmt.items.flatMap((i) =>
    i.kind === 'star'
      ? table.columns.map((c, o) => (isImplicitRowId(table, c) ? -1 : o)).filter((o) => o >= 0)
      : i.kind === 'column'
        ? [columnOrdinal(table, i.name, i.pos)]
        : [],
  );
  const columns = ordinals.map((o) => table.columns[o]!.name);
  const out = limited.map((row) => ordinals.map((o) => {
    const d = row[o] ?? null;
    return d === null ? null : formatDatum(d, table.columns[o]!.type);
  }));
  return rowsResult(columns, out);
}
