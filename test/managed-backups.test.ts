/**
 * Managed backups as seed 003 describes them, on one secure cluster of real processes (two
 * coordinators, three nodes, `--managed-backups-uri nodelocal://1/managed`):
 * - the HTTP API on the coordinators' HTTP address, every endpoint with each role, no key,
 *   bad values and unknown ids, every answer checked against the served OpenAPI document;
 * - API keys made by `cairn api-key create`;
 * - enabling takes a full at once, retention is fixed per backup when taken and set once;
 * - table and database restores, and a cluster restored in place (its databases erased
 *   first, writes refused meanwhile) through a SIGKILL of the leader, fingerprints compared
 *   with the backup's.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { initBank } from '@cairn/cli';
import { ProcessCluster, startNatsServer, tempDir, waitFor, type ManagedProcess, type NatsServerHandle } from '@cairn/testing';
import { databaseFingerprints, query } from './support/backup.js';
import { runCli } from './support/cli.js';
import { nodeIdOf } from './support/cluster.js';
import { leaderCoordinator, reportedAddress } from './support/coordinators.js';
import { responseSchema, schemaProblems } from './support/openapi-check.js';

const LOCALITIES = ['region=us-east1,zone=us-east1-b', 'region=us-west1,zone=us-west1-a', 'region=eu-west1,zone=eu-west1-c'];
const DAY_MS = 86_400_000;

let nats: NatsServerHandle;
let cluster: ProcessCluster;
let certsDir: string;
let root: CairnClient;
let clusterId: string;
let doc: Record<string, unknown>;
let ca: Buffer;
const keys: Record<'admin' | 'writer' | 'viewer', string> = { admin: '', writer: '', viewer: '' };

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** Paths as the OpenAPI document names them, for checking answers against it. */
const T = {
  clusters: '/api/v1/clusters',
  config: '/api/v1/clusters/{cluster_id}/backups-config',
  backups: '/api/v1/clusters/{cluster_id}/backups',
  databases: '/api/v1/clusters/{cluster_id}/backups/{backup_id}/databases',
  tables: '/api/v1/clusters/{cluster_id}/backups/{backup_id}/databases/{database_name}/tables',
  incomplete: '/api/v1/clusters/{cluster_id}/incomplete-backups',
  restores: '/api/v1/clusters/{cluster_id}/restores',
  restore: '/api/v1/clusters/{cluster_id}/restores/{restore_id}',
} as const;

function httpAddress(c: ManagedProcess): string {
  return reportedAddress(c, 'metrics');
}

/** Any running coordinator's HTTP address (a standby forwards to the leader). */
function anyAddress(): string {
  const running = cluster.coordinators.filter((c) => c.running);
  return httpAddress(running[running.length - 1]!);
}

/** One HTTPS request (secure mode serves the API over TLS with the node certificate). */
function request(method: string, address: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; text: string; retryAfter?: string }> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: address.slice(0, i), port: Number(address.slice(i + 1)), method, path, headers, ca, servername: 'localhost', timeout: 60_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        const retryAfter = res.headers['retry-after'];
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, ...(retryAfter !== undefined ? { retryAfter } : {}) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * One API call; its answer (success or error) is checked against the OpenAPI document's
 * schema for the path template, method and status.
 */
async function api(
  method: string,
  path: string,
  template: string,
  o: { key?: string | undefined; body?: unknown; rawBody?: string; address?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.key !== undefined) headers['authorization'] = `Bearer ${o.key}`;
  const body = method === 'GET' ? undefined : (o.rawBody ?? (o.body === undefined ? undefined : JSON.stringify(o.body)));
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res = await request(method, o.address ?? anyAddress(), path, headers, body);
  // As an HTTP client should: a read answered 503 with Retry-After (no leader for a moment,
  // NATS electing, both seen on a loaded CI machine) is asked again, for up to 30 s.
  for (const giveUp = Date.now() + 30_000; method === 'GET' && res.status === 503 && res.retryAfter !== undefined && Date.now() < giveUp; ) {
    await sleep(Number(res.retryAfter) * 1000);
    res = await request(method, o.address ?? anyAddress(), path, headers, body);
  }
  const json = JSON.parse(res.text) as Record<string, unknown>;
  const problems = schemaProblems(doc, responseSchema(doc, method, template, res.status), json);
  expect(problems, `${method} ${path} → ${res.status} ${res.text}`).toEqual([]);
  return { status: res.status, body: json };
}

const cpath = (rest: string) => `/api/v1/clusters/${clusterId}/${rest}`;

interface BackupView {
  id: string;
  as_of_time: string;
  status: string;
  type: string;
  expires_at: string;
  database_count: number;
  full_backup_id: string;
}

async function backups(query = ''): Promise<BackupView[]> {
  const r = await api('GET', cpath(`backups${query}`), T.backups, { key: keys.viewer });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body['backups'] as BackupView[];
}

/** Waits for a COMPLETE backup not among `known` and returns it. */
async function nextCompleteBackup(known: ReadonlySet<string>, timeoutMs = 120_000): Promise<BackupView> {
  return waitFor(async () => (await backups()).find((b) => !known.has(b.id) && b.status === 'COMPLETE'), {
    what: 'a new COMPLETE managed backup',
    timeoutMs,
    intervalMs: 250,
  });
}

async function waitRestore(id: string, address?: string, timeoutMs = 180_000): Promise<Record<string, unknown>> {
  return waitFor(
    async () => {
      const r = await api('GET', cpath(`restores/${id}`), T.restore, { key: keys.viewer, ...(address ? { address } : {}) }).catch(() => undefined);
      const status = r?.body['status'];
      return status === 'SUCCEEDED' || status === 'FAILED' ? r!.body : undefined;
    },
    { what: `restore ${id} to end`, timeoutMs, intervalMs: 250 },
  );
}

async function createKey(name: string, role: string): Promise<string> {
  const run = await runCli(['api-key', 'create', '--name', name, '--role', role, '--host', cluster.grpcAddresses().join(','), '--certs-dir', certsDir]);
  expect(run.code, run.stderr).toBe(0);
  const key = run.stdout.trim();
  expect(key).toMatch(/^cairn_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  return key;
}

beforeAll(async () => {
  const dir = await tempDir('cairn-managed');
  certsDir = join(dir, 'certs');
  const caKey = join(dir, 'ca.key');
  for (const args of [['create-ca'], ['create-node', 'localhost', '127.0.0.1'], ['create-client', 'root']]) {
    const run = await runCli(['cert', ...args, '--certs-dir', certsDir, '--ca-key', caKey]);
    expect(run.code, run.stderr).toBe(0);
  }
  nats = await startNatsServer();
  const secure = ['--certs-dir', certsDir];
  cluster = await ProcessCluster.start({
    nats: nats.url,
    coordinators: 2,
    coordinatorArgs: [...secure, '--managed-backups-uri', 'nodelocal://1/managed'],
    nodes: LOCALITIES.map((locality) => ({ locality, args: secure })),
  });
  ca = await readFile(join(certsDir, 'ca.crt'));
  root = new CairnClient({
    addresses: cluster.grpcAddresses(),
    retryForMs: 60_000,
    user: 'root',
    tls: { ca, cert: await readFile(join(certsDir, 'client.root.crt')), key: await readFile(join(certsDir, 'client.root.key')) },
  });
  // Enough rows that a restore takes a few seconds: the leader is killed part way through one.
  await initBank(root, { rows: 10_000, payloadBytes: 200 });
  await root.execute('CREATE DATABASE shop');
  await root.execute('CREATE TABLE shop.orders (id INT PRIMARY KEY, item STRING)');
  await root.execute(`INSERT INTO shop.orders VALUES ${Array.from({ length: 50 }, (_, i) => `(${i}, 'item-${i}')`).join(', ')}`);
  await root.execute('CREATE DATABASE empty_db');
  const res = await request('GET', anyAddress(), '/api/v1/openapi.json', {});
  expect(res.status).toBe(200);
  doc = JSON.parse(res.text) as Record<string, unknown>;
  keys.admin = await createKey('ops-admin', 'CLUSTER_ADMIN');
  keys.writer = await createKey('ops-writer', 'CLUSTER_OPERATOR_WRITER');
  keys.viewer = await createKey('ops-viewer', 'CLUSTER_VIEWER');
  const clusters = await api('GET', '/api/v1/clusters', T.clusters, { key: keys.viewer });
  clusterId = (clusters.body['clusters'] as Array<{ id: string }>)[0]!.id;
}, 240_000);

afterAll(async () => {
  root?.close();
  await cluster?.stop();
  await nats?.stop();
});

describe('managed backups API', () => {
  it('serves an OpenAPI 3 document with every endpoint, without credentials', () => {
    expect(doc['openapi']).toMatch(/^3\./);
    expect(Object.keys(doc['paths'] as object)).toEqual(expect.arrayContaining([...Object.values(T), '/api/v1/openapi.json']));
  });

  it('lists this cluster; refuses no key, an unknown key and a malformed one (401), on every endpoint', async () => {
    const clusters = await api('GET', '/api/v1/clusters', T.clusters, { key: keys.admin });
    expect(clusters.body['clusters']).toEqual([{ id: clusterId, name: expect.stringMatching(/^cairn-/), secure: true }]);
    const calls: Array<[string, string, string]> = [
      ['GET', '/api/v1/clusters', T.clusters],
      ['GET', cpath('backups-config'), T.config],
      ['PATCH', cpath('backups-config'), T.config],
      ['GET', cpath('backups'), T.backups],
      ['GET', cpath('backups/x/databases'), T.databases],
      ['GET', cpath('backups/x/databases/bank/tables'), T.tables],
      ['GET', cpath('incomplete-backups'), T.incomplete],
      ['GET', cpath('restores'), T.restores],
      ['POST', cpath('restores'), T.restores],
      ['GET', cpath('restores/1'), T.restore],
    ];
    const forged = keys.admin.slice(0, -4) + 'AAAA';
    for (const [method, path, template] of calls) {
      for (const key of [undefined, 'not-a-key', forged]) {
        const r = await api(method, path, template, { key, body: {} });
        expect(r.status, `${method} ${path} with ${String(key)}`).toBe(401);
        expect(r.body['code']).toBe('UNAUTHENTICATED');
      }
    }
    // Only admins make keys (ApiKeyService has no entry in rpc-privileges.ts: admin only).
    await root.execute("CREATE USER IF NOT EXISTS keyless WITH PASSWORD 'keyless-pw-3x'");
    const refused = await runCli(['api-key', 'create', '--name', 'sneaky', '--role', 'CLUSTER_ADMIN', '--host', cluster.grpcAddresses()[0]!, '--certs-dir', certsDir, '--user', 'keyless'], {
      env: { CAIRN_PASSWORD: 'keyless-pw-3x' },
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/INSUFFICIENT_PRIVILEGE/);
    // The API key list shows names and roles, never secrets.
    const list = await runCli(['api-key', 'list', '--host', cluster.grpcAddresses()[0]!, '--certs-dir', certsDir, '--format', 'csv']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain('ops-viewer,CLUSTER_VIEWER');
    expect(list.stdout).not.toContain(keys.viewer.slice('cairn_'.length + 17));
  });

  it('answers 404 for another cluster id, an unknown path, an unknown backup or restore', async () => {
    const other = await api('GET', '/api/v1/clusters/00000000-0000-4000-8000-000000000000/backups-config', T.config, { key: keys.viewer });
    expect([other.status, other.body['code']]).toEqual([404, 'NOT_FOUND']);
    for (const [path, template] of [
      [cpath('backups/nope/databases'), T.databases],
      [cpath('backups/nope/databases/bank/tables'), T.tables],
      [cpath('restores/123'), T.restore],
    ] as const) {
      const r = await api('GET', path, template, { key: keys.viewer });
      expect([r.status, r.body['code']], path).toEqual([404, 'NOT_FOUND']);
    }
  });

  it('starts with the Basic defaults and refuses values outside Cloud\'s sets, naming them (400)', async () => {
    const cfg = await api('GET', cpath('backups-config'), T.config, { key: keys.viewer });
    expect(cfg.body).toEqual({ enabled: false, frequency_minutes: 1440, retention_days: 30, retention_modifiable: true, collection_uri: 'nodelocal://1/managed' });
    const bad: Array<[unknown, RegExp]> = [
      [{ frequency_minutes: 15 }, /allowed values are 5, 10, 30, 60, 240, 1440/],
      [{ retention_days: 14 }, /allowed values are 2, 7, 30, 90, 365/],
      [{ enabled: 'yes' }, /enabled must be true or false/],
      [{ backup_type: 'FULL' }, /unknown field "backup_type"/],
      [[1], /JSON object/],
    ];
    for (const [body, message] of bad) {
      const r = await api('PATCH', cpath('backups-config'), T.config, { key: keys.admin, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body['code']).toBe('INVALID_ARGUMENT');
      expect(r.body['message']).toMatch(message);
    }
    const notJson = await api('PATCH', cpath('backups-config'), T.config, { key: keys.admin, rawBody: '{enabled' });
    expect([notJson.status, notJson.body['message']]).toEqual([400, 'the body is not valid JSON']);
    // A viewer reads but may not change settings.
    const viewer = await api('PATCH', cpath('backups-config'), T.config, { key: keys.viewer, body: { enabled: true } });
    expect([viewer.status, viewer.body['code']]).toEqual([403, 'INSUFFICIENT_PRIVILEGE']);
    expect(viewer.body['message']).toMatch(/CLUSTER_VIEWER.*CLUSTER_ADMIN or CLUSTER_OPERATOR_WRITER/);
  });

  let first: BackupView;
  let firstFingerprints: Array<[string, string]>;

  it('enabling takes a full backup at once, shown in SHOW SCHEDULES, expiring 30 days after it was taken', async () => {
    firstFingerprints = await databaseFingerprints(root, 'bank');
    const r = await api('PATCH', cpath('backups-config'), T.config, { key: keys.admin, body: { enabled: true } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ enabled: true, frequency_minutes: 1440, retention_days: 30 });
    first = await nextCompleteBackup(new Set());
    expect(first.type).toBe('FULL');
    expect(first.full_backup_id).toBe(first.id);
    expect(first.database_count).toBe(2); // bank and shop; empty_db holds no table
    expect(Date.parse(first.expires_at) - Date.parse(first.as_of_time)).toBe(30 * DAY_MS);
    const schedules = await query(root, 'SHOW SCHEDULES');
    const managed = schedules.filter((s) => s['label'] === 'cairn-managed-backups');
    expect(managed.map((s) => s['recurrence'])).toEqual(['@daily']);
  });

  it('lists the databases (with tables) and tables of a backup', async () => {
    const dbs = await api('GET', cpath(`backups/${first.id}/databases`), T.databases, { key: keys.viewer });
    expect(dbs.body['databases']).toEqual([
      { name: 'bank', table_count: 1 },
      { name: 'shop', table_count: 1 },
    ]);
    const tables = await api('GET', cpath(`backups/${first.id}/databases/shop/tables`), T.tables, { key: keys.viewer });
    expect(tables.body['tables']).toEqual([{ name: 'orders', schema: 'public' }]);
    const missing = await api('GET', cpath(`backups/${first.id}/databases/empty_db/tables`), T.tables, { key: keys.viewer });
    expect([missing.status, missing.body['code']]).toEqual([404, 'NOT_FOUND']);
  });

  let second: BackupView;

  it('a retention change applies only to backups taken after it, and can be made once (409 after)', async () => {
    const r = await api('PATCH', cpath('backups-config'), T.config, { key: keys.writer, body: { retention_days: 7 } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ retention_days: 7, retention_modifiable: false });
    second = await nextCompleteBackup(new Set([first.id]));
    expect(Date.parse(second.expires_at) - Date.parse(second.as_of_time)).toBe(7 * DAY_MS);
    const again = (await backups()).find((b) => b.id === first.id)!;
    expect(again.expires_at).toBe(first.expires_at);
    const twice = await api('PATCH', cpath('backups-config'), T.config, { key: keys.admin, body: { retention_days: 90 } });
    expect([twice.status, twice.body['code']]).toEqual([409, 'FAILED_PRECONDITION']);
    expect(twice.body['message']).toMatch(/retention can be set once/);
  });

  it('filters backups by time and pages through them', async () => {
    const all = await backups();
    expect(all.map((b) => b.id)).toEqual([second.id, first.id]);
    const day = first.as_of_time.slice(0, 10);
    const next = new Date(Date.parse(`${day}T00:00:00Z`) + DAY_MS).toISOString();
    expect((await backups(`?start_time=${day}T00:00:00Z&end_time=${next}`)).length).toBeGreaterThanOrEqual(1);
    expect(await backups(`?end_time=${encodeURIComponent(first.as_of_time)}`)).toEqual([]);
    expect((await backups(`?start_time=${encodeURIComponent(second.as_of_time)}`)).map((b) => b.id)).toEqual([second.id]);
    const page1 = await api('GET', cpath('backups?pagination.limit=1'), T.backups, { key: keys.viewer });
    const p1 = page1.body['pagination'] as { next_page?: string; total_results: number };
    expect(p1.total_results).toBe(2);
    expect((page1.body['backups'] as BackupView[]).map((b) => b.id)).toEqual([second.id]);
    const page2 = await api('GET', cpath(`backups?pagination.limit=1&pagination.page=${p1.next_page!}`), T.backups, { key: keys.viewer });
    expect((page2.body['backups'] as BackupView[]).map((b) => b.id)).toEqual([first.id]);
    expect((page2.body['pagination'] as { next_page?: string }).next_page).toBeUndefined();
    const asc = await backups('?pagination.sort_order=ASC');
    expect(asc.map((b) => b.id)).toEqual([first.id, second.id]);
    for (const q of ['?pagination.limit=0', '?pagination.page=garbage', '?start_time=yesterday', '?pagination.sort_order=UP']) {
      const r = await api('GET', cpath(`backups${q}`), T.backups, { key: keys.viewer });
      expect([r.status, r.body['code']], q).toEqual([400, 'INVALID_ARGUMENT']);
    }
  });

  it('a frequency change makes cairn pick fulls and incrementals: incrementals at the frequency, a full daily', async () => {
    const r = await api('PATCH', cpath('backups-config'), T.config, { key: keys.admin, body: { frequency_minutes: 60 } });
    expect(r.body).toMatchObject({ frequency_minutes: 60, retention_days: 7 });
    const third = await nextCompleteBackup(new Set([first.id, second.id]));
    expect(third.type).toBe('FULL');
    const schedules = (await query(root, 'SHOW SCHEDULES')).filter((s) => s['label'] === 'cairn-managed-backups');
    expect(schedules.map((s) => s['recurrence']).sort()).toEqual(['@daily', '@hourly']);
    // The hourly incremental, run now instead of at the top of the hour: it lands on the new
    // full's chain, its expiry fixed from the retention in force (7 days).
    const incremental = await waitFor(
      async () => (await query(root, 'SHOW SCHEDULES')).find((s) => s['label'] === 'cairn-managed-backups' && s['recurrence'] === '@hourly' && s['schedule_status'] === 'ACTIVE'),
      { what: 'the incremental schedule unpaused by the first full', timeoutMs: 30_000, intervalMs: 250 },
    );
    await root.execute(`ALTER BACKUP SCHEDULE ${incremental['id']!} EXECUTE IMMEDIATELY`);
    const inc = await nextCompleteBackup(new Set([first.id, second.id, third.id]));
    expect(inc).toMatchObject({ type: 'INCREMENTAL', full_backup_id: third.id });
    expect(Date.parse(inc.expires_at) - Date.parse(inc.as_of_time)).toBe(7 * DAY_MS);
  });

  it('lists a failed run under incomplete backups (with its error and statement), never under backups', async () => {
    const none = await api('GET', cpath('incomplete-backups'), T.incomplete, { key: keys.viewer });
    expect((none.body['incomplete_backups'] as Array<{ status: string }>).filter((b) => b.status === 'FAILED')).toEqual([]);
    // A new chain, whose incrementals directory is made unwritable: a regular file where the
    // directory must go (ENOTDIR, a storage refusal that is not retried).
    const known = new Set((await backups()).map((b) => b.id));
    await api('PATCH', cpath('backups-config'), T.config, { key: keys.admin, body: { frequency_minutes: 30 } });
    const full = await nextCompleteBackup(known);
    const subdirs = (await query(root, "SHOW BACKUPS IN 'nodelocal://1/managed'")).map((r) => r['path']!).sort();
    const node1 = cluster.nodes.find((n) => nodeIdOf(n) === 1)!;
    const blocker = join(cluster.dataDir, node1.name, 'extern', 'managed', 'incrementals', subdirs[subdirs.length - 1]!.replace(/^\//, ''));
    await mkdir(dirname(blocker), { recursive: true });
    await writeFile(blocker, 'not a directory');
    try {
      const incremental = await waitFor(
        async () => (await query(root, 'SHOW SCHEDULES')).find((s) => s['label'] === 'cairn-managed-backups' && s['recurrence'] === '*/30 * * * *' && s['schedule_status'] === 'ACTIVE'),
        { what: 'the incremental schedule unpaused by its first full', timeoutMs: 30_000, intervalMs: 250 },
      );
      await root.execute(`ALTER BACKUP SCHEDULE ${incremental['id']!} EXECUTE IMMEDIATELY`);
      const failed = await waitFor(
        async () => {
          const r = await api('GET', cpath('incomplete-backups?pagination.limit=1'), T.incomplete, { key: keys.viewer });
          const first = (r.body['incomplete_backups'] as Array<Record<string, unknown>>)[0];
          return first?.['status'] === 'FAILED' ? first : undefined;
        },
        { what: 'the failed incremental under incomplete backups', timeoutMs: 60_000, intervalMs: 250 },
      );
      expect(failed).toMatchObject({ error_code: 'JOB_FAILED', description: expect.stringMatching(/^BACKUP INTO LATEST IN 'nodelocal:\/\/1\/managed'/) });
      expect(String(failed['error_message'])).toMatch(/cannot write|not a directory|ENOTDIR/i);
      expect(failed['duration_seconds']).toBeGreaterThanOrEqual(0);
      // Backups lists complete and running backups only: the chain's full, not the failure.
      // The */30 schedule also fires by the clock, and a run it starts in the meantime is
      // rightly listed while it runs (it then fails on the same blocked directory): wait for
      // no backup job in flight, so the list shows what stays.
      await waitFor(
        async () => {
          const r = await api('GET', cpath('incomplete-backups'), T.incomplete, { key: keys.viewer });
          return (r.body['incomplete_backups'] as Array<{ status: string }>).every((b) => b.status !== 'RUNNING' && b.status !== 'PENDING');
        },
        { what: 'no managed backup in flight', timeoutMs: 60_000, intervalMs: 250 },
      );
      const listed = await backups();
      expect(listed.filter((b) => b.full_backup_id === full.id).map((b) => b.type)).toEqual(['FULL']);
    } finally {
      await rm(blocker, { force: true });
    }
  });

  it("the console's endpoints: jobs, nodes and schedules for every role; schedule pause/resume for writers only; 401, 400, 404", async () => {
    const C = {
      jobs: '/api/v1/clusters/{cluster_id}/jobs',
      nodes: '/api/v1/clusters/{cluster_id}/nodes',
      schedules: '/api/v1/clusters/{cluster_id}/schedules',
      pause: '/api/v1/clusters/{cluster_id}/schedules/{schedule_id}/pause',
      resume: '/api/v1/clusters/{cluster_id}/schedules/{schedule_id}/resume',
    } as const;
    expect(Object.keys(doc['paths'] as object)).toEqual(expect.arrayContaining(Object.values(C)));
    for (const key of [keys.admin, keys.writer, keys.viewer]) {
      const jobs = await api('GET', cpath('jobs'), C.jobs, { key });
      expect(jobs.status).toBe(200);
      expect((jobs.body['jobs'] as Array<{ type: string; status: string }>).some((j) => j.type === 'BACKUP' && j.status === 'SUCCEEDED')).toBe(true);
      const nodes = await api('GET', cpath('nodes'), C.nodes, { key });
      expect((nodes.body['nodes'] as Array<{ locality: string; status: string }>).map((n) => [n.locality, n.status]).sort()).toEqual(LOCALITIES.map((l) => [l, 'LIVE']).sort());
      const schedules = await api('GET', cpath('schedules'), C.schedules, { key });
      expect((schedules.body['schedules'] as Array<{ label: string }>).some((x) => x.label === 'cairn-managed-backups')).toBe(true);
    }
    const running = await api('GET', cpath('jobs?status=running&limit=5'), C.jobs, { key: keys.viewer });
    expect((running.body['jobs'] as Array<{ status: string }>).every((j) => j.status === 'RUNNING')).toBe(true);
    const finished = await api('GET', cpath('jobs?status=SUCCEEDED,failed'), C.jobs, { key: keys.viewer });
    const finishedJobs = finished.body['jobs'] as Array<{ status: string }>;
    expect(finishedJobs.length).toBeGreaterThan(0);
    expect(finishedJobs.every((j) => j.status === 'SUCCEEDED' || j.status === 'FAILED')).toBe(true);
    const badStatus = await api('GET', cpath('jobs?status=running,asleep'), C.jobs, { key: keys.viewer });
    expect(badStatus.status).toBe(400);
    expect(badStatus.body['message']).toMatch(/unknown job status "asleep"; one of PENDING, RUNNING/);
    expect((await api('GET', cpath('jobs?limit=0'), C.jobs, { key: keys.viewer })).status).toBe(400);

    const schedule = ((await api('GET', cpath('schedules'), C.schedules, { key: keys.viewer })).body['schedules'] as Array<{ id: string; label: string }>).find(
      (x) => x.label === 'cairn-managed-backups',
    )!;
    for (const [path, template] of [['jobs', C.jobs], ['nodes', C.nodes], ['schedules', C.schedules], [`schedules/${schedule.id}/pause`, C.pause]] as const) {
      const method = path.endsWith('pause') ? 'POST' : 'GET';
      expect((await api(method, cpath(path), template, { body: {} })).status, `${method} ${path} without a key`).toBe(401);
    }
    const denied = await api('POST', cpath(`schedules/${schedule.id}/pause`), C.pause, { key: keys.viewer, body: {} });
    expect(denied.status).toBe(403);
    expect((await api('POST', cpath('schedules/424242/pause'), C.pause, { key: keys.writer, body: {} })).status).toBe(404);
    expect((await api('POST', cpath('schedules/not-a-number/pause'), C.pause, { key: keys.writer, body: {} })).status).toBe(400);

    const paused = await api('POST', cpath(`schedules/${schedule.id}/pause`), C.pause, { key: keys.writer, body: {} });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ id: schedule.id, status: 'PAUSED' });
    expect((await query(root, 'SHOW SCHEDULES')).find((x) => x['id'] === schedule.id)?.['schedule_status']).toBe('PAUSED');
    const resumed = await api('POST', cpath(`schedules/${schedule.id}/resume`), C.resume, { key: keys.admin, body: {} });
    expect(resumed.body).toMatchObject({ id: schedule.id, status: 'ACTIVE' });
  });

  it('restores a table into a new database and a database under a new name; refuses bad requests', async () => {
    const bad: Array<[unknown, number, string, RegExp]> = [
      [{ backup_id: first.id, type: 'SCHEMA' }, 400, 'INVALID_ARGUMENT', /allowed values are CLUSTER, DATABASE, TABLE/],
      [{ type: 'TABLE', source: 'bank.bank' }, 400, 'INVALID_ARGUMENT', /backup_id is required/],
      [{ backup_id: first.id, type: 'CLUSTER', source: 'bank' }, 400, 'INVALID_ARGUMENT', /takes no source/],
      [{ backup_id: first.id, type: 'TABLE' }, 400, 'INVALID_ARGUMENT', /source is required/],
      [{ backup_id: first.id, type: 'TABLE', source: 'bank.nope' }, 404, 'NOT_FOUND', /not in backup/],
      [{ backup_id: 'nope', type: 'DATABASE', source: 'bank' }, 404, 'NOT_FOUND', /does not exist/],
      [{ backup_id: first.id, type: 'DATABASE', source: 'bank', skip_missing_views: 'yes' }, 400, 'INVALID_ARGUMENT', /true or false/],
    ];
    for (const [body, status, code, message] of bad) {
      const r = await api('POST', cpath('restores'), T.restores, { key: keys.admin, body });
      expect([r.status, r.body['code']], JSON.stringify(body)).toEqual([status, code]);
      expect(r.body['message']).toMatch(message);
    }
    const viewer = await api('POST', cpath('restores'), T.restores, { key: keys.viewer, body: { backup_id: first.id, type: 'TABLE', source: 'bank.bank' } });
    expect(viewer.status).toBe(403);

    const table = await api('POST', cpath('restores'), T.restores, {
      key: keys.writer,
      body: { backup_id: first.id, type: 'TABLE', source: 'bank.bank', destination_database: 'bank_t', skip_missing_foreign_keys: true },
    });
    expect(table.status).toBe(200);
    expect(table.body).toMatchObject({ type: 'TABLE', source: 'bank.bank', destination: 'bank_t.bank', backup_id: first.id, backup_taken_at: first.as_of_time });
    const db = await api('POST', cpath('restores'), T.restores, {
      key: keys.admin,
      body: { backup_id: first.id, type: 'DATABASE', source: 'bank', destination_database: 'bank_d' },
    });
    expect(db.status).toBe(200);
    for (const r of [table, db]) expect(await waitRestore(String(r.body['id']))).toMatchObject({ status: 'SUCCEEDED', fraction_completed: 1 });
    expect(await databaseFingerprints(root, 'bank_t')).toEqual(firstFingerprints);
    expect(await databaseFingerprints(root, 'bank_d')).toEqual(firstFingerprints);
    const list = await api('GET', cpath('restores'), T.restores, { key: keys.viewer });
    expect((list.body['restores'] as Array<{ id: string }>).map((x) => x.id)).toEqual([db.body['id'], table.body['id']]);

    // A repeated POST with the same Idempotency-Key (a browser resends a POST whose connection
    // dropped) returns the restore the first one started, through either coordinator.
    const once = { backup_id: first.id, type: 'TABLE', source: 'bank.bank', destination_database: 'bank_once' };
    const headers = { 'idempotency-key': 'console-retry-1' };
    const a = await api('POST', cpath('restores'), T.restores, { key: keys.writer, body: once, headers });
    const b = await api('POST', cpath('restores'), T.restores, { key: keys.writer, body: once, headers });
    expect([a.status, b.status], JSON.stringify(b.body)).toEqual([200, 200]);
    expect(b.body['id']).toBe(a.body['id']);
    const after = (await api('GET', cpath('restores'), T.restores, { key: keys.viewer })).body['restores'] as Array<{ id: string }>;
    expect(after.filter((x) => x.id === a.body['id'])).toHaveLength(1);
    expect(after).toHaveLength(3);
    expect(await waitRestore(String(a.body['id']))).toMatchObject({ status: 'SUCCEEDED' });
    const badKey = await api('POST', cpath('restores'), T.restores, { key: keys.writer, body: once, headers: { 'idempotency-key': 'not ok!' } });
    expect([badKey.status, badKey.body['code']]).toEqual([400, 'INVALID_ARGUMENT']);
  });

  it('every role reads every endpoint', async () => {
    const restoreId = ((await api('GET', cpath('restores'), T.restores, { key: keys.viewer })).body['restores'] as Array<{ id: string }>)[0]!.id;
    const reads: Array<[string, string]> = [
      ['/api/v1/clusters', T.clusters],
      [cpath('backups-config'), T.config],
      [cpath('backups'), T.backups],
      [cpath(`backups/${first.id}/databases`), T.databases],
      [cpath(`backups/${first.id}/databases/bank/tables`), T.tables],
      [cpath('incomplete-backups'), T.incomplete],
      [cpath('restores'), T.restores],
      [cpath(`restores/${restoreId}`), T.restore],
    ];
    for (const role of ['admin', 'writer', 'viewer'] as const) {
      for (const [path, template] of reads) expect((await api('GET', path, template, { key: keys[role] })).status, `${role} GET ${path}`).toBe(200);
    }
  });

  it('restores the cluster in place: erases its databases, refuses writes meanwhile, and finishes on the new leader after a SIGKILL', async () => {
    // The backup to restore, with the fingerprints of everything it holds.
    const known = new Set((await backups()).map((b) => b.id));
    const before = {
      bank: await databaseFingerprints(root, 'bank'),
      shop: await databaseFingerprints(root, 'shop'),
      bank_t: await databaseFingerprints(root, 'bank_t'),
      bank_d: await databaseFingerprints(root, 'bank_d'),
    };
    // Frequency can change any number of times; each change takes a full at once.
    await api('PATCH', cpath('backups-config'), T.config, { key: keys.admin, body: { frequency_minutes: 240 } });
    const backup = await nextCompleteBackup(known);
    // Then the cluster moves on: more rows, a new database.
    await root.execute('INSERT INTO shop.orders VALUES (1000, \'late\')');
    await root.execute('CREATE DATABASE extra');
    await root.execute('CREATE TABLE extra.t (id INT PRIMARY KEY)');

    const leader = await leaderCoordinator(cluster);
    const standby = cluster.coordinators.find((c) => c !== leader)!;
    const started = await api('POST', cpath('restores'), T.restores, { key: keys.admin, body: { backup_id: backup.id, type: 'CLUSTER' }, address: httpAddress(leader) });
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({ type: 'CLUSTER', source: expect.stringMatching(/^cairn-/), destination: expect.stringMatching(/^cairn-/) });
    const id = String(started.body['id']);
    await expect(root.execute('INSERT INTO shop.orders VALUES (1001, \'during\')')).rejects.toThrow(/cluster is being restored/);
    // Killed part way: the job has erased the cluster's databases (extra is gone) and is
    // restoring spans.
    const seen = await waitFor(
      async () => {
        const r = await api('GET', cpath(`restores/${id}`), T.restore, { key: keys.viewer, address: httpAddress(leader) });
        if (r.body['status'] === 'PREPARING') return undefined;
        const names = (await query(root, 'SHOW DATABASES')).map((d) => d['database_name']);
        return r.body['status'] !== 'RUNNING' || !names.includes('extra') ? r.body : undefined;
      },
      { what: `restore ${id} running with the cluster erased`, timeoutMs: 60_000, intervalMs: 50 },
    );
    expect(seen['status'], 'the restore must still be running when the leader is killed').toBe('RUNNING');
    await leader.kill('SIGKILL');
    // The new leader refuses writes too while it finishes the restore (or, if it has already
    // finished by the time the write reaches it, takes the write).
    const during = await root.execute('CREATE DATABASE during_failover').then(
      () => 'written',
      (err: unknown) => String(err),
    );
    if (during === 'written') {
      const r = await api('GET', cpath(`restores/${id}`), T.restore, { key: keys.viewer, address: httpAddress(standby) });
      expect(r.body['status']).toBe('SUCCEEDED');
      await root.execute('DROP DATABASE during_failover');
    } else {
      expect(during).toMatch(/cluster is being restored/);
    }
    const end = await waitRestore(id, httpAddress(standby));
    expect(end['status'], JSON.stringify(end)).toBe('SUCCEEDED');
    // Exactly what the backup held: extra is gone, the late row too.
    const dbs = (await query(root, 'SHOW DATABASES')).map((r) => r['database_name']).filter((n) => !['defaultdb', 'postgres', 'system'].includes(n ?? ''));
    expect(dbs.sort()).toEqual(['bank', 'bank_d', 'bank_once', 'bank_t', 'empty_db', 'shop']);
    for (const [db, fps] of Object.entries(before)) expect(await databaseFingerprints(root, db), db).toEqual(fps);
    // Writable again.
    await root.execute('INSERT INTO shop.orders VALUES (1002, \'after\')');
    // The cluster restore brought the backup's schedules back paused; the managed ones follow
    // the configuration again (every 4 hours, a full daily), active.
    const managed = await waitFor(
      async () => {
        const rows = (await query(root, 'SHOW SCHEDULES')).filter((r) => r['label'] === 'cairn-managed-backups');
        return rows.length === 2 && rows.every((r) => r['schedule_status'] === 'ACTIVE') ? rows : undefined;
      },
      { what: 'the managed schedules active again after the restore', timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(managed.map((r) => r['recurrence']).sort()).toEqual(['0 */4 * * *', '@daily']);
  });
});
