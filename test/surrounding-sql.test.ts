/**
 * The SQL around BACKUP and RESTORE that backup users rely on, on one 3-node cluster shared
 * by every test (issue 13, "surrounding SQL"):
 * - SHOW results are composable: SELECT ... FROM [SHOW BACKUP ...], [SHOW JOBS] and
 *   WITH x AS (SHOW SCHEDULES FOR BACKUP) SELECT ..., with WHERE, ORDER BY, LIMIT, also
 *   through the CLI;
 * - SET TIME ZONE: SHOW BACKUP and SHOW SCHEDULES timestamps are shown in the session's zone
 *   (the same instants a UTC session sees), kept between statements by client and CLI;
 * - secondary indexes and COMMENT ON are backed up and restored with their table: the
 *   restored index finds exactly the rows the restored table holds, stays in step with later
 *   writes, and SHOW CREATE TABLE shows index and comments; new_db_name and into_db take
 *   identifiers;
 * - user-defined schemas (db.schema.table, schema-relative names) and enum types are
 *   restored with their database, labels still checked;
 * - a new cluster has defaultdb and postgres; a full-cluster backup restored onto a second,
 *   new cluster (one node, its own nats-server; backups on s3rver) fills them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { ProcessCluster, startNatsServer, startS3Server, waitFor, type NatsServerHandle, type S3ServerHandle } from '@cairn/testing';
import { col, failure, query, queryOne } from './support/backup.js';
import { lines, sql } from './support/cli.js';
import { at } from './support/cluster.js';

const LOCALITIES = ['region=us-east1', 'region=us-west1', 'region=eu-west1'];
const COLLECTION = 'nodelocal://1/shop';

const BUCKET = 'cluster-backups';

let nats: NatsServerHandle;
let cluster: ProcessCluster;
let s3: S3ServerHandle;
let freshNats: NatsServerHandle;
/** A second, new cluster for the full-cluster restore. */
let fresh: ProcessCluster;
const clients: CairnClient[] = [];
let root: CairnClient;
let backupJobId: string;

function client(addresses = cluster.grpcAddresses(), user?: string): CairnClient {
  const c = new CairnClient({ addresses, retryForMs: 60_000, ...(user !== undefined ? { user } : {}) });
  clients.push(c);
  return c;
}

/** Every row of `from` as the table reads it, and as index `index` finds it: they must agree. */
async function tableAndIndex(c: CairnClient, from: string, index: string): Promise<{ table: string[][]; index: string[][] }> {
  const t = await c.execute(`SELECT * FROM ${from} ORDER BY id`);
  const i = await c.execute(`SELECT * FROM ${from}@${index} ORDER BY id`);
  return { table: t.rows.map((r) => r.map(String)), index: i.rows.map((r) => r.map(String)) };
}

beforeAll(async () => {
  [nats, freshNats, s3] = await Promise.all([startNatsServer(), startNatsServer(), startS3Server({ buckets: [BUCKET] })]);
  [cluster, fresh] = await Promise.all([
    ProcessCluster.start({ nats: nats.url, coordinators: 1, nodes: LOCALITIES.map((locality) => ({ locality })) }),
    ProcessCluster.start({ nats: freshNats.url, coordinators: 1, nodes: [{ locality: 'region=us-east1' }] }),
  ]);
  root = client();
  await root.execute('CREATE DATABASE shop');
  await root.execute('CREATE TABLE shop.customers (id INT PRIMARY KEY, name STRING, city STRING)');
  // One index before the rows (kept up by INSERT), one after (backfilled).
  await root.execute('CREATE INDEX by_city ON shop.customers (city)');
  await root.execute(`INSERT INTO shop.customers VALUES ${Array.from({ length: 40 }, (_, i) => `(${i}, 'c${i}', ${i % 5 === 0 ? 'NULL' : `'city${i % 4}'`})`).join(', ')}`);
  await root.execute('CREATE INDEX ON shop.customers (name, city)');
  await root.execute("UPDATE shop.customers SET city = 'moved' WHERE id < 6");
  await root.execute('DELETE FROM shop.customers WHERE id >= 36');
  await root.execute("UPSERT INTO shop.customers VALUES (7, 'seven', 'upserted'), (50, 'fifty', 'new')");
  await root.execute("COMMENT ON DATABASE shop IS 'the shop'");
  await root.execute("COMMENT ON TABLE shop.customers IS 'who buys'");
  await root.execute("COMMENT ON COLUMN shop.customers.city IS 'where they live'");
  await root.execute("COMMENT ON INDEX shop.customers@by_city IS 'city lookups'");
  backupJobId = col(await queryOne(root, `BACKUP DATABASE shop INTO '${COLLECTION}'`), 'job_id');
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([cluster?.stop(), fresh?.stop()]);
  await Promise.all([nats?.stop(), freshNats?.stop(), s3?.stop()]);
});

describe('secondary indexes and comments', () => {
  it('keep an index in step with INSERT, UPDATE, DELETE and UPSERT, before and after CREATE INDEX', async () => {
    for (const index of ['by_city', 'customers_name_city_idx']) {
      const { table, index: viaIndex } = await tableAndIndex(root, 'shop.customers', index);
      expect(table).toHaveLength(37);
      expect(viaIndex).toEqual(table);
    }
    const moved = await query(root, "SELECT id FROM shop.customers@by_city WHERE city = 'moved' ORDER BY id");
    expect(moved.map((r) => r.id)).toEqual(['0', '1', '2', '3', '4', '5']);
    // Read in index order: NULL cities first, then by city.
    const ordered = (await root.execute('SELECT city FROM shop.customers@by_city')).rows.map((r) => r[0] ?? null);
    expect(ordered).toEqual([...ordered].sort((a, b) => (a === null ? -1 : b === null ? 1 : a < b ? -1 : a > b ? 1 : 0)));
    expect((await failure(root, 'SELECT * FROM shop.customers@nope')).message).toBe('index "nope" not found');
    expect((await failure(root, 'CREATE INDEX by_city ON shop.customers (name)')).message).toBe('index "by_city" already exists');
  });

  it('reads through an index in its order, row for row, across the batches its row lookups go in', async () => {
    await root.execute('CREATE DATABASE idx');
    await root.execute('CREATE TABLE idx.t (id INT PRIMARY KEY, v INT, note STRING)');
    await root.execute('CREATE INDEX by_v ON idx.t (v)');
    // 600 rows (more than one lookup batch of 256) whose v order is a shuffle of their id order.
    const n = 600;
    const v = (id: number) => (id * 7919) % n;
    await root.execute(`INSERT INTO idx.t VALUES ${Array.from({ length: n }, (_, id) => `(${id}, ${v(id)}, 'row${id}')`).join(', ')}`);
    const rows = (await root.execute('SELECT id, v, note FROM idx.t@by_v')).rows;
    expect(rows.map((r) => Number(r[1]))).toEqual(Array.from({ length: n }, (_, i) => i));
    for (const r of rows) expect([v(Number(r[0])), r[2]]).toEqual([Number(r[1]), `row${String(r[0])}`]);
  });

  it('shows indexes and comments in SHOW CREATE TABLE', async () => {
    const create = col(await queryOne(root, 'SHOW CREATE TABLE shop.customers'), 'create_statement');
    expect(create).toContain('\tINDEX by_city (city)');
    expect(create).toContain('\tINDEX customers_name_city_idx (name, city)');
    expect(create).toContain("COMMENT ON TABLE customers IS 'who buys'");
    expect(create).toContain("COMMENT ON COLUMN customers.city IS 'where they live'");
    expect(create).toContain("COMMENT ON INDEX customers@by_city IS 'city lookups'");
  });

  it('restores indexes and comments with the table, renumbered, consistent and writable', async () => {
    // new_db_name and into_db as identifiers, as CockroachDB takes them.
    await root.execute(`RESTORE DATABASE shop FROM LATEST IN '${COLLECTION}' WITH new_db_name = shop2`);
    await root.execute('CREATE DATABASE annex');
    await root.execute(`RESTORE TABLE shop.customers FROM LATEST IN '${COLLECTION}' WITH into_db = annex`);
    const source = await tableAndIndex(root, 'shop.customers', 'by_city');
    for (const restored of ['shop2.customers', 'annex.customers']) {
      for (const index of ['by_city', 'customers_name_city_idx']) {
        const { table, index: viaIndex } = await tableAndIndex(root, restored, index);
        expect(table).toEqual(source.table);
        expect(viaIndex).toEqual(table);
      }
      const create = col(await queryOne(root, `SHOW CREATE TABLE ${restored}`), 'create_statement');
      expect(create).toBe(col(await queryOne(root, 'SHOW CREATE TABLE shop.customers'), 'create_statement'));
    }
    // The restored index keeps up with writes to the restored table, and not the source's.
    await root.execute("INSERT INTO shop2.customers VALUES (100, 'late', 'city1')");
    await root.execute("UPDATE shop2.customers SET city = 'again' WHERE id = 7");
    const after = await tableAndIndex(root, 'shop2.customers', 'by_city');
    expect(after.index).toEqual(after.table);
    expect(after.table).toHaveLength(38);
    expect((await query(root, "SELECT id FROM shop.customers@by_city WHERE city = 'again'")).length).toBe(0);
    expect(await query(root, "SELECT database_name FROM [SHOW DATABASES] WHERE database_name = 'shop2'")).toHaveLength(1);
    await root.execute('DROP INDEX shop2.customers@by_city');
    expect((await failure(root, 'SELECT * FROM shop2.customers@by_city')).message).toBe('index "by_city" not found');
  });
});

describe('foreign keys', () => {
  it('INSERT checks every row\'s referenced key in one read, names the first missing one in row order, and writes nothing then', async () => {
    await root.execute('CREATE DATABASE fk');
    await root.execute('CREATE TABLE fk.parents (id INT PRIMARY KEY)');
    await root.execute(`INSERT INTO fk.parents VALUES ${Array.from({ length: 60 }, (_, i) => `(${i * 2})`).join(', ')}`);
    await root.execute('CREATE TABLE fk.children (id INT PRIMARY KEY, parent INT REFERENCES fk.parents (id))');
    // Many rows, repeated and NULL parents among them (a NULL is not checked).
    await root.execute(`INSERT INTO fk.children VALUES ${Array.from({ length: 150 }, (_, i) => `(${i}, ${i % 7 === 0 ? 'NULL' : String((i % 60) * 2)})`).join(', ')}`);
    expect(col(await queryOne(root, 'SELECT count(*) FROM fk.children'), 'count')).toBe('150');
    // Odd ids are missing: 31 comes before 7 in the rows, though after it in key order.
    const refused = await failure(root, 'INSERT INTO fk.children VALUES (500, 4), (501, 31), (502, 7), (503, 6)');
    expect(refused.code).toBe('FOREIGN_KEY_VIOLATION');
    expect(refused.message).toBe('insert on table "children" violates foreign key constraint "children_parent_fkey": key (31) is not present in table "parents"');
    expect(col(await queryOne(root, 'SELECT count(*) FROM fk.children WHERE id >= 500'), 'count')).toBe('0');
  });
});

describe('SHOW results are composable', () => {
  it('selects from [SHOW BACKUP ...] and [SHOW JOBS] with WHERE, ORDER BY and LIMIT', async () => {
    const objects = await query(root, `SELECT object_name, object_type FROM [SHOW BACKUP FROM LATEST IN '${COLLECTION}'] WHERE object_type = 'table' ORDER BY object_name`);
    expect(objects).toEqual([{ object_name: 'customers', object_type: 'table' }]);
    const count = await queryOne(root, `SELECT count(*) FROM [SHOW BACKUP LATEST IN '${COLLECTION}']`);
    expect(Number(col(count, 'count'))).toBeGreaterThanOrEqual(2);

    const all = await query(root, 'SHOW JOBS');
    const backups = await query(root, "SELECT job_id, status FROM [SHOW JOBS] WHERE job_type = 'BACKUP' ORDER BY job_id DESC LIMIT 1");
    expect(backups).toEqual([{ job_id: backupJobId, status: 'succeeded' }]);
    const restores = await query(root, "SELECT job_id FROM [SHOW JOBS] WHERE job_type = 'RESTORE' AND status = 'succeeded'");
    expect(restores.map((r) => r.job_id).sort()).toEqual(all.filter((j) => j.job_type === 'RESTORE').map((j) => j.job_id).sort());
    expect((await failure(root, 'SELECT nope FROM [SHOW JOBS]')).message).toBe('column "nope" does not exist in the SHOW statement');
  });

  it('reads WITH x AS (SHOW SCHEDULES FOR BACKUP) SELECT ... FROM x, also through the CLI', async () => {
    await root.execute(`CREATE SCHEDULE nightly FOR BACKUP DATABASE shop INTO 'nodelocal://1/nightly' RECURRING '@daily' FULL BACKUP ALWAYS`);
    await root.execute(`CREATE SCHEDULE hourly FOR BACKUP DATABASE shop INTO 'nodelocal://1/hourly' RECURRING '@hourly' FULL BACKUP ALWAYS`);
    const rows = await query(root, "WITH x AS (SHOW SCHEDULES FOR BACKUP) SELECT label, recurrence FROM x WHERE label IN ('nightly', 'hourly') ORDER BY label");
    expect(rows).toEqual([
      { label: 'hourly', recurrence: '@hourly' },
      { label: 'nightly', recurrence: '@daily' },
    ]);
    const run = await sql(at(cluster.grpcAddresses(), 0), "WITH x AS (SHOW SCHEDULES) SELECT label FROM x WHERE label = 'nightly'", ['--format', 'csv']);
    expect(run.code, run.stderr).toBe(0);
    expect(lines(run.stdout)).toEqual(['label', 'nightly']);
  });
});

describe('SET TIME ZONE', () => {
  it('shows SHOW BACKUP and SHOW SCHEDULES timestamps in the session zone, as the same instants', async () => {
    const utc = await query(root, `SELECT object_name, end_time FROM [SHOW BACKUP FROM LATEST IN '${COLLECTION}'] WHERE object_type = 'table'`);
    const utcSchedules = await query(root, "SELECT label, created, next_run FROM [SHOW SCHEDULES] WHERE label = 'nightly'");
    const ny = client();
    expect((await ny.execute("SET TIME ZONE 'America/New_York'")).tag).toBe('SET');
    expect(col(await queryOne(ny, 'SHOW TIME ZONE'), 'timezone')).toBe('America/New_York');
    const shown = await query(ny, `SELECT object_name, end_time FROM [SHOW BACKUP FROM LATEST IN '${COLLECTION}'] WHERE object_type = 'table'`);
    const shownSchedules = await query(ny, "SELECT label, created, next_run FROM [SHOW SCHEDULES] WHERE label = 'nightly'");
    for (const [a, b, column] of [
      [at(utc, 0), at(shown, 0), 'end_time'],
      [at(utcSchedules, 0), at(shownSchedules, 0), 'created'],
      [at(utcSchedules, 0), at(shownSchedules, 0), 'next_run'],
    ] as const) {
      expect(col(a, column)).toMatch(/\+00:00$/);
      expect(col(b, column)).toMatch(/-0[45]:00$/);
      expect(Date.parse(col(b, column).replace(' ', 'T'))).toBe(Date.parse(col(a, column).replace(' ', 'T')));
    }
    // Another session is not affected, and an unknown zone is refused.
    expect(col(await queryOne(root, 'SHOW TIME ZONE'), 'timezone')).toBe('UTC');
    expect((await failure(ny, "SET TIME ZONE 'Mars/Olympus'")).message).toMatch(/^invalid value for parameter "timezone": "Mars\/Olympus"/);
  });

  it('is kept by the CLI between statements of one run', async () => {
    const run = await sql(at(cluster.grpcAddresses(), 0), "SET TIME ZONE 'Asia/Tokyo'; SELECT created FROM [SHOW SCHEDULES] WHERE label = 'nightly'", ['--format', 'csv']);
    expect(run.code, run.stderr).toBe(0);
    expect(lines(run.stdout).at(-1)).toMatch(/\+09:00$/);
  });
});

describe('user-defined schemas and enum types', () => {
  it('creates tables in schemas with three-part and schema-relative names, and checks enum labels', async () => {
    await root.execute('CREATE SCHEMA shop.sales');
    await root.execute("CREATE TYPE shop.sales.status AS ENUM ('open', 'paid')");
    await root.execute("CREATE TYPE shop.mood AS ENUM ('happy', 'sad')");
    await root.execute('CREATE TABLE shop.sales.orders (id INT PRIMARY KEY, status sales.status NOT NULL, mood mood)');
    // The same name in public is another table.
    await root.execute('CREATE TABLE shop.orders (id INT PRIMARY KEY)');
    await root.execute("INSERT INTO shop.sales.orders VALUES (1, 'open', 'happy'), (2, 'paid', NULL), (3, 'open', 'sad')");
    expect((await failure(root, "INSERT INTO shop.sales.orders VALUES (4, 'lost', NULL)")).message).toBe('invalid input value for enum sales.status: "lost"');
    expect((await failure(root, "UPDATE shop.sales.orders SET mood = 'bored' WHERE id = 1")).message).toBe('invalid input value for enum mood: "bored"');

    const inShop = client();
    await inShop.execute('USE shop');
    expect((await inShop.execute("SELECT id FROM sales.orders WHERE status = 'open' ORDER BY id")).rows).toEqual([['1'], ['3']]);
    expect((await inShop.execute('SELECT count(*) FROM orders')).rows).toEqual([['0']]);
    expect(await query(inShop, "SELECT schema_name, table_name FROM [SHOW TABLES] WHERE table_name = 'orders' ORDER BY schema_name")).toEqual([
      { schema_name: 'public', table_name: 'orders' },
      { schema_name: 'sales', table_name: 'orders' },
    ]);
    expect((await query(inShop, 'SHOW SCHEMAS')).map((r) => r.schema_name)).toEqual(['public', 'sales']);
    expect(await query(inShop, 'SELECT schema, name, values FROM [SHOW ENUMS] ORDER BY name')).toEqual([
      { schema: 'public', name: 'mood', values: '{happy,sad}' },
      { schema: 'sales', name: 'status', values: '{open,paid}' },
    ]);
    const create = col(await queryOne(root, 'SHOW CREATE TABLE shop.sales.orders'), 'create_statement');
    expect(create).toContain('CREATE TABLE sales.orders (');
    expect(create).toContain('\tstatus sales.status NOT NULL');
    expect(create).toContain('\tmood mood');
    expect((await failure(root, 'DROP TYPE shop.mood')).message).toBe('cannot drop type "mood" because other objects (shop.sales.orders) still depend on it');
    expect((await failure(root, 'DROP SCHEMA shop.sales')).message).toBe('schema "sales" is not empty and CASCADE was not specified');
    expect((await failure(root, 'CREATE TABLE shop.nowhere.t (id INT PRIMARY KEY)')).message).toMatch(/^cannot create "nowhere.t" because the target database or schema does not exist/);

    // A grant on the schema's table is a grant on that table, not on public's namesake.
    await root.execute('CREATE USER clerk');
    await root.execute('GRANT SELECT ON TABLE shop.sales.orders TO clerk');
    const clerk = client(cluster.grpcAddresses(), 'clerk');
    expect((await clerk.execute('SELECT count(*) FROM shop.sales.orders')).rows).toEqual([['3']]);
    expect((await failure(clerk, 'SELECT count(*) FROM shop.orders')).message).toBe('user clerk does not have SELECT privilege on relation orders');
  });

  it('restores schemas and types with their database, and a table into a database that has them', async () => {
    await root.execute("BACKUP DATABASE shop INTO 'nodelocal://1/schemas'");
    expect(await query(root, "SELECT parent_schema_name, object_name FROM [SHOW BACKUP LATEST IN 'nodelocal://1/schemas'] WHERE object_name = 'orders' ORDER BY parent_schema_name")).toEqual([
      { parent_schema_name: 'public', object_name: 'orders' },
      { parent_schema_name: 'sales', object_name: 'orders' },
    ]);
    expect(await query(root, "SELECT object_name FROM [SHOW BACKUP LATEST IN 'nodelocal://1/schemas'] WHERE object_type = 'schema' ORDER BY object_name")).toEqual([
      { object_name: 'public' },
      { object_name: 'sales' },
    ]);
    await root.execute("RESTORE DATABASE shop FROM LATEST IN 'nodelocal://1/schemas' WITH new_db_name = shop3");
    expect((await root.execute("SELECT id, status, mood FROM shop3.sales.orders ORDER BY id")).rows).toEqual([
      ['1', 'open', 'happy'],
      ['2', 'paid', null],
      ['3', 'open', 'sad'],
    ]);
    expect(col(await queryOne(root, 'SHOW CREATE TABLE shop3.sales.orders'), 'create_statement')).toBe(col(await queryOne(root, 'SHOW CREATE TABLE shop.sales.orders'), 'create_statement'));
    expect((await query(root, 'SHOW ENUMS FROM shop3')).map((r) => r.name)).toEqual(['mood', 'status']);
    expect((await failure(root, "INSERT INTO shop3.sales.orders VALUES (9, 'lost', NULL)")).message).toBe('invalid input value for enum sales.status: "lost"');

    // A table restore into another database needs the schema and the types there.
    const restoreInto = `RESTORE TABLE shop.sales.orders FROM LATEST IN 'nodelocal://1/schemas' WITH into_db = annex`;
    expect((await failure(root, restoreInto)).message).toBe(
      'cannot restore table "sales.orders" into database "annex": schema "sales" does not exist there (restore the database, or create it first)',
    );
    await root.execute('CREATE SCHEMA annex.sales');
    await root.execute("CREATE TYPE annex.sales.status AS ENUM ('open', 'paid')");
    await root.execute("CREATE TYPE annex.mood AS ENUM ('happy', 'sad')");
    await root.execute(restoreInto);
    expect((await root.execute('SELECT count(*) FROM annex.sales.orders')).rows).toEqual([['3']]);
  });
});

describe('the databases a new cluster has', () => {
  it('has defaultdb and postgres; a cluster backup restored onto a new cluster fills them', async () => {
    const names = async (c: CairnClient) => (await query(c, 'SELECT database_name FROM [SHOW DATABASES] ORDER BY database_name')).map((r) => r.database_name);
    expect(await names(root)).toEqual(expect.arrayContaining(['defaultdb', 'postgres']));
    await root.execute('CREATE TABLE defaultdb.notes (id INT PRIMARY KEY, body STRING)');
    await root.execute("INSERT INTO defaultdb.notes VALUES (1, 'one'), (2, 'two'), (3, NULL)");
    await root.execute('CREATE INDEX by_body ON defaultdb.notes (body)');
    await root.execute(`BACKUP INTO '${s3.uri(BUCKET, 'cluster')}'`);

    const other = client(fresh.grpcAddresses());
    await waitFor(async () => ((await names(other)).includes('defaultdb') ? true : undefined), { what: 'defaultdb on the new cluster', timeoutMs: 30_000 });
    expect(await names(other)).toEqual(['defaultdb', 'postgres']);
    await other.execute(`RESTORE FROM LATEST IN '${s3.uri(BUCKET, 'cluster')}'`);
    expect(await names(other)).toEqual(await names(root));
    expect(await tableAndIndex(other, 'defaultdb.notes', 'by_body')).toEqual(await tableAndIndex(root, 'defaultdb.notes', 'by_body'));
    expect(await tableAndIndex(other, 'shop.customers', 'by_city')).toEqual(await tableAndIndex(root, 'shop.customers', 'by_city'));
    // Schemas and enum types came with their database, labels still enforced.
    const orders = 'SELECT id, status, mood FROM shop.sales.orders ORDER BY id';
    expect((await other.execute(orders)).rows).toEqual((await root.execute(orders)).rows);
    expect((await failure(other, "UPDATE shop.sales.orders SET status = 'lost' WHERE id = 1")).message).toBe('invalid input value for enum sales.status: "lost"');
    // A cluster that holds anything beyond them is no target for a full-cluster restore.
    expect((await failure(other, `RESTORE FROM LATEST IN '${s3.uri(BUCKET, 'cluster')}'`)).message).toMatch(/^full cluster restore can only be run on a cluster with no tables or databases/);
  });
});
