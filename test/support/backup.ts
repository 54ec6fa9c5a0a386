import { readdir } from 'node:fs/promises';
import type { CairnClient, QueryResult } from '@cairn/client';
import { CairnError } from '@cairn/errors';
import { waitFor } from '@cairn/testing';

/** One result row keyed by column name. */
export type Row = Record<string, string | null>;

/** A statement result's rows as objects keyed by column name. */
export function rowsOf(r: QueryResult): Row[] {
  return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i] ?? null])));
}

/** Runs one statement and returns its rows as objects. */
export async function query(client: CairnClient, sql: string): Promise<Row[]> {
  return rowsOf(await client.execute(sql));
}

/** The one row of a statement that must return exactly one. */
export async function queryOne(client: CairnClient, sql: string): Promise<Row> {
  const rows = await query(client, sql);
  if (rows.length !== 1) throw new Error(`expected one row from ${sql}, got ${rows.length}: ${JSON.stringify(rows)}`);
  return rows[0]!;
}

/** The value of `column`, failing clearly when it is NULL or missing. */
export function col(row: Row, column: string): string {
  const v = row[column];
  if (v === null || v === undefined) throw new Error(`column ${column} is ${String(v)} in ${JSON.stringify(row)}`);
  return v;
}

/**
 * Runs a statement that must fail and returns the CairnError, so the test can assert its code
 * and message (a statement that succeeds fails the test with what it returned).
 */
export async function failure(client: CairnClient, sql: string): Promise<CairnError> {
  let result: QueryResult;
  try {
    result = await client.execute(sql);
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  const shown = sql.replace(/(AWS_SECRET_ACCESS_KEY=)[^&'\s]*/g, '$1redacted');
  throw new Error(`expected an error from ${shown}, got ${JSON.stringify(result.rows)}`);
}

/**
 * The current wall-clock time in nanoseconds, as an AS OF SYSTEM TIME decimal. cairn's
 * timestamps are wall-clock nanoseconds (the write log's HLC), so this names "now" on the
 * cluster's time line.
 */
export function wallClockTimestamp(): string {
  return `${BigInt(Date.now()) * 1_000_000n}.0000000000`;
}

/** `('uri1', 'uri2')`: a URI list as BACKUP INTO / RESTORE FROM take it. */
export function sqlUriList(uris: readonly string[]): string {
  return `(${uris.map((u) => `'${u}'`).join(', ')})`;
}

/**
 * A locality-aware destination: the first URI is the default, each other carries its
 * `key=value` tier (URL-encoded) in COCKROACH_LOCALITY.
 */
export function localityAwareUris(defaultUri: string, byTier: ReadonlyArray<{ tier: string; uri: string }>): string[] {
  const withLocality = (uri: string, locality: string) => `${uri}${uri.includes('?') ? '&' : '?'}COCKROACH_LOCALITY=${encodeURIComponent(locality)}`;
  return [withLocality(defaultUri, 'default'), ...byTier.map((b) => withLocality(b.uri, b.tier))];
}

/** `SHOW JOB <id>` as an object. */
export async function showJob(client: CairnClient, id: string): Promise<Row> {
  return queryOne(client, `SHOW JOB ${id}`);
}

/** Waits until the job's status is one of `statuses` and returns its row. */
export async function waitForJobStatus(client: CairnClient, id: string, statuses: readonly string[], timeoutMs = 30_000): Promise<Row> {
  return waitFor(
    async () => {
      const job = await showJob(client, id);
      return statuses.includes(col(job, 'status')) ? job : undefined;
    },
    { what: `job ${id} in status ${statuses.join('|')}`, timeoutMs, intervalMs: 50 },
  );
}

/** `SHOW FINGERPRINTS FROM DATABASE db [AS OF SYSTEM TIME ts]` as [table, fingerprint] pairs sorted by table. */
export async function databaseFingerprints(client: CairnClient, db: string, asOf?: string): Promise<Array<[string, string]>> {
  const r = await client.execute(`SHOW FINGERPRINTS FROM DATABASE ${db}${asOf === undefined ? '' : ` AS OF SYSTEM TIME '${asOf}'`}`);
  if (r.columns.join(',') !== 'table_name,fingerprint') throw new Error(`unexpected SHOW FINGERPRINTS columns: ${r.columns.join(',')}`);
  const pairs = r.rows.map((row): [string, string] => [row[0] ?? '', row[1] ?? '']);
  if (pairs.some(([t, fp]) => t === '' || fp === '')) throw new Error(`empty table name or fingerprint: ${JSON.stringify(pairs)}`);
  return pairs.sort((a, b) => a[0].localeCompare(b[0]));
}

/** Rows per table of the table rows of `SHOW BACKUP ...`, summed over the chain's layers. */
export async function backupRowsByTable(client: CairnClient, showBackupSql: string): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const r of await query(client, showBackupSql)) {
    if (r['object_type'] !== 'table') continue;
    const name = `${col(r, 'database_name')}.${col(r, 'object_name')}`;
    out.set(name, (out.get(name) ?? 0n) + BigInt(col(r, 'rows')));
  }
  return out;
}

/** `SELECT count(*)` of a table. */
export async function countRows(client: CairnClient, table: string): Promise<number> {
  return Number(col(await queryOne(client, `SELECT count(*) FROM ${table}`), 'count'));
}

/** Creates `table` (id, balance, payload) and loads `rows` rows with `payloadBytes` of payload each. */
export async function loadTable(client: CairnClient, table: string, rows: number, payloadBytes: number): Promise<void> {
  await client.execute(`CREATE TABLE ${table} (id INT PRIMARY KEY, balance INT NOT NULL, payload STRING)`);
  const batch = Math.max(1, Math.floor(200_000 / (payloadBytes + 40)));
  for (let from = 0; from < rows; from += batch) {
    const values: string[] = [];
    for (let id = from; id < Math.min(rows, from + batch); id++) {
      values.push(`(${id}, ${id % 1000}, '${String(id).padStart(8, '0').repeat(Math.ceil(payloadBytes / 8)).slice(0, payloadBytes)}')`);
    }
    await client.execute(`UPSERT INTO ${table} (id, balance, payload) VALUES ${values.join(', ')}`);
  }
}

/** Number of ranges `SHOW RANGES FROM TABLE` lists for each table, summed. */
export async function rangeCount(client: CairnClient, tables: readonly string[]): Promise<number> {
  let n = 0;
  for (const t of tables) n += (await client.execute(`SHOW RANGES FROM TABLE ${t}`)).rows.length;
  return n;
}

/**
 * The node that wrote a backup data file: data files are named `data/<n>.sst` where the low
 * 15 bits of `n` are the writer's node id (`dataFileName` in @cairn/backup-format), so a
 * file's name says which node exported it.
 */
export function writerNodeId(dataFileKey: string): number {
  const m = /data\/(\d+)\.sst$/.exec(dataFileKey);
  if (!m) throw new Error(`not a backup data file: ${dataFileKey}`);
  return Number(BigInt(m[1]!) & 0x7fffn);
}

/**
 * An in-flight data file: LocalDirStorage writes `data/<n>.sst` as `data/.cairn-tmp-<n>.sst.<uuid>`
 * until it renames it into place. Other `.cairn-tmp-` files (the direct-write probe) are not.
 */
const IN_FLIGHT_DATA_FILE = /(?:^|\/)data\/\.cairn-tmp-(\d+\.sst)\.[^/]+$/;

/** Data files being written under a file:// backup dir, as paths relative to it. */
export async function inFlightDataFiles(dir: string): Promise<string[]> {
  const names = (await readdir(dir, { recursive: true }).catch(() => [])) as string[];
  return names.filter((n) => IN_FLIGHT_DATA_FILE.test(n));
}

/** The writer's node id of an in-flight data file's path, or undefined for any other path. */
export function inFlightWriterNodeId(path: string): number | undefined {
  const m = IN_FLIGHT_DATA_FILE.exec(path);
  return m ? writerNodeId(`data/${m[1]!}`) : undefined;
}

/** Copy of `bytes` with the byte at `offset` inverted. */
export function flipByte(bytes: Uint8Array, offset: number): Uint8Array {
  if (offset < 0 || offset >= bytes.length) throw new Error(`offset ${offset} outside ${bytes.length} bytes`);
  const out = new Uint8Array(bytes);
  out[offset] = out[offset]! ^ 0xff;
  return out;
}
