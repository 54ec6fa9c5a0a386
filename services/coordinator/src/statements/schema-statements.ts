import { CairnError, ErrorCode } from '@cairn/errors';
import { enumTypesOf, namespaceName, schemasOf, withObjects, type Catalog } from '@cairn/catalog';
import { DescriptorState, type DatabaseDescriptor, type TableDescriptor } from '@cairn/proto';
import type {
  CreateSchemaStatement,
  CreateTypeStatement,
  DropSchemaStatement,
  DropTypeStatement,
  ShowEnumsStatement,
  ShowSchemasStatement,
  TableName,
} from '@cairn/sql';
import { rowsResult, tagOnly, type StatementResult } from './result.js';
import type { SessionContext, SessionWith } from './session.js';

/** Schemas and enum types: descriptors. */
type SchemaSession = SessionWith<'catalog' | 'descriptors'>;

/** Where a statement's object lives: its database, its schema (undefined: public) and its name there. */
export interface ObjectPlace {
  db: DatabaseDescriptor;
  schema?: string;
  /** The name in the database's namespace (`schema.name` outside public). */
  namespaceName: string;
}

/**
 * Resolves `db.schema.name`, `x.name` and `name` as CockroachDB does: `x` is a schema of the
 * current database when it has one and there is no database `x`, else a database. A named
 * schema other than public must exist.
 */
export function placeOf(catalog: Catalog, s: SessionContext, name: TableName): ObjectPlace {
  let dbName = name.database ?? s.database;
  let schema = name.schema;
  if (schema === undefined && name.database !== undefined && catalog.database(name.database) === undefined && s.database !== '') {
    const current = catalog.database(s.database);
    if (current !== undefined && schemasOf(current).some((sc) => sc.name === name.database)) {
      dbName = s.database;
      schema = name.database;
    }
  }
  if (!dbName) {
    throw new CairnError(ErrorCode.UndefinedObject, `no database specified for "${name.name}": USE a database or qualify the name`, { position: name.pos });
  }
  const db = catalog.resolveDatabase(dbName);
  if (schema === 'public') schema = undefined;
  if (schema !== undefined && !schemasOf(db).some((sc) => sc.name === schema)) {
    throw new CairnError(ErrorCode.UndefinedObject, `cannot create "${schema}.${name.name}" because the target database or schema does not exist`);
  }
  return { db, ...(schema !== undefined ? { schema } : {}), namespaceName: namespaceName(name.name, schema) };
}

/** The labels of enum type `name` (`schema.name` outside public) of database `db`, if it has one. */
export function enumLabels(db: DatabaseDescriptor | undefined, name: string): readonly string[] | undefined {
  return db === undefined ? undefined : enumTypesOf(db).find((t) => t.name === name)?.labels;
}

/** Refuses, with CockroachDB's error, a row (in column order) whose ENUM column holds no label of its type. */
export function checkEnumValues(catalog: Catalog, table: TableDescriptor, row: readonly unknown[]): void {
  table.columns.forEach((col, i) => {
    const value = row[i];
    if (col.enumType === undefined || value === null || value === undefined) return;
    const labels = enumLabels(catalog.databaseById(table.parentId), col.enumType) ?? [];
    if (!labels.includes(String(value))) {
      throw new CairnError(ErrorCode.InvalidArgument, `invalid input value for enum ${col.enumType}: "${String(value)}"`);
    }
  });
}

export async function createSchema(s: SchemaSession, stmt: CreateSchemaStatement): Promise<StatementResult> {
  return s.descriptors.change(async (c) => {
    const db = c.catalog.resolveDatabase(stmt.database ?? requireDatabase(s));
    if (stmt.name === 'public' || schemasOf(db).some((sc) => sc.name === stmt.name)) {
      if (stmt.ifNotExists) return tagOnly('CREATE SCHEMA');
      throw new CairnError(ErrorCode.DuplicateObject, `schema "${stmt.name}" already exists`);
    }
    c.put({ kind: { $case: 'database', value: withObjects(db, [...schemasOf(db), { name: stmt.name }], enumTypesOf(db)) } });
    return tagOnly('CREATE SCHEMA');
  });
}

export async function dropSchema(s: SchemaSession, stmt: DropSchemaStatement): Promise<StatementResult> {
  return s.descriptors.change(async (c) => {
    const db = c.catalog.resolveDatabase(stmt.database ?? requireDatabase(s));
    if (stmt.name === 'public') throw new CairnError(ErrorCode.InvalidArgument, 'cannot drop schema "public"');
    if (!schemasOf(db).some((sc) => sc.name === stmt.name)) {
      if (stmt.ifExists) return tagOnly('DROP SCHEMA');
      throw new CairnError(ErrorCode.UndefinedObject, `unknown schema "${stmt.name}"`);
    }
    const tables = c.catalog.tablesIn(db.id).filter((t) => t.schemaName === stmt.name);
    const types = enumTypesOf(db).filter((t) => t.name.startsWith(`${stmt.name}.`));
    if ((tables.length > 0 || types.length > 0) && !stmt.cascade) {
      throw new CairnError(ErrorCode.FailedPrecondition, `schema "${stmt.name}" is not empty and CASCADE was not specified`);
    }
    for (const t of tables) c.putWithoutName({ kind: { $case: 'table', value: { ...t, state: DescriptorState.DROPPED } } });
    const typeNames = new Set(types.map((t) => t.name));
    c.put({
      kind: {
        $case: 'database',
        value: withObjects(
          db,
          schemasOf(db).filter((sc) => sc.name !== stmt.name),
          enumTypesOf(db).filter((t) => !typeNames.has(t.name)),
        ),
      },
    });
    return tagOnly('DROP SCHEMA');
  });
}

export async function createType(s: SchemaSession, stmt: CreateTypeStatement): Promise<StatementResult> {
  return s.descriptors.change(async (c) => {
    const place = placeOf(c.catalog, s, stmt.type);
    if (enumTypesOf(place.db).some((t) => t.name === place.namespaceName)) {
      if (stmt.ifNotExists) return tagOnly('CREATE TYPE');
      throw new CairnError(ErrorCode.DuplicateObject, `type "${place.namespaceName}" already exists`);
    }
    const repeated = stmt.labels.find((l, i) => stmt.labels.indexOf(l) !== i);
    if (repeated !== undefined) throw new CairnError(ErrorCode.InvalidArgument, `enum definition contains duplicate value "${repeated}"`);
    const types = [...enumTypesOf(place.db), { name: place.namespaceName, labels: [...stmt.labels] }];
    c.put({ kind: { $case: 'database', value: withObjects(place.db, schemasOf(place.db), types) } });
    return tagOnly('CREATE TYPE');
  });
}

export async function dropType(s: SchemaSession, stmt: DropTypeStatement): Promise<StatementResult> {
  return s.descriptors.change(async (c) => {
    const place = placeOf(c.catalog, s, stmt.type);
    if (!enumTypesOf(place.db).some((t) => t.name === place.namespaceName)) {
      if (stmt.ifExists) return tagOnly('DROP TYPE');
      throw new CairnError(ErrorCode.UndefinedObject, `type "${place.namespaceName}" does not exist`);
    }
    const users = c.catalog.tablesIn(place.db.id).filter((t) => t.columns.some((col) => col.enumType === place.namespaceName));
    if (users.length > 0) {
      throw new CairnError(
        ErrorCode.FailedPrecondition,
        `cannot drop type "${place.namespaceName}" because other objects (${users.map((t) => `${place.db.name}.${namespaceName(t.name, t.schemaName)}`).join(', ')}) still depend on it`,
      );
    }
    const types = enumTypesOf(place.db).filter((t) => t.name !== place.namespaceName);
    c.put({ kind: { $case: 'database', value: withObjects(place.db, schemasOf(place.db), types) } });
    return tagOnly('DROP TYPE');
  });
}

export function showSchemas(s: SchemaSession, stmt: ShowSchemasStatement): StatementResult {
  const db = s.catalog.resolveDatabase(stmt.database ?? requireDatabase(s));
  const names = ['public', ...schemasOf(db).map((sc) => sc.name)].sort();
  return rowsResult(['schema_name', 'owner'], names.map((n) => [n, n === 'public' ? 'admin' : 'root']));
}

export function showEnums(s: SchemaSession, stmt: ShowEnumsStatement): StatementResult {
  const db = s.catalog.resolveDatabase(stmt.database ?? requireDatabase(s));
  const rows = enumTypesOf(db).map((t) => {
    const dot = t.name.indexOf('.');
    const [schema, name] = dot < 0 ? ['public', t.name] : [t.name.slice(0, dot), t.name.slice(dot + 1)];
    return [schema, name, `{${t.labels.join(',')}}`, 'root'];
  });
  return rowsResult(['schema', 'name', 'values', 'owner'], rows.sort((a, b) => (`${a[0]}.${a[1]}` < `${b[0]}.${b[1]}` ? -1 : 1)));
}

function requireDatabase(s: SessionContext): string {
  if (!s.database) throw new CairnError(ErrorCode.UndefinedObject, 'no current database: USE a database or name one');
  return s.database;
}
