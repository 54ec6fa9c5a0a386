/*
 * An in-memory view of the schema, built from the descriptors read out of the keyspace. It
 * answers name lookups for statements and checks CREATE TABLE definitions; it does not
 * persist anything (writers store descriptors with `descriptorKey`/`namespaceKey`).
 */

import { CairnError, ErrorCode } from '@cairn/errors';
import { DescriptorState } from '@cairn/proto';
import type { DatabaseDescriptor, Descriptor, EnumTypeEntry, SchemaEntry, TableDescriptor } from '@cairn/proto';
import { namespaceName, ROOT_PARENT_ID } from './catalog-keys.js';
import { buildTableDescriptor } from './table-builder.js';
import type { TableDefinition, TableName } from './table-builder.js';

export type { TableName } from './table-builder.js';

/**
 * The databases a new cluster has besides `system`, as in CockroachDB. Left empty they do
 * not count as content: a full-cluster RESTORE is still taken, and fills them.
 */
export const DEFAULT_DATABASES: readonly string[] = ['defaultdb', 'postgres'];

/** A database's user-defined schemas (CREATE SCHEMA); public is not listed. */
export function schemasOf(db: DatabaseDescriptor): SchemaEntry[] {
  return db.objects?.schemas ?? [];
}

/** A database's enum types (CREATE TYPE), named `name` or `schema.name`. */
export function enumTypesOf(db: DatabaseDescriptor): EnumTypeEntry[] {
  return db.objects?.types ?? [];
}

/** `db` with its schemas and types replaced. */
export function withObjects(db: DatabaseDescriptor, schemas: SchemaEntry[], types: EnumTypeEntry[]): DatabaseDescriptor {
  return { ...db, objects: { schemas, types } };
}


/** `db.table` or `table`, as error messages show a name. */
export function formatTableName(name: TableName): string {
  return name.db === undefined || name.db === '' ? name.table : `${name.db}.${name.table}`;
}


function nameKey(parentId: number, name: string): string {
  return `${parentId}/${name}`;
}

function descriptorId(d: Descriptor): number {
  if (d.kind === undefined) throw new CairnError(ErrorCode.InvalidArgument, 'descriptor has neither database nor table');
  return d.kind.value.id;
}

function descriptorName(d: Descriptor): { parentId: number; name: string; state: DescriptorState } {
  if (d.kind === undefined) throw new CairnError(ErrorCode.InvalidArgument, 'descriptor has neither database nor table');
  const v = d.kind.value;
  return {
    parentId: d.kind.$case === 'table' ? d.kind.value.parentId : ROOT_PARENT_ID,
    name: d.kind.$case === 'table' ? namespaceName(d.kind.value.name, d.kind.value.schemaName) : v.name,
    state: v.state,
  };
}

/**
 * Databases and tables by id and by name. Dropped descriptors are kept by id but never found
 * by name; OFFLINE ones (being restored) are found by `table`/`database` but rejected by the
 * `resolve*` methods statements use. Descriptors handed in are not copied: treat them as
 * immutable and `apply` a new object to change one.
 */
export class Catalog {
  private readonly byId = new Map<number, Descriptor>();
  private readonly byName = new Map<string, number>();

  /** A catalog holding `ds`; later entries with the same id replace earlier ones. */
  static fromDescriptors(ds: Iterable<Descriptor>): Catalog {
    const c = new Catalog();
    for (const d of ds) c.apply(d);
    return c;
  }

  /** Inserts or replaces the descriptor with `d`'s id (renames and state changes included). */
  apply(d: Descriptor): void {
    const id = descriptorId(d);
    this.unindex(id);
    this.byId.set(id, d);
    const { parentId, name, state } = descriptorName(d);
    if (state !== DescriptorState.DROPPED) this.byName.set(nameKey(parentId, name), id);
  }

  /** Forgets descriptor `id`; returns whether it was there. Tables of a dropped database stay. */
  drop(id: number): boolean {
    this.unindex(id);
    return this.byId.delete(id);
  }

  private unindex(id: number): void {
    const old = this.byId.get(id);
    if (old === undefined) return;
    const { parentId, name } = descriptorName(old);
    const key = nameKey(parentId, name);
    if (this.byName.get(key) === id) this.byName.delete(key);
  }

  /** Every descriptor, by ascending id (the order a backup writes them). */
  descriptors(): Descriptor[] {
    return [...this.byId.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
  }

  /** The descriptor with `id` in any state. */
  descriptor(id: number): Descriptor | undefined {
    return this.byId.get(id);
  }

  /** The highest descriptor id in use, or 0 for an empty catalog. */
  maxId(): number {
    let max = 0;
    for (const id of this.byId.keys()) if (id > max) max = id;
    return max;
  }

  /** The database with `id` in any state (undefined if `id` is a table). */
  databaseById(id: number): DatabaseDescriptor | undefined {
    const d = this.byId.get(id);
    return d?.kind?.$case === 'database' ? d.kind.value : undefined;
  }

  /** The table, view or sequence with `id` in any state (undefined if `id` is a database). */
  tableById(id: number): TableDescriptor | undefined {
    const d = this.byId.get(id);
    return d?.kind?.$case === 'table' ? d.kind.value : undefined;
  }

  /** The database named `name` (PUBLIC or OFFLINE), if any. */
  database(name: string): DatabaseDescriptor | undefined {
    const id = this.byName.get(nameKey(ROOT_PARENT_ID, name));
    return id === undefined ? undefined : this.databaseById(id);
  }

  /** The table `dbName.tableName` (PUBLIC or OFFLINE), if any. */
  table(dbName: string, tableName: string): TableDescriptor | undefined {
    const db = this.database(dbName);
    if (db === undefined) return undefined;
    const id = this.byName.get(nameKey(db.id, tableName));
    return id === undefined ? undefined : this.tableById(id);
  }

  /** Non-dropped databases sorted by name. */
  databases(): DatabaseDescriptor[] {
    const out: DatabaseDescriptor[] = [];
    for (const d of this.byId.values()) {
      if (d.kind?.$case === 'database' && d.kind.value.state !== DescriptorState.DROPPED) out.push(d.kind.value);
    }
    return out.sort((a, b) => compareNames(a.name, b.name));
  }

  /** Non-dropped tables (and views, sequences) of database `dbId`, sorted by name. */
  tablesIn(dbId: number): TableDescriptor[] {
    const out: TableDescriptor[] = [];
    for (const d of this.byId.values()) {
      if (d.kind?.$case === 'table' && d.kind.value.parentId === dbId && d.kind.value.state !== DescriptorState.DROPPED) {
        out.push(d.kind.value);
      }
    }
    return out.sort((a, b) => compareNames(a.name, b.name));
  }

  /** Whether `db` is a default database (defaultdb, postgres) holding no table, view or sequence. */
  isUnusedDefaultDatabase(db: DatabaseDescriptor): boolean {
    return DEFAULT_DATABASES.includes(db.name) && this.tablesIn(db.id).length === 0;
  }

  /** The PUBLIC database `name`, or an UndefinedObject / FailedPrecondition error. */
  resolveDatabase(name: string): DatabaseDescriptor {
    const db = this.database(name);
    if (db === undefined) throw new CairnError(ErrorCode.UndefinedObject, `database "${name}" does not exist`);
    if (db.state === DescriptorState.OFFLINE) {
      throw new CairnError(ErrorCode.FailedPrecondition, `database "${name}" is offline: restoring`);
    }
    return db;
  }

  /**
   * The PUBLIC table a statement names: `name.db` if given, else `currentDb`. Throws
   * UndefinedObject (`relation "db.t" does not exist`) or FailedPrecondition for a table
   * being restored.
   */
  resolveTable(written: TableName, currentDb: string): TableDescriptor {
    const name = this.schemaQualified(written, currentDb);
    const dbName = name.db !== undefined && name.db !== '' ? name.db : currentDb;
    if (dbName === '') {
      throw new CairnError(
        ErrorCode.UndefinedObject,
        `relation "${name.table}" does not exist: no current database, qualify it as <database>.${name.table}`,
      );
    }
    const db = this.resolveDatabase(dbName);
    const id = this.byName.get(nameKey(db.id, name.table));
    const table = id === undefined ? undefined : this.tableById(id);
    if (table === undefined) {
      throw new CairnError(ErrorCode.UndefinedObject, `relation "${formatTableName(name)}" does not exist`);
    }
    if (table.state === DescriptorState.OFFLINE) {
      throw new CairnError(ErrorCode.FailedPrecondition, `relation "${formatTableName(name)}" is offline: restoring`);
    }
    return table;
  }

  /**
   * `a.b` names table b of schema a of the current database when that database has a schema
   * a and there is no database a (CockroachDB's resolution of two-part names).
   */
  schemaQualified(name: TableName, currentDb: string): TableName {
    if (name.db === undefined || name.db === '' || name.table.includes('.') || this.database(name.db) !== undefined) return name;
    const current = currentDb === '' ? undefined : this.database(currentDb);
    if (current === undefined || !schemasOf(current).some((sc) => sc.name === name.db)) return name;
    return { db: currentDb, table: namespaceName(name.table, name.db) };
  }

  /** Throws DuplicateObject when `name` is taken under `parentId` (0: a database name). */
  checkNameAvailable(parentId: number, name: string): void {
    if (!this.byName.has(nameKey(parentId, name))) return;
    throw new CairnError(
      ErrorCode.DuplicateObject,
      parentId === ROOT_PARENT_ID ? `database "${name}" already exists` : `relation "${name}" already exists`,
    );
  }

  /** A PUBLIC database descriptor for CREATE DATABASE, after checking the name is free. */
  buildDatabaseDescriptor(name: string, id: number): DatabaseDescriptor {
    if (name === '') throw new CairnError(ErrorCode.InvalidArgument, 'empty database name');
    this.checkNameAvailable(ROOT_PARENT_ID, name);
    return { id, name, state: DescriptorState.PUBLIC };
  }

  /**
   * Checks a CREATE TABLE definition against this catalog and returns its descriptor (see
   * `buildTableDescriptor` in table-builder.ts for the rules). `ids.id` is the new table's
   * id, `ids.parentId` its database's.
   */
  buildTableDescriptor(def: TableDefinition, ids: { id: number; parentId: number }): TableDescriptor {
    return buildTableDescriptor(this, def, ids);
  }
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
