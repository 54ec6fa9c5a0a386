import { CairnError, ErrorCode } from '@cairn/errors';
import { columnTypeFromName, namespaceName, type TableDefinition } from '@cairn/catalog';
import { prefixEnd, tablePrefix } from '@cairn/keys';
import { ColumnType, DescriptorState, ObjectKind, type DatabaseDescriptor, type TableDescriptor } from '@cairn/proto';
import {
  parseOne,
  type CreateDatabaseStatement,
  type CreateSequenceStatement,
  type CreateTableStatement,
  type CreateViewStatement,
  type DropDatabaseStatement,
  type DropObjectStatement,
  type TableName,
} from '@cairn/sql';
import type { DescriptorChange } from '../catalog/descriptor-writer.js';
import { tagOnly, type StatementResult } from './result.js';
import { enumLabels, placeOf } from './schema-statements.js';
import type { SessionWith } from './session.js';

/** DDL changes descriptors (and forgets grants on what it drops). */
type DdlSession = SessionWith<'descriptors' | 'privileges'>;

export async function createDatabase(s: DdlSession, stmt: CreateDatabaseStatement): Promise<StatementResult> {
  return s.descriptors.change(async (c) => {
    if (stmt.ifNotExists && c.catalog.database(stmt.name)) return tagOnly('CREATE DATABASE');
    c.put({ kind: { $case: 'database', value: c.catalog.buildDatabaseDescriptor(stmt.name, c.allocateId()) } });
    return tagOnly('CREATE DATABASE');
  });
}

export async function createTable(s: DdlSession, stmt: CreateTableStatement): Promise<StatementResult> {
  return s.descriptors.change(async (c) => {
    const place = placeOf(c.catalog, s, stmt.table);
    const db = place.db;
    if (stmt.ifNotExists && c.catalog.table(db.name, place.namespaceName)) return tagOnly('CREATE TABLE');
    const enumTypes = new Map(stmt.columns.flatMap((col) => (col.type.enumType === undefined ? [] : [[col.name, enumTypeOf(db, col.type.enumType)] as const])));
    const def: TableDefinition = {
      name: stmt.table.name,
      ...(place.schema !== undefined ? { schemaName: place.schema } : {}),
      columns: stmt.columns.map((c) => ({
        name: c.name,
        type: c.type.enumType !== undefined ? ColumnType.STRING : columnType(c.type.name),
        nullable: !c.notNull,
        primaryKey: c.primaryKey,
        ...(c.references
          ? { references: { table: catalogName(c.references.table), ...(c.references.column ? { column: c.references.column } : {}) } }
          : {}),
        ...defaultOf(c),
      })),
      ...(stmt.primaryKey ? { primaryKey: stmt.primaryKey } : {}),
      foreignKeys: stmt.foreignKeys.map((fk) => ({
        ...(fk.name ? { name: fk.name } : {}),
        columns: fk.columns,
        references: { table: catalogName(fk.table), ...(fk.refColumns.length > 0 ? { columns: fk.refColumns } : {}) },
      })),
    };
    const built = c.catalog.buildTableDescriptor(def, { id: c.allocateId(), parentId: db.id });
    // ENUM columns hold their label text; the type's name says which labels they take.
    const table = { ...built, columns: built.columns.map((col) => (enumTypes.has(col.name) ? { ...col, enumType: enumTypes.get(col.name)! } : col)) };
    await publishTable(c, table);
    return tagOnly('CREATE TABLE');
  });
}

export async function createView(s: DdlSession, stmt: CreateViewStatement): Promise<StatementResult> {
  return s.descriptors.change(async (c) => {
    const place = placeOf(c.catalog, s, stmt.view);
    const db = place.db;
    if (stmt.ifNotExists && c.catalog.table(db.name, place.namespaceName)) return tagOnly('CREATE VIEW');
    c.catalog.checkNameAvailable(db.id, place.namespaceName);
    const dependsOn = viewDependencies(c.catalog, stmt.query, db.name);
    const table: TableDescriptor = {
      id: c.allocateId(),
      name: stmt.view.name,
      parentId: db.id,
      kind: ObjectKind.VIEW,
      columns: [],
      primaryKey: [],
      foreignKeys: [],
      state: DescriptorState.PUBLIC,
      viewQuery: stmt.query,
      dependsOn,
      nextColumnId: 1,
      indexes: [],
      ...(place.schema !== undefined ? { schemaName: place.schema } : {}),
    };
    await publishTable(c, table);
    return tagOnly('CREATE VIEW');
  });
}

export async function createSequence(s: DdlSession, stmt: CreateSequenceStatement): Promise<StatementResult> {
  return s.descriptors.change(async (c) => {
    const place = placeOf(c.catalog, s, stmt.sequence);
    const db = place.db;
    if (stmt.ifNotExists && c.catalog.table(db.name, place.namespaceName)) return tagOnly('CREATE SEQUENCE');
    c.catalog.checkNameAvailable(db.id, place.namespaceName);
    const table: TableDescriptor = {
      id: c.allocateId(),
      name: stmt.sequence.name,
      parentId: db.id,
      kind: ObjectKind.SEQUENCE,
      columns: [{ id: 1, name: 'value', type: ColumnType.INT, nullable: false }],
      primaryKey: [],
      foreignKeys: [],
      state: DescriptorState.PUBLIC,
      viewQuery: '',
      dependsOn: [],
      nextColumnId: 2,
      indexes: [],
      ...(place.schema !== undefined ? { schemaName: place.schema } : {}),
    };
    await publishTable(c, table);
    return tagOnly('CREATE SEQUENCE');
  });
}

/** Splits ranges at the table's boundaries (as CockroachDB does), then stages its descriptor. */
async function publishTable(c: DescriptorChange, table: TableDescriptor): Promise<void> {
  const prefix = tablePrefix(table.id);
  await c.splitAt([prefix, prefixEnd(prefix)]);
  c.put({ kind: { $case: 'table', value: table } });
}

export async function dropObject(s: DdlSession, stmt: DropObjectStatement): Promise<StatementResult> {
  const tag = stmt.kind === 'dropTable' ? 'DROP TABLE' : stmt.kind === 'dropView' ? 'DROP VIEW' : 'DROP SEQUENCE';
  return s.descriptors.change(async (c) => {
    const dbName = databaseOf(s, stmt.name);
    if (stmt.ifExists && !c.catalog.table(dbName, stmt.name.name)) return tagOnly(tag);
    const table = c.catalog.resolveTable(catalogName(stmt.name), s.database);
    const referencing = c.catalog
      .tablesIn(table.parentId)
      .filter((t) => t.id !== table.id && t.foreignKeys.some((fk) => fk.referencedTableId === table.id));
    if (referencing.length > 0 && !stmt.cascade) {
      throw new CairnError(
        ErrorCode.FailedPrecondition,
        `"${table.name}" is referenced by foreign key from table "${referencing[0]!.name}"`,
      );
    }
    const live = liveTables(c);
    const views = dependentViews(live, table.id);
    if (views.length > 0 && !stmt.cascade) {
      throw new CairnError(ErrorCode.FailedPrecondition, `cannot drop relation "${table.name}" because view "${views[0]!.name}" depends on it`);
    }
    const usingSequence = live.filter((t) => t.id !== table.id && t.columns.some((col) => col.defaultSequenceId === table.id));
    if (usingSequence.length > 0) {
      if (!stmt.cascade) throw new CairnError(ErrorCode.FailedPrecondition, `cannot drop sequence ${table.name} because other objects depend on it`);
      // CASCADE removes the DEFAULTs that use the sequence, as CockroachDB does; the columns stay.
      for (const t of usingSequence) {
        const columns = t.columns.map((col) => {
          if (col.defaultSequenceId !== table.id) return col;
          const { defaultSequenceId: _dropped, ...rest } = col;
          return rest;
        });
        c.put({ kind: { $case: 'table', value: { ...t, columns } } });
      }
    }
    dropTables(c, [table, ...views]);
    return tagOnly(tag);
  });
}

function liveTables(c: DescriptorChange): TableDescriptor[] {
  return c.catalog
    .descriptors()
    .flatMap((d) => (d.kind?.$case === 'table' && d.kind.value.state !== DescriptorState.DROPPED ? [d.kind.value] : []));
}

/** The views that read `id`, and the views that read those, in dependency order. */
function dependentViews(tables: readonly TableDescriptor[], id: number): TableDescriptor[] {
  const out: TableDescriptor[] = [];
  const pending = [id];
  while (pending.length > 0) {
    const next = pending.shift()!;
    for (const v of tables) {
      if (v.kind === ObjectKind.VIEW && v.dependsOn.includes(next) && !out.includes(v)) {
        out.push(v);
        pending.push(v.id);
      }
    }
  }
  return out;
}

export async function dropDatabase(s: DdlSession, stmt: DropDatabaseStatement): Promise<StatementResult> {
  return s.descriptors.change(async (c) => {
    const db = c.catalog.database(stmt.name);
    if (!db) {
      if (stmt.ifExists) return tagOnly('DROP DATABASE');
      throw new CairnError(ErrorCode.UndefinedObject, `database "${stmt.name}" does not exist`);
    }
    const tables = c.catalog.tablesIn(db.id);
    if (tables.length > 0 && !stmt.cascade) {
      throw new CairnError(ErrorCode.FailedPrecondition, `database "${stmt.name}" is not empty and CASCADE was not specified`);
    }
    // The tables and the database go in one batch: no reader sees the tables gone and the database not.
    dropTables(c, tables);
    c.putWithoutName({ kind: { $case: 'database', value: { ...db, state: DescriptorState.DROPPED } } });
    return tagOnly('DROP DATABASE');
  });
}

/**
 * Marks tables DROPPED and frees their names. Their rows stay in the keyspace as history
 * (a backup AS OF a time before the drop still sees them) until GC removes them.
 */
function dropTables(c: DescriptorChange, tables: TableDescriptor[]): void {
  for (const t of tables) c.putWithoutName({ kind: { $case: 'table', value: { ...t, state: DescriptorState.DROPPED } } });
}

export function databaseOf(s: DdlSession, name: TableName): string {
  const db = name.database ?? s.database;
  if (!db) {
    throw new CairnError(ErrorCode.UndefinedObject, `no database specified for "${name.name}": USE a database or qualify the name`, {
      position: name.pos,
    });
  }
  return db;
}

/** A written name as the catalog looks it up (`schema.name` in a user-defined schema). */
export function catalogName(name: TableName): { db?: string; table: string } {
  const table = namespaceName(name.name, name.schema);
  return name.database !== undefined ? { db: name.database, table } : { table };
}

/** The enum type a column names, which must exist in the table's database. */
function enumTypeOf(db: DatabaseDescriptor, type: { schema?: string; name: string }): string {
  const name = namespaceName(type.name, type.schema);
  if (enumLabels(db, name) === undefined) throw new CairnError(ErrorCode.UndefinedObject, `type "${name}" does not exist`);
  return name;
}

function columnType(name: string): ColumnType {
  const t = columnTypeFromName(name === 'TIMESTAMPTZ' ? 'TIMESTAMP' : name);
  if (t === undefined) throw new CairnError(ErrorCode.FeatureNotSupported, `unsupported column type ${name}`);
  return t;
}

/**
 * A column's `DEFAULT`: `nextval('seq')` makes the table depend on the sequence (recorded, so
 * RESTORE can refuse to leave it behind). Other defaults are refused rather than stored and
 * never applied.
 */
function defaultOf(c: CreateTableStatement['columns'][number]): { defaultSequence?: { db?: string; table: string } } {
  if (c.default === undefined) return {};
  if (c.default.kind !== 'nextval') {
    throw new CairnError(ErrorCode.FeatureNotSupported, `DEFAULT ${c.default.kind === 'null' ? 'NULL' : String(c.default.value)} for column "${c.name}": cairn takes only DEFAULT nextval('<sequence>')`, {
      position: c.default.pos,
    });
  }
  const parts = c.default.sequence.split('.');
  const table = parts[parts.length - 1] ?? '';
  return { defaultSequence: parts.length > 1 ? { db: parts[parts.length - 2], table } : { table } };
}

/**
 * The tables (and views) a view's query reads, which the view depends on: each must exist now
 * (CockroachDB's error otherwise), and a RESTORE of the view needs them restored with it.
 */
function viewDependencies(catalog: DescriptorChange['catalog'], query: string, currentDb: string): number[] {
  const stmt = parseOne(query);
  if (stmt.kind !== 'select') {
    throw new CairnError(ErrorCode.FeatureNotSupported, `a view's query must be a SELECT from a table (got ${stmt.kind})`, { position: stmt.pos });
  }
  return [catalog.resolveTable(catalogName(stmt.from), currentDb).id];
}
