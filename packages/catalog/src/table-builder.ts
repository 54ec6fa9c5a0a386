/*
 * CREATE TABLE semantics, independent of the SQL parser: a plain definition in, a validated
 * TableDescriptor out, with CockroachDB's rules and messages where cairn supports the feature.
 */

import { CairnError, ErrorCode } from '@cairn/errors';
import { ColumnType, DescriptorState, ObjectKind } from '@cairn/proto';
import type { ColumnDescriptor, DatabaseDescriptor, ForeignKey, TableDescriptor } from '@cairn/proto';
import { namespaceName } from './catalog-keys.js';
import { columnTypeName } from './datum.js';

/**
 * A possibly database-qualified table name as written in a statement. `table` is the name in
 * the namespace: `schema.table` for a table in a user-defined schema (see `namespaceName`).
 */
export interface TableName {
  db?: string;
  table: string;
}

/**
 * What building a table reads of the catalog. The `Catalog` class has all of it; naming it
 * here keeps this module from importing catalog.ts, which imports this one.
 */
export interface TableCatalog {
  databaseById(id: number): DatabaseDescriptor | undefined;
  resolveTable(written: TableName, currentDb: string): TableDescriptor;
  checkNameAvailable(parentId: number, name: string): void;
}

/** Name of the implicit primary key column added to a table declared without one. */
export const ROWID_COLUMN = 'rowid';

/** A column as declared in CREATE TABLE. */
export interface ColumnDefinition {
  name: string;
  type: ColumnType;
  /** False for NOT NULL. Primary key columns become NOT NULL regardless. */
  nullable: boolean;
  /** Column-level `PRIMARY KEY`. */
  primaryKey?: boolean;
  /** Column-level `REFERENCES t [(col)]`; without a column, the referenced primary key. */
  references?: { table: TableName; column?: string };
  /** `DEFAULT nextval('seq')`: the sequence, which must exist; the table then depends on it. */
  defaultSequence?: TableName;
}

/** A table-level `[CONSTRAINT name] FOREIGN KEY (cols) REFERENCES t [(cols)]`. */
export interface ForeignKeyDefinition {
  name?: string;
  columns: string[];
  references: { table: TableName; columns?: string[] };
}

/** What CREATE TABLE declares, as any parser can produce it. */
export interface TableDefinition {
  name: string;
  /** A user-defined schema of the database (absent: public); the caller checks it exists. */
  schemaName?: string;
  columns: ColumnDefinition[];
  /** Table-level `PRIMARY KEY (cols)`. */
  primaryKey?: string[];
  foreignKeys?: ForeignKeyDefinition[];
}

function invalid(message: string): CairnError {
  return new CairnError(ErrorCode.InvalidArgument, message);
}

/**
 * Validates `def` against `catalog` and returns the new table's descriptor:
 * - the database `ids.parentId` must exist and `def.name` must be free in it;
 * - column names are unique and typed; ids are assigned 1..n in declaration order;
 * - at most one primary key; its columns exist and become NOT NULL; without one, a hidden-
 *   by-convention `rowid` INT column (`rowid_1`, ... if taken) is appended as the key, its
 *   values supplied by the writer like CockroachDB's unique_rowid();
 * - each foreign key references an existing PUBLIC table of the same database (or the new
 *   table itself), by that table's primary key columns (the only unique constraint cairn
 *   has), with equal column types.
 */
export function buildTableDescriptor(
  catalog: TableCatalog,
  def: TableDefinition,
  ids: { id: number; parentId: number },
): TableDescriptor {
  const db = catalog.databaseById(ids.parentId);
  if (db === undefined || db.state === DescriptorState.DROPPED) {
    throw new CairnError(ErrorCode.UndefinedObject, `database with id ${ids.parentId} does not exist`);
  }
  if (def.name === '') throw invalid('empty table name');
  catalog.checkNameAvailable(db.id, namespaceName(def.name, def.schemaName));

  const columns: ColumnDescriptor[] = [];
  const byName = new Map<string, ColumnDescriptor>();
  for (const c of def.columns) {
    if (c.name === '') throw invalid(`table "${def.name}" has a column with an empty name`);
    if (byName.has(c.name)) {
      throw new CairnError(ErrorCode.DuplicateObject, `column "${c.name}" specified more than once`);
    }
    if (columnTypeName(c.type).startsWith('UNKNOWN')) {
      throw invalid(`column "${c.name}" has an unsupported type`);
    }
    const col: ColumnDescriptor = { id: columns.length + 1, name: c.name, type: c.type, nullable: c.nullable };
    if (c.defaultSequence !== undefined) col.defaultSequenceId = sequenceOf(catalog, c.defaultSequence, db.name).id;
    columns.push(col);
    byName.set(c.name, col);
  }

  const columnPks = def.columns.filter((c) => c.primaryKey === true).map((c) => c.name);
  if (columnPks.length > 1 || (columnPks.length === 1 && def.primaryKey !== undefined)) {
    throw invalid(`multiple primary keys for table "${def.name}" are not allowed`);
  }
  let primaryKey = def.primaryKey ?? columnPks;
  if (def.primaryKey !== undefined && def.primaryKey.length === 0) {
    throw invalid(`primary key of table "${def.name}" names no columns`);
  }
  const seen = new Set<string>();
  for (const name of primaryKey) {
    const col = byName.get(name);
    if (col === undefined) throw new CairnError(ErrorCode.UndefinedObject, `column "${name}" does not exist`);
    if (seen.has(name)) throw invalid(`column "${name}" appears twice in primary key`);
    seen.add(name);
    col.nullable = false;
  }
  if (primaryKey.length === 0) {
    let name = ROWID_COLUMN;
    for (let i = 1; byName.has(name); i++) name = `${ROWID_COLUMN}_${i}`;
    const col: ColumnDescriptor = { id: columns.length + 1, name, type: ColumnType.INT, nullable: false };
    columns.push(col);
    byName.set(name, col);
    primaryKey = [name];
  }

  const table: TableDescriptor = {
    id: ids.id,
    name: def.name,
    parentId: db.id,
    kind: ObjectKind.TABLE,
    columns,
    primaryKey: [...primaryKey],
    foreignKeys: [],
    state: DescriptorState.PUBLIC,
    viewQuery: '',
    dependsOn: [],
    nextColumnId: columns.length + 1,
    indexes: [],
    ...(def.schemaName !== undefined && def.schemaName !== 'public' ? { schemaName: def.schemaName } : {}),
  };

  const fkDefs: ForeignKeyDefinition[] = [];
  for (const c of def.columns) {
    if (c.references === undefined) continue;
    fkDefs.push({
      columns: [c.name],
      references: { table: c.references.table, ...(c.references.column === undefined ? {} : { columns: [c.references.column] }) },
    });
  }
  fkDefs.push(...(def.foreignKeys ?? []));
  const fkNames = new Set<string>();
  for (const fk of fkDefs) {
    const built = buildForeignKey(catalog, table, db.name, fk);
    if (fkNames.has(built.name)) {
      throw new CairnError(ErrorCode.DuplicateObject, `constraint "${built.name}" already exists`);
    }
    fkNames.add(built.name);
    table.foreignKeys.push(built);
  }
  return table;
}

function buildForeignKey(catalog: TableCatalog, table: TableDescriptor, dbName: string, fk: ForeignKeyDefinition): ForeignKey {
  const ref = fk.references.table;
  const refDb = ref.db === undefined || ref.db === '' ? dbName : ref.db;
  let target: TableDescriptor;
  if (refDb === dbName && ref.table === table.name) {
    target = table;
  } else {
    if (refDb !== dbName) {
      // Only reject after checking the target exists, so a typo reads as a missing table.
      catalog.resolveTable(ref, dbName);
      throw new CairnError(
        ErrorCode.FeatureNotSupported,
        `foreign key references from table "${table.name}" to "${refDb}.${ref.table}" cross databases, which is not supported`,
      );
    }
    target = catalog.resolveTable(ref, dbName);
    if (target.kind !== ObjectKind.TABLE) {
      throw invalid(`"${ref.table}" is not a table and cannot be referenced by a foreign key`);
    }
  }
  if (fk.columns.length === 0) throw invalid(`foreign key on table "${table.name}" names no columns`);
  const refColumns = fk.references.columns ?? target.primaryKey;
  const shownTarget = target === table ? table.name : ref.table;
  if (refColumns.length !== fk.columns.length) {
    throw invalid(
      `foreign key on table "${table.name}" has ${fk.columns.length} column(s) but references ${refColumns.length} column(s) of "${shownTarget}"`,
    );
  }
  const pkSet = new Set(target.primaryKey);
  if (refColumns.length !== pkSet.size || !refColumns.every((c) => pkSet.has(c)) || new Set(refColumns).size !== refColumns.length) {
    throw invalid(`there is no unique constraint matching given keys for referenced table ${shownTarget}`);
  }
  for (let i = 0; i < fk.columns.length; i++) {
    const name = fk.columns[i] as string;
    const refName = refColumns[i] as string;
    const col = table.columns.find((c) => c.name === name);
    if (col === undefined) throw new CairnError(ErrorCode.UndefinedObject, `column "${name}" does not exist`);
    const refCol = target.columns.find((c) => c.name === refName);
    if (refCol === undefined) throw new CairnError(ErrorCode.UndefinedObject, `column "${refName}" does not exist`);
    if (col.type !== refCol.type) {
      throw new CairnError(
        ErrorCode.DatatypeMismatch,
        `type of "${name}" (${columnTypeName(col.type)}) does not match foreign key "${shownTarget}"."${refName}" (${columnTypeName(refCol.type)})`,
      );
    }
  }
  return {
    name: fk.name ?? `${table.name}_${fk.columns.join('_')}_fkey`,
    columns: [...fk.columns],
    referencedTableId: target.id,
    referencedColumns: [...refColumns],
  };
}

/**
 * Whether `column` is the implicit key column `buildTableDescriptor` added (so SELECT * and
 * SHOW CREATE leave it out). Recognized by shape: the sole primary key column, INT, last,
 * named `rowid`/`rowid_<n>`; a user column declared exactly like that is indistinguishable.
 */
export function isImplicitRowId(table: TableDescriptor, column: ColumnDescriptor): boolean {
  return (
    table.primaryKey.length === 1 &&
    table.primaryKey[0] === column.name &&
    column.type === ColumnType.INT &&
    table.columns[table.columns.length - 1] === column &&
    /^rowid(_\d+)?$/.test(column.name)
  );
}

/** The sequence `DEFAULT nextval('name')` names: a PUBLIC sequence, else CockroachDB's errors. */
function sequenceOf(catalog: TableCatalog, name: TableName, currentDb: string): TableDescriptor {
  const t = catalog.resolveTable(name, currentDb);
  if (t.kind !== ObjectKind.SEQUENCE) throw new CairnError(ErrorCode.DatatypeMismatch, `"${t.name}" is not a sequence`);
  return t;
}
