import { CairnError, ErrorCode } from '@cairn/errors';
import { columnTypeFromName, type TableDefinition } from '@cairn/catalog';
import { prefixEnd, tablePrefix } from '@cairn/keys';
import { ColumnType, DescriptorState, ObjectKind, type Descriptor, type TableDescriptor } from '@cairn/proto';
import type {
  CreateDatabaseStatement,
  CreateSequenceStatement,
  CreateTableStatement,
  CreateViewStatement,
  DropDatabaseStatement,
  DropObjectStatement,
  TableName,
} from '@cairn/sql';
import { tagOnly, type StatementResult } from './result.js';
import type { Session } from './session.js';

export async function createDatabase(s: Session, stmt: CreateDatabaseStatement): Promise<StatementResult> {
  const { leader } = s;
  return leader.writeLock.run(async () => {
    if (stmt.ifNotExists && leader.catalog.database(stmt.name)) return tagOnly('CREATE DATABASE');
    const db = leader.catalog.buildDatabaseDescriptor(stmt.name, leader.allocateDescriptorId());
    const d: Descriptor = { kind: { $case: 'database', value: db } };
    await leader.write(leader.descriptorOps(d));
    leader.catalog.apply(d);
    return tagOnly('CREATE DATABASE');
  });
}

export async function createTable(s: Session, stmt: CreateTableStatement): Promise<StatementResult> {
  const { leader } = s;
  return leader.writeLock.run(async () => {
    const db = leader.catalog.resolveDatabase(databaseOf(s, stmt.table));
    if (stmt.ifNotExists && leader.catalog.table(db.name, stmt.table.name)) return tagOnly('CREATE TABLE');
    const def: TableDefinition = {
      name: stmt.table.name,
      columns: stmt.columns.map((c) => ({
        name: c.name,
        type: columnType(c.type.name),
        nullable: !c.notNull,
        primaryKey: c.primaryKey,
        ...(c.references
          ? { references: { table: catalogName(c.references.table), ...(c.references.column ? { column: c.references.column } : {}) } }
          : {}),
      })),
      ...(stmt.primaryKey ? { primaryKey: stmt.primaryKey } : {}),
      foreignKeys: stmt.foreignKeys.map((fk) => ({
        ...(fk.name ? { name: fk.name } : {}),
        columns: fk.columns,
        references: { table: catalogName(fk.table), ...(fk.refColumns.length > 0 ? { columns: fk.refColumns } : {}) },
      })),
    };
    const table = leader.catalog.buildTableDescriptor(def, { id: leader.allocateDescriptorId(), parentId: db.id });
    await publishTable(s, table);
    return tagOnly('CREATE TABLE');
  });
}

export async function createView(s: Session, stmt: CreateViewStatement): Promise<StatementResult> {
  const { leader } = s;
  return leader.writeLock.run(async () => {
    const db = leader.catalog.resolveDatabase(databaseOf(s, stmt.view));
    if (stmt.ifNotExists && leader.catalog.table(db.name, stmt.view.name)) return tagOnly('CREATE VIEW');
    leader.catalog.checkNameAvailable(db.id, stmt.view.name);
    const table: TableDescriptor = {
      id: leader.allocateDescriptorId(),
      name: stmt.view.name,
      parentId: db.id,
      kind: ObjectKind.VIEW,
      columns: [],
      primaryKey: [],
      foreignKeys: [],
      state: DescriptorState.PUBLIC,
      viewQuery: stmt.query,
      dependsOn: [],
      nextColumnId: 1,
    };
    await publishTable(s, table);
    return tagOnly('CREATE VIEW');
  });
}

export async function createSequence(s: Session, stmt: CreateSequenceStatement): Promise<StatementResult> {
  const { leader } = s;
  return leader.writeLock.run(async () => {
    const db = leader.catalog.resolveDatabase(databaseOf(s, stmt.sequence));
    if (stmt.ifNotExists && leader.catalog.table(db.name, stmt.sequence.name)) return tagOnly('CREATE SEQUENCE');
    leader.catalog.checkNameAvailable(db.id, stmt.sequence.name);
    const table: TableDescriptor = {
      id: leader.allocateDescriptorId(),
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
    };
    await publishTable(s, table);
    return tagOnly('CREATE SEQUENCE');
  });
}

/** Splits ranges at the table's boundaries (as CockroachDB does), then stores its descriptor. */
async function publishTable(s: Session, table: TableDescriptor): Promise<void> {
  const prefix = tablePrefix(table.id);
  await s.leader.splitAt([prefix, prefixEnd(prefix)]);
  const d: Descriptor = { kind: { $case: 'table', value: table } };
  await s.leader.write(s.leader.descriptorOps(d));
  s.leader.catalog.apply(d);
}

export async function dropObject(s: Session, stmt: DropObjectStatement): Promise<StatementResult> {
  const { leader } = s;
  const tag = stmt.kind === 'dropTable' ? 'DROP TABLE' : stmt.kind === 'dropView' ? 'DROP VIEW' : 'DROP SEQUENCE';
  return leader.writeLock.run(async () => {
    const dbName = databaseOf(s, stmt.name);
    if (stmt.ifExists && !leader.catalog.table(dbName, stmt.name.name)) return tagOnly(tag);
    const table = leader.catalog.resolveTable(catalogName(stmt.name), s.database);
    const referencing = leader.catalog
      .tablesIn(table.parentId)
      .filter((t) => t.id !== table.id && t.foreignKeys.some((fk) => fk.referencedTableId === table.id));
    if (referencing.length > 0 && !stmt.cascade) {
      throw new CairnError(
        ErrorCode.FailedPrecondition,
        `"${table.name}" is referenced by foreign key from table "${referencing[0]!.name}"`,
      );
    }
    await dropTables(s, [table]);
    return tagOnly(tag);
  });
}

export async function dropDatabase(s: Session, stmt: DropDatabaseStatement): Promise<StatementResult> {
  const { leader } = s;
  return leader.writeLock.run(async () => {
    const db = leader.catalog.database(stmt.name);
    if (!db) {
      if (stmt.ifExists) return tagOnly('DROP DATABASE');
      throw new CairnError(ErrorCode.UndefinedObject, `database "${stmt.name}" does not exist`);
    }
    const tables = leader.catalog.tablesIn(db.id);
    if (tables.length > 0 && !stmt.cascade) {
      throw new CairnError(ErrorCode.FailedPrecondition, `database "${stmt.name}" is not empty and CASCADE was not specified`);
    }
    await dropTables(s, tables);
    const d: Descriptor = { kind: { $case: 'database', value: { ...db, state: DescriptorState.DROPPED } } };
    await leader.write(leader.descriptorOps(d, { removeName: { parentId: 0, name: db.name } }));
    leader.catalog.apply(d);
    return tagOnly('DROP DATABASE');
  });
}

/**
 * Marks tables DROPPED and frees their names. Their rows stay in the keyspace as history
 * (a backup AS OF a time before the drop still sees them) until GC removes them.
 */
async function dropTables(s: Session, tables: TableDescriptor[]): Promise<void> {
  const ops = [];
  const dropped: Descriptor[] = [];
  for (const t of tables) {
    const d: Descriptor = { kind: { $case: 'table', value: { ...t, state: DescriptorState.DROPPED } } };
    ops.push(...s.leader.descriptorOps(d, { removeName: { parentId: t.parentId, name: t.name } }));
    dropped.push(d);
  }
  if (ops.length === 0) return;
  await s.leader.write(ops);
  for (const d of dropped) s.leader.catalog.apply(d);
}

export function databaseOf(s: Session, name: TableName): string {
  const db = name.database ?? s.database;
  if (!db) {
    throw new CairnError(ErrorCode.UndefinedObject, `no database specified for "${name.name}": USE a database or qualify the name`, {
      position: name.pos,
    });
  }
  return db;
}

export function catalogName(name: TableName): { db?: string; table: string } {
  return name.database !== undefined ? { db: name.database, table: name.name } : { table: name.name };
}

function columnType(name: string): ColumnType {
  const t = columnTypeFromName(name === 'TIMESTAMPTZ' ? 'TIMESTAMP' : name);
  if (t === undefined) throw new CairnError(ErrorCode.FeatureNotSupported, `unsupported column type ${name}`);
  return t;
}
