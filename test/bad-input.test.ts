/**
 * Bad input through the real `cairn` binary against a real cluster: every mistake a user can
 * make at the shell or at start-up must end in a non-zero exit and one clear `ERROR` line,
 * and must leave the data exactly as it was.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import {
  ProcessCluster,
  freePort,
  startNatsServer,
  tempDir,
  type NatsServerHandle,
} from '@cairn/testing';
import { lines, runCli, sql, type CliRun } from './support/cli.js';
import { at, nodeIdOf, replicaFingerprints, waitForReplicas } from './support/cluster.js';

let nats: NatsServerHandle;
let cluster: ProcessCluster;
let client: CairnClient;
let host: string;
const otherServers: NatsServerHandle[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  cluster = await ProcessCluster.start({
    nats: nats.url,
    coordinators: 1,
    nodes: [
      { locality: 'region=us-east1,zone=us-east1-b' },
      { locality: 'region=us-west1,zone=us-west1-a' },
      { locality: 'region=eu-west1,zone=eu-west1-c' },
    ],
  });
  host = at(cluster.grpcAddresses(), 0, 'coordinator address');
  client = new CairnClient({ addresses: [host], retryForMs: 30_000 });
  await client.execute('CREATE DATABASE bad');
  await client.execute('CREATE TABLE bad.t (id INT PRIMARY KEY, name STRING, n INT)');
  await waitForReplicas(client, 'bad.t', cluster.nodes.map(nodeIdOf));
  await client.execute(`INSERT INTO bad.t (id, name, n) VALUES (1, 'one', 10), (3, 'a,b "c"', 30), (4, NULL, 40)`);
});

afterAll(async () => {
  client?.close();
  await cluster?.stop();
  await Promise.allSettled([nats, ...otherServers].map((s) => s?.stop()));
});

/** All rows of bad.t, in key order, as the table now holds them. */
async function tableRows(): Promise<(string | null)[][]> {
  return (await client.execute('SELECT id, name, n FROM bad.t')).rows;
}

const ORIGINAL_ROWS = [
  ['1', 'one', '10'],
  ['3', 'a,b "c"', '30'],
  ['4', null, '40'],
];

/**
 * Asserts the run failed with exactly one error line, `ERROR (<code>): ...`, as the first line
 * of stderr, nothing on stdout and no stack trace; returns that line.
 */
function expectOneError(run: CliRun, code: string): string {
  expect(run.signal, `CLI was killed; stderr: ${run.stderr}`).toBeNull();
  expect(run.code).not.toBe(0);
  expect(run.stdout).toBe('');
  const errLines = lines(run.stderr);
  const first = errLines[0] ?? '';
  expect(first.startsWith(`ERROR (${code}): `), `stderr: ${run.stderr}`).toBe(true);
  // Not a terminal: exactly one line (a terminal also gets the statement with a caret).
  expect(errLines, `stderr: ${run.stderr}`).toHaveLength(1);
  expect(run.stderr).not.toMatch(/^\s+at /m);
  return first;
}

/** The 1-based column named by a syntax error line's `(line L, column C)`. */
function errorColumn(run: CliRun): number {
  const m = /\(line \d+, column (\d+)\)$/.exec(lines(run.stderr)[0] ?? '');
  if (!m) throw new Error(`no position in stderr:\n${run.stderr}`);
  return Number(m[1]);
}

describe('SQL shell: bad statements', () => {
  it('a malformed statement fails with SYNTAX_ERROR and the position of the offending token', async () => {
    const statement = 'SELECT id FROM bad.t WHERE id = = 1';
    const run = await sql(host, statement);
    const line = expectOneError(run, 'SYNTAX_ERROR');
    const where = /\(line (\d+), column (\d+)\)$/.exec(line);
    expect(where, `no position in: ${line}`).not.toBeNull();
    const column = Number(where?.[2]);
    expect(Number(where?.[1])).toBe(1);
    // The second "=" is the offending token.
    expect(column).toBe(statement.lastIndexOf('=') + 1);
    expect(line).toContain('at or near "="');
    expect(await tableRows()).toEqual(ORIGINAL_ROWS);
  });

  it('reports line and column inside a statement spanning several lines', async () => {
    const run = await sql(host, 'SELECT id\nFROM bad.t\nWHERE id = = 1');
    const line = expectOneError(run, 'SYNTAX_ERROR');
    expect(line).toMatch(/\(line 3, column 12\)$/);
  });

  it('a misspelled keyword is named in the error', async () => {
    const run = await sql(host, 'SELEC id FROM bad.t');
    const line = expectOneError(run, 'SYNTAX_ERROR');
    expect(line).toContain('at or near "SELEC"');
    expect(line).toMatch(/\(line 1, column 1\)$/);
  });

  it('an unknown BACKUP or RESTORE option is refused, naming the option', async () => {
    const backup = `BACKUP INTO 'nodelocal://1/x' WITH bogus_option`;
    const run = await sql(host, backup);
    const line = expectOneError(run, 'SYNTAX_ERROR');
    expect(line).toContain('"bogus_option"');
    expect(line).toContain('BACKUP');
    expect(errorColumn(run)).toBe(backup.indexOf('bogus_option') + 1);

    const restore = `RESTORE DATABASE bad FROM LATEST IN 'nodelocal://1/x' WITH revision_history_typo = 'x'`;
    const run2 = await sql(host, restore);
    const line2 = expectOneError(run2, 'SYNTAX_ERROR');
    expect(line2).toContain('"revision_history_typo"');
    expect(errorColumn(run2)).toBe(restore.indexOf('revision_history_typo') + 1);
  });

  it('an INSERT into a missing table or database names what is missing and writes nothing', async () => {
    const run = await sql(host, `INSERT INTO bad.missing (id) VALUES (1)`);
    const line = expectOneError(run, 'UNDEFINED_OBJECT');
    expect(line).toContain('relation "bad.missing" does not exist');

    const run2 = await sql(host, `INSERT INTO nodb.t (id) VALUES (1)`);
    expect(expectOneError(run2, 'UNDEFINED_OBJECT')).toContain('database "nodb" does not exist');

    const run3 = await sql(host, `INSERT INTO bad.t (id, nme) VALUES (2, 'two')`);
    expect(expectOneError(run3, 'UNDEFINED_OBJECT')).toContain('column "nme" does not exist');
    expect(await tableRows()).toEqual(ORIGINAL_ROWS);
  });

  it('a duplicate primary key is a UNIQUE_VIOLATION and leaves the existing row (and the whole batch) untouched', async () => {
    const run = await sql(host, `INSERT INTO bad.t (id, name, n) VALUES (1, 'again', 11)`);
    expect(expectOneError(run, 'UNIQUE_VIOLATION')).toContain('duplicate key value violates unique constraint "t_pkey"');

    // A batch whose later row collides must not write its earlier rows either.
    const run2 = await sql(host, `INSERT INTO bad.t (id, name, n) VALUES (7, 'seven', 70), (3, 'dup', 0)`);
    expectOneError(run2, 'UNIQUE_VIOLATION');
    // ...nor may a batch that collides with itself.
    const run3 = await sql(host, `INSERT INTO bad.t (id, name, n) VALUES (8, 'x', 1), (8, 'y', 2)`);
    expectOneError(run3, 'UNIQUE_VIOLATION');
    expect(await tableRows()).toEqual(ORIGINAL_ROWS);
  });

  it('a value of the wrong type is a DATATYPE_MISMATCH naming the column, and nothing is written', async () => {
    const cases: [string, string][] = [
      [`INSERT INTO bad.t (id, name, n) VALUES (2, 'two', 'abc')`, 'value "abc" is not of type INT for column "n"'],
      [`INSERT INTO bad.t (id, name, n) VALUES (2, 'two', 3.5)`, 'value "3.5" is not of type INT for column "n"'],
      [`INSERT INTO bad.t (id, name, n) VALUES ('two', 'two', 2)`, 'for column "id"'],
      [`INSERT INTO bad.t (id, name, n) VALUES (2, 'two', 99999999999999999999999)`, 'out of range for type INT for column "n"'],
      [`SELECT name FROM bad.t WHERE id = 'x'`, 'value "x" is not of type INT for column "id"'],
    ];
    for (const [statement, message] of cases) {
      const run = await sql(host, statement);
      expect(expectOneError(run, 'DATATYPE_MISMATCH'), statement).toContain(message);
    }
    expect(await tableRows()).toEqual(ORIGINAL_ROWS);
  });

  it('stops at the first failing statement of a script and exits non-zero', async () => {
    const run = await runCli([
      'sql', '--host', host, '-e',
      `INSERT INTO bad.t (id, name, n) VALUES (20, 'first', 1); INSERT INTO bad.t (id, name, n) VALUES (1, 'dup', 1); INSERT INTO bad.t (id, name, n) VALUES (21, 'never', 1)`,
    ]);
    expect(run.code).toBe(1);
    expect(lines(run.stdout)).toEqual(['INSERT 1']);
    expect(lines(run.stderr)[0]).toMatch(/^ERROR \(UNIQUE_VIOLATION\): /);
    expect(await tableRows()).toEqual([...ORIGINAL_ROWS, ['20', 'first', '1']]);
    await client.execute('DELETE FROM bad.t WHERE id = 20');
    expect(await tableRows()).toEqual(ORIGINAL_ROWS);
  });
});

describe('SQL shell: output formats', () => {
  it('--format csv prints a header row and quotes as RFC 4180 does', async () => {
    const run = await sql(host, 'SELECT id, name, n FROM bad.t', ['--format', 'csv']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    expect(lines(run.stdout)).toEqual(['id,name,n', '1,one,10', '3,"a,b ""c""",30', '4,NULL,40']);
  });

  it('--format json prints an array of row objects that parses, NULL as null', async () => {
    const run = await sql(host, 'SELECT id, name, n FROM bad.t', ['--format', 'json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([
      { id: '1', name: 'one', n: '10' },
      { id: '3', name: 'a,b "c"', n: '30' },
      { id: '4', name: null, n: '40' },
    ]);
    const empty = await sql(host, 'SELECT id FROM bad.t WHERE id = 999', ['--format', 'json']);
    expect(empty.code, empty.stderr).toBe(0);
    expect(JSON.parse(empty.stdout)).toEqual([]);
  });

  it('an unknown --format is refused before anything runs', async () => {
    const run = await sql(host, `INSERT INTO bad.t (id, name, n) VALUES (30, 'x', 1)`, ['--format', 'xml']);
    expect(run.code).not.toBe(0);
    expect(lines(run.stderr)).toHaveLength(1);
    expect(lines(run.stderr)[0]).toMatch(/^ERROR: unknown --format "xml"/);
    expect(await tableRows()).toEqual(ORIGINAL_ROWS);
  });
});

describe('start-up mistakes', () => {
  it('a node whose NATS is unreachable exits non-zero at once with "cannot reach NATS"', async () => {
    const store = await tempDir('cairn-unreachable');
    const run = await runCli(
      ['start', 'node', '--nats', 'nats://127.0.0.1:1', '--locality', 'region=us-east1', '--store', store,
        '--http-addr', `127.0.0.1:${await freePort()}`, '--insecure'],
      { timeoutMs: 30_000 },
    );
    expect(run.signal, 'the node hung instead of exiting').toBeNull();
    expect(run.code).not.toBe(0);
    expect(run.ms).toBeLessThan(10_000);
    expect(run.stdout).not.toContain('"event":"ready"');
    expect(lines(run.stderr)).toHaveLength(1);
    expect(lines(run.stderr)[0]).toMatch(/^ERROR \(UNAVAILABLE\): cannot reach NATS at nats:\/\/127\.0\.0\.1:1\b/);
  });

  it('a coordinator whose NATS is unreachable exits the same way', async () => {
    const run = await runCli(
      ['start', 'coordinator', '--nats', 'nats://127.0.0.1:1', '--listen-addr', `127.0.0.1:${await freePort()}`,
        '--http-addr', `127.0.0.1:${await freePort()}`, '--id', 'lonely', '--insecure'],
      { timeoutMs: 30_000 },
    );
    expect(run.signal, 'the coordinator hung instead of exiting').toBeNull();
    expect(run.code).not.toBe(0);
    expect(run.ms).toBeLessThan(10_000);
    expect(lines(run.stderr)).toHaveLength(1);
    expect(lines(run.stderr)[0]).toMatch(/^ERROR \(UNAVAILABLE\): cannot reach NATS at nats:\/\/127\.0\.0\.1:1\b/);
  });

  it('a store of another cluster is refused, and still works with its own cluster afterwards', async () => {
    const node = at(cluster.nodes, 2, 'node');
    const nodeId = nodeIdOf(node);
    const ourClusterId = String(node.readyInfo['clusterId']);
    expect(ourClusterId).toMatch(/^[0-9a-f-]{36}$/);
    const store = join(cluster.dataDir, 'node-2');
    const before = await replicaFingerprints(client, [nodeId], 'bad', 't');

    // The store must be closed before another process may open it.
    await node.stop();
    expect(node.exitStatus?.code).toBe(0);

    const fresh = await startNatsServer();
    otherServers.push(fresh);
    const run = await runCli(
      ['start', 'node', '--nats', fresh.url, '--locality', 'region=eu-west1,zone=eu-west1-c', '--store', store,
        '--http-addr', `127.0.0.1:${await freePort()}`, '--insecure'],
      { timeoutMs: 30_000 },
    );
    expect(run.signal, 'the node hung instead of exiting').toBeNull();
    expect(run.code).not.toBe(0);
    expect(run.stdout).not.toContain('"event":"ready"');
    expect(lines(run.stderr)).toHaveLength(1);
    const line = lines(run.stderr)[0] ?? '';
    expect(line).toMatch(/^ERROR \(WRONG_CLUSTER\): /);
    expect(line).toContain(store);
    expect(line).toContain(ourClusterId);

    // Back with its own cluster: same node id, same cluster, and its replicas answer reads.
    await node.restart();
    expect(nodeIdOf(node)).toBe(nodeId);
    expect(node.readyInfo['clusterId']).toBe(ourClusterId);
    const after = await replicaFingerprints(client, [nodeId], 'bad', 't', before.timestamp);
    expect(after.byNode.get(nodeId)).toBe(before.byNode.get(nodeId));
    await waitForReplicas(client, 'bad.t', cluster.nodes.map(nodeIdOf));
  await client.execute(`INSERT INTO bad.t (id, name, n) VALUES (40, 'after', 4)`);
    const all = cluster.nodes.map(nodeIdOf);
    const now = await replicaFingerprints(client, all, 'bad', 't');
    expect(new Set(now.byNode.values()).size).toBe(1);
    expect(now.byNode.get(nodeId)).not.toBe(before.byNode.get(nodeId));
    await client.execute('DELETE FROM bad.t WHERE id = 40');
  });
});
