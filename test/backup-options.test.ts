/**
 * BACKUP, RESTORE, SHOW BACKUP and schedule options end to end, each doing what CockroachDB
 * does or refused with its error, on one 3-node cluster (three regions, one nats-server) with
 * nodelocal storage:
 * - incremental_location: the incremental goes to <location>/<full subdir>/..., on the node
 *   the location names; SHOW BACKUP and RESTORE read the chain across both places; the forms
 *   CockroachDB refuses are refused with its errors;
 * - RESTORE EXECUTION LOCALITY: only the matching node restores spans; no match is refused;
 * - dependencies: a view needs its table, DEFAULT nextval its sequence, a foreign key its
 *   table; skip_missing_views / _sequences / _foreign_keys drop what they name;
 * - SHOW BACKUP SCHEMAS / FILES / RANGES, LATEST IN without FROM, as_json, privileges,
 *   check_files with file_bytes, the regions column;
 * - an incremental whose window holds a RESTORE into the database gives what a full does;
 * - feature.backup / restore / schedule.enabled; a cluster RESTORE of a database backup;
 *   ALTER BACKUP SCHEDULE ... SET WITH kms on a passphrase schedule;
 *   updates_cluster_last_backup_time_metric = '1'.
 * test/option-coverage.test.ts checks that every option the parser accepts names a test here
 * or in another e2e file.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { ErrorCode } from '@cairn/errors';
import { ProcessCluster, startNatsServer, waitFor, type NatsServerHandle } from '@cairn/testing';
import { col, countRows, databaseFingerprints, failure, localityAwareUris, query, queryOne, sqlUriList, type Row } from './support/backup.js';
import { at, nodeIdOf } from './support/cluster.js';
import { reportedAddress } from './support/coordinators.js';
import { scrapeMetric } from './support/metrics.js';

const LOCALITIES = ['region=us-east1,zone=us-east1-b', 'region=us-west1,zone=us-west1-a', 'region=eu-west1,zone=eu-west1-c'];

let nats: NatsServerHandle;
let cluster: ProcessCluster;
let client: CairnClient;
/** Node ids in LOCALITIES order. */
let nodeIds: number[];
/** The collection of the shop database's full backup (on the first node). */
let shopCollection: string;

/** Every file under `dir`, relative to it, or [] when it does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

/** The extern dir of the node at `index`: what `nodelocal://<its id>/` names. */
function externDir(index: number): string {
  return join(cluster.dataDir, at(cluster.nodes, index, 'node').name, 'extern');
}

/** Restored rows of each node (`cairn_work_items_total{kind="restore",outcome="ok"}`), in LOCALITIES order. */
async function restoreItemsByNode(): Promise<number[]> {
  return Promise.all(
    cluster.nodes.map(async (n) => (await scrapeMetric(String(n.readyInfo['httpListen']), 'cairn_work_items_total{kind="restore",outcome="ok"}')) ?? 0),
  );
}

beforeAll(async () => {
  nats = await startNatsServer();
  cluster = await ProcessCluster.start({ nats: nats.url, coordinators: 1, nodes: LOCALITIES.map((locality) => ({ locality })) });
  client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 60_000 });
  nodeIds = cluster.nodes.map(nodeIdOf);
  for (const sql of [
    'CREATE DATABASE shop',
    'CREATE TABLE shop.customers (id INT PRIMARY KEY, name STRING)',
    'CREATE TABLE shop.orders (id INT PRIMARY KEY, customer INT REFERENCES shop.customers (id), total INT)',
    'CREATE SEQUENCE shop.item_ids',
    "CREATE TABLE shop.items (id INT PRIMARY KEY DEFAULT nextval('item_ids'), label STRING)",
    'CREATE VIEW shop.big_orders AS SELECT id, total FROM shop.orders WHERE total > 500',
    `INSERT INTO shop.customers VALUES ${Array.from({ length: 20 }, (_, i) => `(${i}, 'c${i}')`).join(', ')}`,
    `INSERT INTO shop.orders VALUES ${Array.from({ length: 40 }, (_, i) => `(${i}, ${i % 20}, ${i * 25})`).join(', ')}`,
    `INSERT INTO shop.items VALUES ${Array.from({ length: 10 }, (_, i) => `(${i}, 'item ${i}')`).join(', ')}`,
    'CREATE USER alice',
    'GRANT SELECT ON TABLE shop.customers TO alice',
    'CREATE DATABASE target',
  ]) {
    await client.execute(sql);
  }
  shopCollection = `nodelocal://${at(nodeIds, 0)}/shop`;
  expect(col(await queryOne(client, `BACKUP DATABASE shop INTO '${shopCollection}'`), 'status')).toBe('succeeded');
}, 120_000);

afterAll(async () => {
  client?.close();
  await cluster?.stop();
  await nats?.stop();
});

describe('incremental_location', () => {
  it('writes the incremental to <location>/<full subdir>/ and reads the chain back from both places', async () => {
    const full = `nodelocal://${at(nodeIds, 0)}/il`;
    const inc = `nodelocal://${at(nodeIds, 1)}/il-inc`;
    expect(col(await queryOne(client, `BACKUP DATABASE shop INTO '${full}'`), 'status')).toBe('succeeded');
    const fullSubdir = col(at(await query(client, `SHOW BACKUPS IN '${full}'`), 0), 'path');
    await client.execute(`INSERT INTO shop.customers VALUES ${Array.from({ length: 15 }, (_, i) => `(${100 + i}, 'late ${i}')`).join(', ')}`);
    const afterInsert = await databaseFingerprints(client, 'shop');
    const r = await queryOne(client, `BACKUP DATABASE shop INTO LATEST IN '${full}' WITH incremental_location = '${inc}'`);
    expect(col(r, 'status')).toBe('succeeded');

    // CockroachDB's layout: <incremental_location>/<full subdir>/<YYYYMMDD>/<HHMMSS.ss>-<YYYYMMDD>-<HHMMSS.ss>/.
    const incFiles = await filesUnder(join(externDir(1), 'il-inc'));
    const manifests = incFiles.filter((f) => f.endsWith('/BACKUP_MANIFEST'));
    expect(manifests).toHaveLength(1);
    expect(at(manifests, 0)).toMatch(new RegExp(`^${fullSubdir.slice(1)}/\\d{8}/\\d{6}\\.\\d{2}-\\d{8}-\\d{6}\\.\\d{2}/BACKUP_MANIFEST$`));
    expect((await filesUnder(join(externDir(0), 'il'))).filter((f) => f.startsWith('incrementals/'))).toEqual([]);

    // Without the option, the chain is the full alone; with it, the full and the incremental.
    const layers = async (sql: string) => new Set((await query(client, sql)).map((row) => col(row, 'backup_type') + (row['start_time'] ?? '')));
    expect((await layers(`SHOW BACKUP FROM LATEST IN '${full}'`)).size).toBe(1);
    expect((await layers(`SHOW BACKUP FROM LATEST IN '${full}' WITH incremental_location = '${inc}'`)).size).toBe(2);

    await client.execute(`RESTORE DATABASE shop FROM LATEST IN '${full}' WITH incremental_location = '${inc}', new_db_name = 'shop_il'`);
    expect(await databaseFingerprints(client, 'shop_il')).toEqual(afterInsert);
    await client.execute(`RESTORE DATABASE shop FROM LATEST IN '${full}' WITH new_db_name = 'shop_full_only'`);
    expect(await countRows(client, 'shop_full_only.customers')).toBe(20);
    expect(await countRows(client, 'shop_il.customers')).toBe(35);

    // A later incremental at the same location continues the chain found there.
    await client.execute("INSERT INTO shop.customers VALUES (200, 'later')");
    expect(col(await queryOne(client, `BACKUP DATABASE shop INTO LATEST IN '${full}' WITH incremental_location = '${inc}'`), 'status')).toBe('succeeded');
    expect((await layers(`SHOW BACKUP LATEST IN '${full}' WITH incremental_location = '${inc}'`)).size).toBe(3);
  });

  it('a locality-aware incremental_location gets each node its own URI, as the destination does', async () => {
    const [east, west] = [at(nodeIds, 0), at(nodeIds, 1)];
    const dest = sqlUriList(localityAwareUris(`nodelocal://${east}/la`, [{ tier: 'region=us-west1', uri: `nodelocal://${west}/la-west` }]));
    const inc = sqlUriList(localityAwareUris(`nodelocal://${east}/la-inc`, [{ tier: 'region=us-west1', uri: `nodelocal://${west}/la-inc-west` }]));
    await client.execute(`BACKUP DATABASE shop INTO ${dest}`);
    await client.execute("INSERT INTO shop.orders VALUES (1000, 1, 5)");
    await client.execute(`BACKUP DATABASE shop INTO LATEST IN ${dest} WITH incremental_location = ${inc}, EXECUTION LOCALITY = 'region=us-west1'`);
    // The west node exported the incremental: its data files are in the west incremental URI,
    // the manifest in the default one.
    const westFiles = await filesUnder(join(externDir(1), 'la-inc-west'));
    expect(westFiles.some((f) => f.includes('/data/'))).toBe(true);
    expect((await filesUnder(join(externDir(0), 'la-inc'))).filter((f) => f.endsWith('/BACKUP_MANIFEST'))).toHaveLength(1);
    await client.execute(`RESTORE DATABASE shop FROM LATEST IN ${dest} WITH incremental_location = ${inc}, new_db_name = 'shop_la'`);
    expect(await countRows(client, 'shop_la.orders')).toBe(41);
    const mismatched = await failure(client, `BACKUP DATABASE shop INTO LATEST IN ${dest} WITH incremental_location = 'nodelocal://${east}/la-inc'`);
    expect(mismatched.message).toContain('the incremental_location option must contain the same number of locality aware URIs as the full backup destination');
    await client.execute('DELETE FROM shop.orders WHERE id = 1000');
  });

  it("refuses the forms CockroachDB refuses, with its errors", async () => {
    const inc = `nodelocal://${at(nodeIds, 1)}/il-inc`;
    const cases: Array<[string, string]> = [
      [`BACKUP DATABASE shop INTO 'nodelocal://${at(nodeIds, 0)}/il-new' WITH incremental_location = '${inc}'`, `incremental_location is only for incremental backups (BACKUP ... INTO LATEST IN ...): a full backup goes to the collection, not to ${inc}`],
      [`BACKUP DATABASE shop TO 'nodelocal://${at(nodeIds, 0)}/il-to' WITH incremental_location = '${inc}'`, 'incremental_location option not supported with `BACKUP TO` syntax'],
      [
        `RESTORE DATABASE shop FROM '${shopCollection}' WITH incremental_location = '${inc}', new_db_name = 'x'`,
        "incremental_location can only be used with the following syntax: 'RESTORE [target] FROM [subdirectory] IN [destination]'",
      ],
    ];
    for (const [sql, message] of cases) {
      const err = await failure(client, sql);
      expect(err.code, sql).toBe(ErrorCode.InvalidArgument);
      expect(err.message, sql).toContain(message);
    }
  });

  it('names a missing target before a collection without LATEST', async () => {
    const empty = `nodelocal://${at(nodeIds, 0)}/il-empty`;
    const both = await failure(client, `BACKUP DATABASE no_such_db INTO LATEST IN '${empty}'`);
    expect(both.code).toBe(ErrorCode.UndefinedObject);
    expect(both.message).toContain('database "no_such_db" does not exist');
    const collectionOnly = await failure(client, `BACKUP DATABASE shop INTO LATEST IN '${empty}'`);
    expect(collectionOnly.code).toBe(ErrorCode.NotFound);
    expect(collectionOnly.message).toContain('no backups found');
  });
});

describe('RESTORE ... WITH EXECUTION LOCALITY', () => {
  it("has only the matching node restore spans, and refuses a filter no node matches", async () => {
    const before = await restoreItemsByNode();
    await client.execute(`RESTORE DATABASE shop FROM LATEST IN '${shopCollection}' WITH EXECUTION LOCALITY = 'region=us-west1', new_db_name = 'shop_west'`);
    expect([await countRows(client, 'shop_west.customers'), await countRows(client, 'shop_west.orders'), await countRows(client, 'shop_west.items')]).toEqual([20, 40, 10]);
    const after = await restoreItemsByNode();
    const gained = after.map((n, i) => n - at(before, i));
    expect(at(gained, 1)).toBeGreaterThan(0);
    expect([at(gained, 0), at(gained, 2)]).toEqual([0, 0]);

    const jobsBefore = (await query(client, 'SHOW JOBS')).length;
    const err = await failure(client, `RESTORE DATABASE shop FROM LATEST IN '${shopCollection}' WITH EXECUTION LOCALITY = 'region=nowhere', new_db_name = 'shop_nowhere'`);
    expect(err.code).toBe(ErrorCode.FailedPrecondition);
    expect(err.message).toContain('no instances found matching locality filter region=nowhere');
    expect((await query(client, 'SHOW JOBS')).length).toBe(jobsBefore);
  });
});

describe('an incremental after a RESTORE', () => {
  it('restores the restored rows and the writes after them as a full backup does', async () => {
    // The chain's full is taken before the restore, so the incremental's window holds the
    // restore's ingest. Replicas index an ingest by one span marker per range instead of a
    // change index entry per row (MvccStore.applyBulkBatch); the planner exports a table the
    // previous layer did not cover from the beginning of time, and either way the chain must
    // give back what a full backup taken at the same moment gives.
    const chain = `nodelocal://${at(nodeIds, 0)}/after-restore`;
    const full = `nodelocal://${at(nodeIds, 1)}/after-restore-full`;
    await client.execute('CREATE DATABASE ar');
    await client.execute('CREATE TABLE ar.notes (id INT PRIMARY KEY, body STRING)');
    await client.execute(`INSERT INTO ar.notes VALUES ${Array.from({ length: 10 }, (_, i) => `(${i}, 'n${i}')`).join(', ')}`);
    expect(col(await queryOne(client, `BACKUP DATABASE ar INTO '${chain}'`), 'status')).toBe('succeeded');

    await client.execute(`RESTORE TABLE shop.customers FROM LATEST IN '${shopCollection}' WITH into_db = 'ar'`);
    await client.execute(`INSERT INTO ar.customers VALUES ${Array.from({ length: 5 }, (_, i) => `(${500 + i}, 'after ${i}')`).join(', ')}`);
    await client.execute(`UPDATE ar.customers SET name = 'renamed' WHERE id = 3`);
    await client.execute('DELETE FROM ar.customers WHERE id = 4');
    await client.execute(`INSERT INTO ar.notes VALUES (100, 'late')`);
    expect(col(await queryOne(client, `BACKUP DATABASE ar INTO LATEST IN '${chain}'`), 'status')).toBe('succeeded');
    expect(col(await queryOne(client, `BACKUP DATABASE ar INTO '${full}'`), 'status')).toBe('succeeded');
    const expected = await databaseFingerprints(client, 'ar');
    expect(await countRows(client, 'ar.customers')).toBe(20 + 5 - 1);

    await client.execute(`RESTORE DATABASE ar FROM LATEST IN '${chain}' WITH new_db_name = 'ar_chain'`);
    await client.execute(`RESTORE DATABASE ar FROM LATEST IN '${full}' WITH new_db_name = 'ar_full'`);
    expect(await databaseFingerprints(client, 'ar_full')).toEqual(expected);
    expect(await databaseFingerprints(client, 'ar_chain')).toEqual(expected);
    expect(await countRows(client, 'ar_chain.customers')).toBe(24);
    expect(col(await queryOne(client, 'SELECT name FROM ar_chain.customers WHERE id = 3'), 'name')).toBe('renamed');
  });
});

describe('dependencies and skip_missing_*', () => {
  const from = () => `FROM LATEST IN '${shopCollection}'`;
  const tables = async (db: string) => (await query(client, `SHOW TABLES FROM ${db}`)).map((r) => col(r, 'table_name')).sort();

  it('refuses a view without its table, and skip_missing_views leaves the view out', async () => {
    const err = await failure(client, `RESTORE TABLE shop.big_orders, shop.customers ${from()} WITH into_db = 'target'`);
    expect(err.code).toBe(ErrorCode.FailedPrecondition);
    expect(err.message).toContain('cannot restore view "big_orders" without restoring referenced table (or "skip_missing_views" option)');
    await client.execute(`RESTORE TABLE shop.big_orders, shop.customers ${from()} WITH into_db = 'target', skip_missing_views`);
    expect(await tables('target')).toEqual(['customers']);
  });

  it("refuses a DEFAULT nextval without its sequence, and skip_missing_sequences drops the DEFAULT", async () => {
    const err = await failure(client, `RESTORE TABLE shop.items ${from()} WITH into_db = 'target'`);
    expect(err.message).toMatch(/cannot restore table "items" without referenced sequence \d+ \(or "skip_missing_sequences" option\)/);
    await client.execute(`RESTORE TABLE shop.items ${from()} WITH into_db = 'target', skip_missing_sequences`);
    expect(col(await queryOne(client, 'SHOW CREATE TABLE target.items'), 'create_statement')).not.toContain('DEFAULT');
    expect(await countRows(client, 'target.items')).toBe(10);
  });

  it('refuses a foreign key without its table, and skip_missing_foreign_keys drops the constraint', async () => {
    await client.execute('CREATE DATABASE fk_target');
    const err = await failure(client, `RESTORE TABLE shop.orders ${from()} WITH into_db = 'fk_target'`);
    expect(err.message).toMatch(/cannot restore table "orders" without referenced table \d+ \(or "skip_missing_foreign_keys" option\)/);
    await client.execute(`RESTORE TABLE shop.orders ${from()} WITH into_db = 'fk_target', skip_missing_foreign_keys`);
    expect(col(await queryOne(client, 'SHOW CREATE TABLE fk_target.orders'), 'create_statement')).not.toContain('FOREIGN KEY');
  });

  it('restores a whole database with its view, sequence DEFAULT and foreign key; skip_localities_check has nothing to check', async () => {
    await client.execute(`RESTORE DATABASE shop ${from()} WITH new_db_name = 'shop_whole', skip_localities_check`);
    expect(await tables('shop_whole')).toEqual(['big_orders', 'customers', 'item_ids', 'items', 'orders']);
    expect(col(await queryOne(client, 'SHOW CREATE TABLE shop_whole.items'), 'create_statement')).toContain("DEFAULT nextval('item_ids')");
    expect(col(await queryOne(client, 'SHOW CREATE TABLE shop_whole.orders'), 'create_statement')).toContain('FOREIGN KEY (customer) REFERENCES customers(id)');
  });

  it('gives omitted DEFAULT nextval columns the next values; a restore brings the sequence back where it was', async () => {
    await client.execute('CREATE DATABASE seqdb');
    await client.execute('CREATE SEQUENCE seqdb.n');
    await client.execute("CREATE TABLE seqdb.t (id INT PRIMARY KEY DEFAULT nextval('n'), v STRING)");
    await client.execute("INSERT INTO seqdb.t (v) VALUES ('a'), ('b'), ('c')");
    await client.execute("INSERT INTO seqdb.t (v) VALUES ('d')");
    const ids = async (db: string) => (await query(client, `SELECT id FROM ${db}.t`)).map((r) => Number(col(r, 'id'))).sort((a, b) => a - b);
    expect(await ids('seqdb')).toEqual([1, 2, 3, 4]);
    const dest = `nodelocal://${at(nodeIds, 2)}/seq`;
    await client.execute(`BACKUP DATABASE seqdb INTO '${dest}'`);
    await client.execute(`RESTORE DATABASE seqdb FROM LATEST IN '${dest}' WITH new_db_name = 'seqdb2'`);
    await client.execute("INSERT INTO seqdb2.t (v) VALUES ('e')");
    expect(await ids('seqdb2')).toEqual([1, 2, 3, 4, 5]);
  });

  it('keeps the dependencies on DROP: a table a view reads and a sequence a DEFAULT uses need CASCADE', async () => {
    for (const sql of [
      'CREATE DATABASE deps',
      'CREATE TABLE deps.t (id INT PRIMARY KEY)',
      'CREATE VIEW deps.v AS SELECT id FROM deps.t',
      'CREATE SEQUENCE deps.s',
      "CREATE TABLE deps.u (id INT PRIMARY KEY DEFAULT nextval('s'))",
    ]) {
      await client.execute(sql);
    }
    expect((await failure(client, 'DROP TABLE deps.t')).message).toContain('cannot drop relation "t" because view "v" depends on it');
    expect((await failure(client, 'DROP SEQUENCE deps.s')).message).toContain('cannot drop sequence s because other objects depend on it');
    await client.execute('DROP TABLE deps.t CASCADE');
    await client.execute('DROP SEQUENCE deps.s CASCADE');
    expect(await tables('deps')).toEqual(['u']);
    expect(col(await queryOne(client, 'SHOW CREATE TABLE deps.u'), 'create_statement')).not.toContain('DEFAULT');
  });

  it('refuses a view on a table that does not exist, and DEFAULTs other than nextval', async () => {
    expect((await failure(client, 'CREATE VIEW shop.v AS SELECT id FROM shop.nothing')).message).toContain('relation "shop.nothing" does not exist');
    const dflt = await failure(client, 'CREATE TABLE shop.d (id INT PRIMARY KEY, n INT DEFAULT 7)');
    expect(dflt.code).toBe(ErrorCode.FeatureNotSupported);
    expect(dflt.message).toContain("cairn takes only DEFAULT nextval('<sequence>')");
  });
});

describe('SHOW BACKUP variants and options', () => {
  const latest = () => `LATEST IN '${shopCollection}'`;
  const byObject = (rows: Row[]) => new Map(rows.map((r) => [`${r['object_type']}:${r['object_name']}`, r]));

  it('prints the default columns with regions, and takes LATEST IN without FROM', async () => {
    const withFrom = await query(client, `SHOW BACKUP FROM ${latest()}`);
    const without = await query(client, `SHOW BACKUP ${latest()}`);
    expect(without).toEqual(withFrom);
    expect(Object.keys(at(withFrom, 0))).toEqual([
      'database_name',
      'parent_schema_name',
      'object_name',
      'object_type',
      'backup_type',
      'start_time',
      'end_time',
      'size_bytes',
      'rows',
      'is_full_cluster',
      'regions',
    ]);
    const objects = byObject(withFrom);
    // Views and sequences are table descriptors, shown as 'table' as CockroachDB shows them.
    expect([...objects.keys()].sort()).toEqual(['database:shop', 'schema:public', 'table:big_orders', 'table:customers', 'table:item_ids', 'table:items', 'table:orders']);
    expect(col(objects.get('table:customers')!, 'rows')).toBe('20');
    expect(withFrom.every((r) => r['regions'] === null)).toBe(true);
  });

  it('SCHEMAS adds create_statement', async () => {
    const objects = byObject(await query(client, `SHOW BACKUP SCHEMAS ${latest()}`));
    expect(col(objects.get('table:items')!, 'create_statement')).toMatch(/\tid \w+ NOT NULL DEFAULT nextval\('item_ids'\)/);
    expect(col(objects.get('table:big_orders')!, 'create_statement')).toBe('CREATE VIEW big_orders AS SELECT id, total FROM shop.orders WHERE total > 500');
    expect(objects.get('database:shop')!['create_statement']).toBeNull();
  });

  it('FILES lists each data file with its path; RANGES each span; check_files adds file_bytes', async () => {
    const files = await query(client, `SHOW BACKUP FILES ${latest()}`);
    expect(Object.keys(at(files, 0))).toEqual(['path', 'backup_type', 'start_pretty', 'end_pretty', 'start_key', 'end_key', 'size_bytes', 'rows', 'locality', 'file_bytes']);
    // Paths relative to the collection; 'NULL' locality: the backup is not locality-aware.
    expect(files.every((f) => /^\/\d{4}\/\d{2}\/\d{2}-\d{6}\.\d{2}\/data\/.+/.test(col(f, 'path')) && col(f, 'locality') === 'NULL')).toBe(true);
    expect(files.reduce((a, f) => a + Number(col(f, 'rows')), 0)).toBe(20 + 40 + 10);

    const ranges = await query(client, `SHOW BACKUP RANGES ${latest()}`);
    expect(Object.keys(at(ranges, 0))).toEqual(['start_pretty', 'end_pretty', 'start_key', 'end_key']);
    expect(ranges.every((r) => col(r, 'start_pretty').startsWith('/Table/') && col(r, 'start_key').startsWith('\\x'))).toBe(true);

    const checked = byObject(await query(client, `SHOW BACKUP ${latest()} WITH check_files`));
    const stored = files.reduce((a, f) => a + Number(col(f, 'file_bytes')), 0);
    const tableBytes = ['table:customers', 'table:orders', 'table:items'].reduce((a, k) => a + Number(col(checked.get(k)!, 'file_bytes')), 0);
    expect(tableBytes).toBe(stored);
    expect(stored).toBeGreaterThan(0);
  });

  it('check_files lists the data files that are missing, as CockroachDB does', async () => {
    const dest = `nodelocal://${at(nodeIds, 0)}/broken`;
    await client.execute(`BACKUP DATABASE shop INTO '${dest}'`);
    const data = (await filesUnder(join(externDir(0), 'broken'))).filter((f) => f.includes('/data/'));
    expect(data.length).toBeGreaterThanOrEqual(2);
    const gone = data.slice(0, 2);
    for (const f of gone) await rm(join(externDir(0), 'broken', f));
    const err = await failure(client, `SHOW BACKUP LATEST IN '${dest}' WITH check_files`);
    expect(err.code).toBe(ErrorCode.NotFound);
    expect(err.message).toContain('The following files are missing from the backup: ');
    for (const f of gone) expect(err.message).toContain(f);
  });

  it('as_json prints each layer manifest; privileges adds the grants and owner', async () => {
    const json = await query(client, `SHOW BACKUP ${latest()} WITH as_json`);
    expect(json).toHaveLength(1);
    const manifest = JSON.parse(col(at(json, 0), 'manifest')) as { descriptors: unknown[]; files: unknown[]; isFullCluster?: boolean };
    expect(manifest.files.length).toBeGreaterThan(0);
    expect(JSON.stringify(manifest.descriptors)).toContain('"name":"customers"');

    const objects = byObject(await query(client, `SHOW BACKUP ${latest()} WITH privileges`));
    expect(col(objects.get('table:customers')!, 'privileges')).toBe(
      'GRANT ALL ON TABLE customers TO admin WITH GRANT OPTION; GRANT SELECT ON TABLE customers TO alice; GRANT ALL ON TABLE customers TO root WITH GRANT OPTION; ',
    );
    expect(col(objects.get('table:orders')!, 'privileges')).not.toContain('alice');
    expect(col(objects.get('table:customers')!, 'owner')).toBe('root');
  });
});

describe('feature flags, cluster restores and schedule checks', () => {
  it('feature.backup/restore/schedule.enabled = false refuse with CockroachDB’s error', async () => {
    const cases: Array<[string, string, string]> = [
      ['feature.backup.enabled', `BACKUP DATABASE shop INTO 'nodelocal://${at(nodeIds, 0)}/off'`, 'feature BACKUP was disabled by the database administrator'],
      ['feature.restore.enabled', `RESTORE DATABASE shop FROM LATEST IN '${shopCollection}' WITH new_db_name = 'off'`, 'feature RESTORE was disabled by the database administrator'],
      [
        'feature.schedule.enabled',
        `CREATE SCHEDULE off FOR BACKUP DATABASE shop INTO 'nodelocal://${at(nodeIds, 0)}/off' RECURRING '@daily'`,
        'feature SCHEDULES was disabled by the database administrator',
      ],
    ];
    for (const [setting, sql, message] of cases) {
      await client.execute(`SET CLUSTER SETTING ${setting} = false`);
      try {
        const err = await failure(client, sql);
        expect(err.message).toContain(message);
      } finally {
        await client.execute(`SET CLUSTER SETTING ${setting} = true`);
      }
    }
    expect(col(await queryOne(client, `BACKUP DATABASE shop INTO 'nodelocal://${at(nodeIds, 0)}/on'`), 'status')).toBe('succeeded');
  });

  it('SHOW BACKUP ... WITH encryption_passphrase reads an encrypted backup; without it, a clear error', async () => {
    const dest = `nodelocal://${at(nodeIds, 2)}/sealed`;
    await client.execute(`BACKUP DATABASE shop INTO '${dest}' WITH encryption_passphrase = 'sesame'`);
    const customers = String(await countRows(client, 'shop.customers'));
    const rows = await query(client, `SHOW BACKUP FROM LATEST IN '${dest}' WITH encryption_passphrase = 'sesame'`);
    expect(rows.filter((r) => r['object_name'] === 'customers').map((r) => r['rows'])).toEqual([customers]);
    const err = await failure(client, `SHOW BACKUP FROM LATEST IN '${dest}'`);
    expect(err.message).toContain('is encrypted: an encryption_passphrase or kms is required');
  });

  it('refuses a full cluster RESTORE of a database backup', async () => {
    const err = await failure(client, `RESTORE FROM LATEST IN '${shopCollection}'`);
    expect(err.message).toContain('full cluster RESTORE can only be used on full cluster BACKUP files');
  });

  it("refuses ALTER BACKUP SCHEDULE ... SET WITH kms on a schedule with a passphrase, storing nothing", async () => {
    const created = await query(
      client,
      `CREATE SCHEDULE secret FOR BACKUP DATABASE shop INTO 'nodelocal://${at(nodeIds, 0)}/secret' WITH encryption_passphrase = 'pw' RECURRING '@daily' FULL BACKUP ALWAYS`,
    );
    const id = col(at(created, 0), 'schedule_id');
    const err = await failure(client, `ALTER BACKUP SCHEDULE ${id} SET WITH kms = 'aws-kms:///arn:aws:kms:us-east-1:000000000000:key/k?AUTH=implicit&REGION=us-east-1'`);
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toContain('cannot have both encryption_passphrase and kms option set');
    expect(col(await queryOne(client, `SHOW SCHEDULE ${id}`), 'command')).not.toContain('kms');
    const both = await failure(
      client,
      `CREATE SCHEDULE twokeys FOR BACKUP DATABASE shop INTO 'nodelocal://${at(nodeIds, 0)}/both' WITH encryption_passphrase = 'pw', kms = 'aws-kms:///k?AUTH=implicit&REGION=us-east-1' RECURRING '@daily'`,
    );
    expect(both.message).toContain('cannot have both encryption_passphrase and kms option set');
    await client.execute(`DROP SCHEDULE ${id}`);
  });

  it("takes updates_cluster_last_backup_time_metric = '1' and then sets the last-backup-time metric", async () => {
    const leaderMetrics = reportedAddress(at(cluster.coordinators, 0, 'coordinator'), 'metrics');
    expect((await scrapeMetric(leaderMetrics, 'schedules_BACKUP_last_completed_time')) ?? 0).toBe(0);
    await client.execute(
      `CREATE SCHEDULE tracked FOR BACKUP DATABASE shop INTO 'nodelocal://${at(nodeIds, 0)}/tracked' RECURRING '@daily' FULL BACKUP ALWAYS
         WITH SCHEDULE OPTIONS first_run = 'now', updates_cluster_last_backup_time_metric = '1'`,
    );
    const value = await waitFor(async () => ((await scrapeMetric(leaderMetrics, 'schedules_BACKUP_last_completed_time')) ?? 0) || undefined, {
      what: 'schedules_BACKUP_last_completed_time set by the tracked schedule',
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    expect(value).toBeGreaterThan(Date.now() / 1000 - 600);
  });
});
