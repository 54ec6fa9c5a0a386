import { describe, expect, it } from 'vitest';
import { formatStatement, parseOne } from './index.js';
import type { Statement } from './index.js';

function one<K extends Statement['kind']>(sql: string, kind: K): Extract<Statement, { kind: K }> {
  const stmt = parseOne(sql);
  expect(stmt.kind).toBe(kind);
  // Every statement here prints back to text that parses to the same thing.
  expect(JSON.stringify(parseOne(formatStatement(stmt)), noPos)).toBe(JSON.stringify(stmt, noPos));
  return stmt as Extract<Statement, { kind: K }>;
}

function noPos(k: string, v: unknown): unknown {
  return k === 'pos' ? undefined : v;
}

describe('SELECT over SHOW results', () => {
  it('reads SELECT ... FROM [SHOW ...] with WHERE, ORDER BY and LIMIT', () => {
    const s = one(
      "SELECT job_id, status FROM [SHOW JOBS] WHERE job_type = 'BACKUP' AND created > '2024-01-01' ORDER BY created DESC, job_id LIMIT 5",
      'selectFromShow',
    );
    expect(s.show.kind).toBe('showJobs');
    expect(s.withName).toBeUndefined();
    expect(s.items.map((i) => (i.kind === 'column' ? i.name : i.kind))).toEqual(['job_id', 'status']);
    expect(s.where).toHaveLength(2);
    expect(s.orderBy.map((o) => [o.column, o.desc])).toEqual([['created', true], ['job_id', false]]);
    expect(s.limit).toBe(5);
  });

  it('takes every SHOW inside the brackets, SHOW BACKUP with its options included', () => {
    const s = one("SELECT count(*) FROM [SHOW BACKUP FROM LATEST IN 'nodelocal://1/b' WITH check_files] WHERE object_type = 'table'", 'selectFromShow');
    expect(s.show).toMatchObject({ kind: 'showBackup', options: { checkFiles: true } });
    expect(s.items[0]).toMatchObject({ kind: 'aggregate', fn: 'count' });
    for (const show of ['SHOW DATABASES', 'SHOW SCHEDULES FOR BACKUP', 'SHOW GRANTS ON DATABASE d', "SHOW BACKUPS IN 's3://b'", 'SHOW TIME ZONE', 'SHOW CLUSTER SETTINGS', "SHOW BACKUP CONNECTION 's3://b'"]) {
      expect(one(`SELECT * FROM [${show}]`, 'selectFromShow').show.kind).toMatch(/^show|checkExternalConnection/);
    }
  });

  it('reads WITH x AS (SHOW ...) SELECT ... FROM x', () => {
    const s = one("WITH x AS (SHOW SCHEDULES FOR BACKUP) SELECT id, label FROM x WHERE schedule_status = 'ACTIVE' ORDER BY label", 'selectFromShow');
    expect(s.withName).toBe('x');
    expect(s.show).toMatchObject({ kind: 'showSchedules', backupOnly: true });
  });

  it('refuses a FROM that is not the WITH name, and a non-SHOW in brackets', () => {
    expect(() => parseOne('WITH x AS (SHOW JOBS) SELECT * FROM y')).toThrow(/at or near "y": syntax error: expected x/);
    expect(() => parseOne('SELECT * FROM [SELECT * FROM t]')).toThrow(/expected SHOW/);
    expect(() => parseOne("SELECT * FROM [CHECK EXTERNAL CONNECTION 's3://b']")).toThrow(/expected SHOW/);
  });

  it('still reads SELECT from a table', () => {
    expect(one('SELECT a FROM d.t WHERE a > 1 ORDER BY a LIMIT 2', 'select').from).toMatchObject({ database: 'd', name: 't' });
  });
});

describe('SET TIME ZONE', () => {
  it('takes names, strings, offsets and DEFAULT', () => {
    expect(one("SET TIME ZONE 'America/New_York'", 'setTimeZone').zone).toBe('America/New_York');
    expect(one('SET TIME ZONE UTC', 'setTimeZone').zone).toBe('utc');
    expect(one('SET TIME ZONE -5', 'setTimeZone').zone).toBe('-5');
    expect(one("SET timezone = 'Asia/Tokyo'", 'setTimeZone').zone).toBe('Asia/Tokyo');
    expect(one("SET timezone TO '+05:30'", 'setTimeZone').zone).toBe('+05:30');
    expect(one('SET TIME ZONE DEFAULT', 'setTimeZone').zone).toBeUndefined();
    expect(one('SET TIME ZONE LOCAL', 'setTimeZone').zone).toBeUndefined();
    one('SHOW TIME ZONE', 'showTimeZone');
    one('SHOW timezone', 'showTimeZone');
  });
});

describe('identifiers where CockroachDB takes them', () => {
  it('new_db_name and into_db take an identifier or a string', () => {
    expect(one("RESTORE DATABASE d FROM LATEST IN 's3://b' WITH new_db_name = ddup", 'restore').options.newDbName).toBe('ddup');
    expect(one("RESTORE TABLE d.t FROM LATEST IN 's3://b' WITH into_db = root", 'restore').options.intoDb).toBe('root');
    expect(one("RESTORE TABLE d.t FROM LATEST IN 's3://b' WITH into_db = \"My DB\"", 'restore').options.intoDb).toBe('My DB');
    expect(one("RESTORE DATABASE d FROM LATEST IN 's3://b' WITH new_db_name = 'ddup'", 'restore').options.newDbName).toBe('ddup');
    expect(() => parseOne("RESTORE DATABASE d FROM LATEST IN 's3://b' WITH new_db_name = 5")).toThrow(/expected a database name/);
  });

  it('SHOW BACKUP takes LATEST IN and a subdirectory IN without FROM', () => {
    expect(one("SHOW BACKUP LATEST IN 's3://b'", 'showBackup').source).toMatchObject({ subdir: { kind: 'latest' }, uris: ['s3://b'] });
    expect(one("SHOW BACKUP SCHEMAS '2024/01/01-000000.00' IN 's3://b'", 'showBackup')).toMatchObject({ details: 'schemas', source: { subdir: { path: '2024/01/01-000000.00' } } });
    expect(one("SHOW BACKUP 's3://b/old'", 'showBackup').source.subdir).toBeUndefined();
  });
});

describe('secondary indexes and comments', () => {
  it('reads CREATE INDEX, DROP INDEX and SELECT ... FROM t@idx', () => {
    expect(one('CREATE INDEX IF NOT EXISTS by_name ON d.t (name, city)', 'createIndex')).toMatchObject({
      name: 'by_name',
      table: { database: 'd', name: 't' },
      columns: ['name', 'city'],
      ifNotExists: true,
    });
    expect(one('CREATE INDEX ON t (name)', 'createIndex').name).toBeUndefined();
    expect(one('DROP INDEX IF EXISTS t@by_name', 'dropIndex')).toMatchObject({ table: { name: 't' }, name: 'by_name', ifExists: true });
    expect(one('DROP INDEX by_name', 'dropIndex').table).toBeUndefined();
    expect(one("SELECT * FROM t@by_name WHERE name = 'x' ORDER BY id", 'select')).toMatchObject({ from: { name: 't' }, index: 'by_name' });
    expect(() => parseOne('CREATE UNIQUE INDEX u ON t (a)')).toThrow(/UNIQUE secondary indexes are not supported/);
    expect(() => parseOne('DROP INDEX d.t')).toThrow(/expected "@"/);
  });

  it('reads COMMENT ON each kind of object, and IS NULL', () => {
    expect(one("COMMENT ON DATABASE bank IS 'money'", 'commentOn')).toMatchObject({ target: { kind: 'database', name: 'bank' }, comment: 'money' });
    expect(one("COMMENT ON TABLE bank.accounts IS 'who has what'", 'commentOn').target).toMatchObject({ kind: 'table', table: { database: 'bank', name: 'accounts' } });
    expect(one("COMMENT ON COLUMN accounts.balance IS 'cents'", 'commentOn').target).toMatchObject({ kind: 'column', table: { name: 'accounts' }, column: 'balance' });
    expect(one("COMMENT ON COLUMN bank.public.accounts.balance IS 'cents'", 'commentOn').target).toMatchObject({
      kind: 'column',
      table: { database: 'bank', schema: 'public', name: 'accounts' },
      column: 'balance',
    });
    expect(one("COMMENT ON INDEX accounts@by_owner IS 'lookups'", 'commentOn').target).toMatchObject({ kind: 'index', index: 'by_owner' });
    expect(one('COMMENT ON TABLE t IS NULL', 'commentOn').comment).toBeNull();
    expect(() => parseOne("COMMENT ON COLUMN balance IS 'x'")).toThrow(/qualified by its table/);
  });
});

describe('schemas and enum types', () => {
  it('reads CREATE / DROP SCHEMA and TYPE, SHOW SCHEMAS / ENUMS, and user-defined column types', () => {
    expect(one('CREATE SCHEMA IF NOT EXISTS shop.sales', 'createSchema')).toMatchObject({ database: 'shop', name: 'sales', ifNotExists: true });
    expect(one('DROP SCHEMA sales CASCADE', 'dropSchema')).toMatchObject({ name: 'sales', cascade: true });
    expect(one("CREATE TYPE shop.sales.status AS ENUM ('open', 'paid')", 'createType')).toMatchObject({
      type: { database: 'shop', schema: 'sales', name: 'status' },
      labels: ['open', 'paid'],
    });
    expect(one('DROP TYPE IF EXISTS mood', 'dropType')).toMatchObject({ type: { name: 'mood' }, ifExists: true });
    expect(one('SHOW SCHEMAS FROM shop', 'showSchemas').database).toBe('shop');
    one('SHOW ENUMS', 'showEnums');
    one('SHOW TYPES', 'showEnums');
    const t = one('CREATE TABLE sales.orders (id INT PRIMARY KEY, status sales.status NOT NULL, mood "Mood")', 'createTable');
    expect(t.columns.map((c) => c.type)).toMatchObject([{ name: 'INT' }, { name: 'ENUM', enumType: { schema: 'sales', name: 'status' } }, { name: 'ENUM', enumType: { name: 'Mood' } }]);
    expect(() => parseOne("CREATE TYPE t AS RANGE ('a')")).toThrow(/expected ENUM/);
    // Types CockroachDB has and cairn does not stay syntax errors, not type lookups.
    expect(() => parseOne('CREATE TABLE t (a JSONB)')).toThrow(/expected a column type/);
  });
});
