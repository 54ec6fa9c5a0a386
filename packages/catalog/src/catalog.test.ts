import { CairnError, ErrorCode } from '@cairn/errors';
import { compareKeys, decodeTableId, DESCRIPTOR_TABLE_ID, NAMESPACE_TABLE_ID, spanContains } from '@cairn/keys';
import { ColumnType, DescriptorState } from '@cairn/proto';
import type { Descriptor, TableDescriptor } from '@cairn/proto';
import { describe, expect, it } from 'vitest';
import { Catalog } from './catalog.js';
import {
  decodeDescriptor,
  decodeDescriptorKey,
  decodeNamespaceKey,
  decodeNamespaceValue,
  descriptorKey,
  descriptorSpan,
  encodeDescriptor,
  encodeNamespaceValue,
  namespaceKey,
  namespaceSpan,
  namespaceSpanForParent,
} from './catalog-keys.js';
import { isImplicitRowId } from './table-builder.js';
import type { TableDefinition } from './table-builder.js';

function dbDesc(id: number, name: string, state = DescriptorState.PUBLIC): Descriptor {
  return { kind: { $case: 'database', value: { id, name, state } } };
}
function tableDesc(t: TableDescriptor): Descriptor {
  return { kind: { $case: 'table', value: t } };
}

function errorOf(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

/** bank (100) with customers (101, pk id INT) and movr (102, empty). */
function bankCatalog(): { catalog: Catalog; customers: TableDescriptor } {
  const catalog = Catalog.fromDescriptors([dbDesc(100, 'bank'), dbDesc(102, 'movr')]);
  const customers = catalog.buildTableDescriptor(
    {
      name: 'customers',
      columns: [
        { name: 'id', type: ColumnType.INT, nullable: true, primaryKey: true },
        { name: 'name', type: ColumnType.STRING, nullable: false },
      ],
    },
    { id: 101, parentId: 100 },
  );
  catalog.apply(tableDesc(customers));
  return { catalog, customers };
}

describe('catalog keys', () => {
  it('places descriptors and namespace entries in the system tables', () => {
    const dk = descriptorKey(104);
    expect(decodeTableId(dk)).toBe(DESCRIPTOR_TABLE_ID);
    expect(decodeDescriptorKey(dk)).toBe(104);
    expect(spanContains(descriptorSpan(), dk)).toBe(true);
    expect(compareKeys(descriptorKey(9), descriptorKey(1000))).toBeLessThan(0);

    const nk = namespaceKey(100, 'accounts');
    expect(decodeTableId(nk)).toBe(NAMESPACE_TABLE_ID);
    expect(decodeNamespaceKey(nk)).toEqual({ parentId: 100, name: 'accounts' });
    expect(spanContains(namespaceSpan(), nk)).toBe(true);
    expect(spanContains(namespaceSpanForParent(100), nk)).toBe(true);
    expect(spanContains(namespaceSpanForParent(0), nk)).toBe(false);
    expect(spanContains(namespaceSpanForParent(0), namespaceKey(0, 'bank'))).toBe(true);
    expect(() => decodeDescriptorKey(nk)).toThrow(CairnError);
  });

  it('round-trips descriptors and namespace values', () => {
    const { customers } = bankCatalog();
    const d = tableDesc(customers);
    expect(decodeDescriptor(encodeDescriptor(d))).toEqual(d);
    expect(decodeDescriptor(encodeDescriptor(dbDesc(100, 'bank')))).toEqual(dbDesc(100, 'bank'));
    for (const id of [0, 1, 127, 128, 300_000, 2 ** 32 - 1]) expect(decodeNamespaceValue(encodeNamespaceValue(id))).toBe(id);
    expect(errorOf(() => decodeDescriptor(Uint8Array.of(0xff, 0xff))).code).toBe(ErrorCode.Corruption);
    expect(errorOf(() => decodeNamespaceValue(Uint8Array.of(0x80))).code).toBe(ErrorCode.Corruption);
  });
});

describe('Catalog', () => {
  it('resolves databases and tables', () => {
    const { catalog, customers } = bankCatalog();
    expect(catalog.database('bank')?.id).toBe(100);
    expect(catalog.databaseById(102)?.name).toBe('movr');
    expect(catalog.databases().map((d) => d.name)).toEqual(['bank', 'movr']);
    expect(catalog.table('bank', 'customers')).toBe(customers);
    expect(catalog.tableById(101)).toBe(customers);
    expect(catalog.resolveTable({ table: 'customers' }, 'bank')).toBe(customers);
    expect(catalog.resolveTable({ db: 'bank', table: 'customers' }, 'movr')).toBe(customers);
    expect(catalog.tablesIn(100).map((t) => t.name)).toEqual(['customers']);
    expect(catalog.maxId()).toBe(102);

    const e = errorOf(() => catalog.resolveTable({ table: 'customers' }, 'movr'));
    expect(e.code).toBe(ErrorCode.UndefinedObject);
    expect(e.message).toBe('relation "customers" does not exist');
    expect(errorOf(() => catalog.resolveTable({ db: 'nope', table: 't' }, 'bank')).message).toBe(
      'database "nope" does not exist',
    );
    expect(errorOf(() => catalog.resolveTable({ table: 't' }, '')).code).toBe(ErrorCode.UndefinedObject);
  });

  it('sorts, renames, drops and hides offline tables', () => {
    const { catalog, customers } = bankCatalog();
    const b = { ...customers, id: 103, name: 'accounts' };
    const z = { ...customers, id: 104, name: 'zebras', state: DescriptorState.OFFLINE };
    catalog.apply(tableDesc(z));
    catalog.apply(tableDesc(b));
    expect(catalog.tablesIn(100).map((t) => t.name)).toEqual(['accounts', 'customers', 'zebras']);
    expect(catalog.table('bank', 'zebras')?.id).toBe(104);
    expect(errorOf(() => catalog.resolveTable({ table: 'zebras' }, 'bank')).code).toBe(ErrorCode.FailedPrecondition);

    catalog.apply(tableDesc({ ...b, name: 'ledger' }));
    expect(catalog.table('bank', 'accounts')).toBeUndefined();
    expect(catalog.table('bank', 'ledger')?.id).toBe(103);

    catalog.apply(tableDesc({ ...b, name: 'ledger', state: DescriptorState.DROPPED }));
    expect(catalog.table('bank', 'ledger')).toBeUndefined();
    expect(catalog.tableById(103)?.state).toBe(DescriptorState.DROPPED);
    expect(catalog.tablesIn(100).map((t) => t.name)).toEqual(['customers', 'zebras']);

    expect(catalog.drop(104)).toBe(true);
    expect(catalog.drop(104)).toBe(false);
    expect(catalog.table('bank', 'zebras')).toBeUndefined();
    expect(catalog.descriptors().map((d) => d.kind?.value.id)).toEqual([100, 101, 102, 103]);
  });

  it('builds databases', () => {
    const { catalog } = bankCatalog();
    expect(catalog.buildDatabaseDescriptor('new', 200)).toEqual({ id: 200, name: 'new', state: DescriptorState.PUBLIC });
    expect(errorOf(() => catalog.buildDatabaseDescriptor('bank', 200)).message).toBe('database "bank" already exists');
  });
});

describe('buildTableDescriptor', () => {
  const ids = { id: 110, parentId: 100 };

  it('assigns column ids and NOT NULL primary keys', () => {
    const { catalog } = bankCatalog();
    const t = catalog.buildTableDescriptor(
      {
        name: 'orders',
        columns: [
          { name: 'region', type: ColumnType.STRING, nullable: true },
          { name: 'id', type: ColumnType.INT, nullable: true },
          { name: 'customer_id', type: ColumnType.INT, nullable: true, references: { table: { table: 'customers' } } },
        ],
        primaryKey: ['region', 'id'],
      },
      ids,
    );
    expect(t.columns).toEqual([
      { id: 1, name: 'region', type: ColumnType.STRING, nullable: false },
      { id: 2, name: 'id', type: ColumnType.INT, nullable: false },
      { id: 3, name: 'customer_id', type: ColumnType.INT, nullable: true },
    ]);
    expect(t.primaryKey).toEqual(['region', 'id']);
    expect(t.nextColumnId).toBe(4);
    expect(t.parentId).toBe(100);
    expect(t.foreignKeys).toEqual([
      { name: 'orders_customer_id_fkey', columns: ['customer_id'], referencedTableId: 101, referencedColumns: ['id'] },
    ]);
  });

  it('adds a rowid key when no primary key is declared', () => {
    const { catalog } = bankCatalog();
    const t = catalog.buildTableDescriptor(
      { name: 'log', columns: [{ name: 'rowid', type: ColumnType.STRING, nullable: true }] },
      ids,
    );
    expect(t.primaryKey).toEqual(['rowid_1']);
    const rowid = t.columns[1]!;
    expect(rowid).toEqual({ id: 2, name: 'rowid_1', type: ColumnType.INT, nullable: false });
    expect(isImplicitRowId(t, rowid)).toBe(true);
    expect(isImplicitRowId(t, t.columns[0]!)).toBe(false);
  });

  it('supports self-referencing foreign keys', () => {
    const { catalog } = bankCatalog();
    const t = catalog.buildTableDescriptor(
      {
        name: 'employees',
        columns: [
          { name: 'id', type: ColumnType.INT, nullable: false, primaryKey: true },
          { name: 'manager', type: ColumnType.INT, nullable: true },
        ],
        foreignKeys: [{ name: 'mgr', columns: ['manager'], references: { table: { table: 'employees' }, columns: ['id'] } }],
      },
      ids,
    );
    expect(t.foreignKeys[0]?.referencedTableId).toBe(110);
  });

  const cases: Array<[string, TableDefinition, ErrorCode, string]> = [
    [
      'duplicate column',
      {
        name: 't',
        columns: [
          { name: 'a', type: ColumnType.INT, nullable: true },
          { name: 'a', type: ColumnType.STRING, nullable: true },
        ],
      },
      ErrorCode.DuplicateObject,
      'column "a" specified more than once',
    ],
    [
      'existing table',
      { name: 'customers', columns: [{ name: 'a', type: ColumnType.INT, nullable: true }] },
      ErrorCode.DuplicateObject,
      'relation "customers" already exists',
    ],
    [
      'two primary keys',
      {
        name: 't',
        columns: [{ name: 'a', type: ColumnType.INT, nullable: true, primaryKey: true }],
        primaryKey: ['a'],
      },
      ErrorCode.InvalidArgument,
      'multiple primary keys for table "t" are not allowed',
    ],
    [
      'unknown primary key column',
      { name: 't', columns: [{ name: 'a', type: ColumnType.INT, nullable: true }], primaryKey: ['b'] },
      ErrorCode.UndefinedObject,
      'column "b" does not exist',
    ],
    [
      'missing referenced table',
      {
        name: 't',
        columns: [{ name: 'a', type: ColumnType.INT, nullable: true, references: { table: { table: 'nope' } } }],
      },
      ErrorCode.UndefinedObject,
      'relation "nope" does not exist',
    ],
    [
      'foreign key type mismatch',
      {
        name: 'orders',
        columns: [{ name: 'cid', type: ColumnType.STRING, nullable: true, references: { table: { table: 'customers' } } }],
      },
      ErrorCode.DatatypeMismatch,
      'type of "cid" (STRING) does not match foreign key "customers"."id" (INT)',
    ],
    [
      'foreign key to a non-key column',
      {
        name: 'orders',
        columns: [
          { name: 'n', type: ColumnType.STRING, nullable: true, references: { table: { table: 'customers' }, column: 'name' } },
        ],
      },
      ErrorCode.InvalidArgument,
      'there is no unique constraint matching given keys for referenced table customers',
    ],
    [
      'foreign key across databases',
      {
        name: 'orders',
        columns: [{ name: 'cid', type: ColumnType.INT, nullable: true }],
        foreignKeys: [{ columns: ['cid'], references: { table: { db: 'bank', table: 'customers' } } }],
      },
      ErrorCode.FeatureNotSupported,
      'foreign key references from table "orders" to "bank.customers" cross databases, which is not supported',
    ],
  ];

  it.each(cases)('rejects %s', (_label, def, code, message) => {
    const { catalog } = bankCatalog();
    // The cross-database case creates its table in movr (102).
    const parentId = message.includes('cross databases') ? 102 : 100;
    const e = errorOf(() => catalog.buildTableDescriptor(def, { id: 110, parentId }));
    expect(e.message).toBe(message);
    expect(e.code).toBe(code);
  });
});
