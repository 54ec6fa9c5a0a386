/**
 * Secure mode end to end (issue 10), on real processes: one nats-server configured as the
 * deploy kit runs it secure (deploy/nats/cairn-accounts.conf, TLS with client certificates
 * verified), two coordinators and three nodes started with `--certs-dir`, NATS credentials
 * and NATS TLS (the coordinators from the certs dir for a tls:// URL, the nodes from
 * --nats-tls-*), certificates made by `cairn cert`.
 *
 * - A plaintext client, a client certificate from another CA and a wrong password are each
 *   refused with a clear error (UNAUTHENTICATED for the last two).
 * - A user with a password and no grants connects but cannot BACKUP, neither through SQL nor
 *   through a typed RPC (BackupService.StartBackup; DataService Write/Scan/Fingerprint,
 *   PERMISSION_DENIED); after GRANT SYSTEM BACKUP and GRANT SELECT it can.
 * - A process without NATS credentials cannot join or read the state, not even with a valid
 *   node certificate; SQL credentials are no NATS credentials.
 * - A node certificate replaced and reloaded with SIGHUP: the coordinators present the new
 *   certificate to new connections and the cluster keeps serving old and new clients.
 * - Audit lines for BACKUP, RESTORE, GRANT, user changes and failed logins, naming the user;
 *   no password appears in any log.
 * - BACKUP → RESTORE gives the original's fingerprints, the same as the same round trip on an
 *   insecure twin cluster started beside it (whose processes reach NATS with --nats-creds, a
 *   server in operator mode).
 * - A node's backup files for another node's nodelocal:// go straight to that node's HTTPS
 *   port (its certificate checked against the cluster CA), none through NATS.
 */
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { connect as natsConnect, credsAuthenticator } from 'nats';
import { CairnClient } from '@cairn/client';
import * as proto from '@cairn/proto';
import { DataServiceClient, type ScanResponse } from '@cairn/proto';
import { CAIRN_NATS_PERMISSIONS, ProcessCluster, createNatsOperator, publishOutcome, repoRoot, startNatsServer, tempDir, waitFor, type NatsServerHandle } from '@cairn/testing';
import { col, countRows, failure, query } from './support/backup.js';
import { runCli } from './support/cli.js';
import { at } from './support/cluster.js';
import { leaderCoordinator, reportedAddress } from './support/coordinators.js';

const LOCALITIES = ['region=us-east1,zone=us-east1-b', 'region=us-west1,zone=us-west1-a', 'region=eu-west1,zone=eu-west1-c'];
const NATS_PASSWORD = 'nats-pw-7f3a9c';
const ALICE_PASSWORD = 'alice-pw-K9q2xZ';
const COLLECTION = 'nodelocal://1/secure';
/** A key no API accepts: refused calls are audited, and it must appear in no log. */
const BOGUS_API_KEY = 'cairn-bogus-key-5d81e07c';

let nats: NatsServerHandle;
/** `tls://` form of the server's URL, as the processes are given it. */
let natsUrl: string;
/** TLS files a NATS client of this server needs (a node certificate: the server verifies clients). */
let natsTls: { caFile: string; certFile: string; keyFile: string };
let cluster: ProcessCluster;
let certsDir: string;
let caKey: string;
let otherCertsDir: string;
let ca: Buffer;
const clients: CairnClient[] = [];
let insecureTwin: Promise<{ nats: NatsServerHandle; cluster: ProcessCluster }> | undefined;

function track(c: CairnClient): CairnClient {
  clients.push(c);
  return c;
}

async function certFiles(dir: string, user: string): Promise<{ cert: Buffer; key: Buffer }> {
  return { cert: await readFile(join(dir, `client.${user}.crt`)), key: await readFile(join(dir, `client.${user}.key`)) };
}

/** root, logging in with its client certificate. */
async function rootClient(addresses = cluster.grpcAddresses()): Promise<CairnClient> {
  return track(new CairnClient({ addresses, retryForMs: 60_000, user: 'root', tls: { ca, ...(await certFiles(certsDir, 'root')) } }));
}

function passwordClient(user: string, password: string, addresses = cluster.grpcAddresses()): CairnClient {
  return track(new CairnClient({ addresses, retryForMs: 30_000, user, tls: { ca }, password }));
}

async function cert(args: string[], dir = certsDir, key = caKey): Promise<void> {
  const run = await runCli(['cert', ...args, '--certs-dir', dir, '--ca-key', key]);
  expect(run.code, run.stderr).toBe(0);
}

/** Whole-table span of a user table: keys start with the uvarint table id (width byte, then big-endian). */
function tableSpan(tableId: number): { startKey: Uint8Array; endKey: Uint8Array } {
  if (tableId > 254) throw new Error(`table id ${tableId}: this helper encodes one-byte ids only`);
  return { startKey: Uint8Array.of(1, tableId), endKey: Uint8Array.of(1, tableId + 1) };
}

/** DataService.Scan as `user` with a password (the client SDK has no Scan). */
function scanAs(address: string, user: string, password: string, span: { startKey: Uint8Array; endKey: Uint8Array }): Promise<ScanResponse> {
  const client = new DataServiceClient(address, credentials.createSsl(ca));
  const md = new Metadata();
  md.set('cairn-user', user);
  md.set('authorization', `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`);
  return new Promise<ScanResponse>((resolve, reject) =>
    client.scan({ ...span, timestamp: 0n, limit: 100 }, md, { deadline: Date.now() + 30_000 }, (err: ServiceError | null, res: ScanResponse) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    }),
  );
}

/** The serial number of the certificate a coordinator port (gRPC: h2, HTTPS: http/1.1) presents to a new TLS connection. */
function presentedSerial(address: string): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, ca, servername: 'localhost', ALPNProtocols: ['h2', 'http/1.1'] }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.once('error', reject);
  });
}

interface MethodDef {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize(v: unknown): Buffer;
  requestDeserialize(b: Buffer): unknown;
  responseDeserialize(b: Buffer): unknown;
}

/** Every method of every gRPC service @cairn/proto defines (the `...ServiceService` definitions). */
function allMethods(): MethodDef[] {
  return Object.entries(proto)
    .filter(([name]) => name.endsWith('ServiceService'))
    .flatMap(([, def]) => Object.values(def as Record<string, MethodDef>));
}

/** The status code of one call of `m` over TLS with no client certificate and no password (an empty request). */
function anonymousCallCode(client: Client, m: MethodDef): Promise<number> {
  const request = m.requestDeserialize(Buffer.alloc(0));
  const options = { deadline: Date.now() + 15_000 };
  return new Promise((resolve) => {
    const done = (err: ServiceError | null) => resolve(err ? err.code : 0);
    if (m.requestStream) {
      const call = m.responseStream
        ? client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, new Metadata(), options)
        : client.makeClientStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, new Metadata(), options, done);
      call.on('error', done);
      call.write(request);
      call.end();
    } else if (m.responseStream) {
      const call = client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, request, new Metadata(), options);
      call.on('error', done);
      call.on('data', () => resolve(0));
      call.on('end', () => resolve(0));
    } else {
      client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, request, new Metadata(), options, done);
    }
  });
}

/** One HTTPS request trusting the cluster's CA: status and body. */
function httpsCall(address: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: address.slice(0, i), port: Number(address.slice(i + 1)), path, headers, ca, servername: 'localhost', agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

async function logText(name: string): Promise<string> {
  return readFile(join(cluster.dataDir, 'logs', `${name}.log`), 'utf8');
}

/** Every audit line the coordinators wrote. */
async function auditLines(): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for (const c of cluster.coordinators) {
    for (const line of (await logText(c.name)).split('\n')) {
      if (!line.includes('"audit":true')) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line cut by the tail: not an audit record
      }
    }
  }
  return out;
}

beforeAll(async () => {
  // The insecure twin (one coordinator, one node, its own NATS) starts beside the secure
  // cluster; the BACKUP → RESTORE test compares the two clusters' fingerprints.
  // Its NATS runs in operator (JWT) mode, so --nats-creds is exercised by real processes too:
  // an insecure API says nothing about how a cluster reaches NATS.
  insecureTwin = (async () => {
    const operator = createNatsOperator();
    const account = operator.account('CAIRN', { jetstream: true });
    const creds = join(await tempDir('cairn-twin-creds'), 'cairn.creds');
    await writeFile(creds, account.userCreds('cairn', CAIRN_NATS_PERMISSIONS), { mode: 0o600 });
    const twinNats = await startNatsServer({
      extraConfig: operator.serverConfig(),
      readyAuth: { authenticator: credsAuthenticator(new TextEncoder().encode(account.userCreds('ready'))) },
    });
    const args = ['--nats-creds', creds];
    const twin = await ProcessCluster.start({ nats: twinNats.url, coordinatorArgs: args, nodes: [{ locality: LOCALITIES[0]!, args }] }).catch(async (err: unknown) => {
      await twinNats.stop();
      throw err;
    });
    await createBank(track(new CairnClient({ addresses: twin.grpcAddresses(), retryForMs: 60_000 })));
    return { nats: twinNats, cluster: twin };
  })();
  // Awaited by its test; until then a failure must not count as unhandled.
  insecureTwin.catch(() => undefined);
  // Certificates as an operator makes them: a CA, one node certificate for every process
  // (reached at localhost / 127.0.0.1 here), root's client certificate; and a second CA.
  const dir = await tempDir('cairn-secure');
  certsDir = join(dir, 'certs');
  caKey = join(dir, 'ca.key');
  await cert(['create-ca']);
  await cert(['create-node', 'localhost', '127.0.0.1']);
  await cert(['create-client', 'root']);
  ca = await readFile(join(certsDir, 'ca.crt'));
  otherCertsDir = join(dir, 'other-certs');
  await cert(['create-ca'], otherCertsDir, join(dir, 'other-ca.key'));
  await cert(['create-client', 'root'], otherCertsDir, join(dir, 'other-ca.key'));

  // NATS as the kit runs it secure: the kit's account file (its passwords given as the
  // variables it expects), TLS required and client certificates verified against the same
  // CA. The server has its own copy of the files (the rotation tests below replace certsDir's).
  const accounts = await readFile(join(repoRoot(), 'deploy/nats/cairn-accounts.conf'), 'utf8');
  const natsCerts = join(dir, 'nats-certs');
  await mkdir(natsCerts);
  for (const f of ['ca.crt', 'node.crt', 'node.key']) await copyFile(join(certsDir, f), join(natsCerts, f));
  const file = (f: string) => JSON.stringify(join(natsCerts, f));
  natsTls = { caFile: join(natsCerts, 'ca.crt'), certFile: join(natsCerts, 'node.crt'), keyFile: join(natsCerts, 'node.key') };
  nats = await startNatsServer({
    extraConfig: [
      `tls { cert_file: ${file('node.crt')}, key_file: ${file('node.key')}, ca_file: ${file('ca.crt')}, verify: true, timeout: 3 }`,
      `CAIRN_NATS_PASSWORD: ${JSON.stringify(NATS_PASSWORD)}`,
      'NATS_SYS_PASSWORD: "sys-pw-unused"',
      accounts,
    ].join('\n'),
    readyAuth: { user: 'cairn', pass: NATS_PASSWORD, tls: natsTls },
  });
  natsUrl = nats.url.replace(/^nats:/, 'tls:');
  // The NATS password as an operator should pass it: in the environment, not on a command
  // line. Coordinators take the certs dir's files for NATS TLS (tls:// URL); nodes name them
  // with --nats-tls-*.
  const secure = ['--certs-dir', certsDir, '--nats-user', 'cairn'];
  const nodeTls = ['--nats-tls-ca', join(certsDir, 'ca.crt'), '--nats-tls-cert', join(certsDir, 'node.crt'), '--nats-tls-key', join(certsDir, 'node.key')];
  cluster = await ProcessCluster.start({
    nats: natsUrl,
    coordinators: 2,
    env: { CAIRN_NATS_PASSWORD: NATS_PASSWORD },
    coordinatorArgs: secure,
    nodes: LOCALITIES.map((locality) => ({ locality, args: [...secure, ...nodeTls] })),
  });
  for (const c of cluster.coordinators) expect(c.readyInfo['secure']).toBe(true);
  const root = await rootClient();
  await createBank(root);
  await root.execute(`CREATE USER alice WITH PASSWORD '${ALICE_PASSWORD}'`);
}, 180_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
  await nats?.stop();
  const twin = await insecureTwin?.catch(() => undefined);
  await twin?.cluster.stop();
  await twin?.nats.stop();
});

/** The same database on both clusters: same statements, same order, so the same descriptor ids. */
async function createBank(client: CairnClient): Promise<void> {
  await client.execute('CREATE DATABASE bank');
  await client.execute('CREATE TABLE bank.accounts (id INT PRIMARY KEY, balance INT)');
  await client.execute(`INSERT INTO bank.accounts VALUES ${Array.from({ length: 200 }, (_, i) => `(${i}, ${1000 + i})`).join(', ')}`);
}

/** BACKUP → RESTORE of bank into bank2; the fingerprints of the original and of the restored table. */
async function roundTrip(client: CairnClient, collection: string): Promise<{ original: unknown[]; restored: unknown[] }> {
  const original = await query(client, 'SHOW FINGERPRINTS FROM TABLE bank.accounts');
  await client.execute(`BACKUP DATABASE bank INTO '${collection}'`);
  await client.execute(`RESTORE DATABASE bank FROM LATEST IN '${collection}' WITH new_db_name = 'bank2'`);
  return { original, restored: await query(client, 'SHOW FINGERPRINTS FROM TABLE bank2.accounts') };
}

describe('cairn cert', () => {
  it("lists CockroachDB's file names with their use, and refuses to overwrite without --overwrite", async () => {
    const run = await runCli(['cert', 'list', '--certs-dir', certsDir]);
    expect(run.code, run.stderr).toBe(0);
    const rows = run.stdout.split('\n').filter((l) => /^\s+(CA|Node|Client)\s+\|/.test(l)).map((l) => l.split('|').map((c) => c.trim()));
    expect(rows.map((r) => [r[0], r[1], r[2]])).toEqual([
      ['CA', 'ca.crt', ''],
      ['Client', 'client.root.crt', 'client.root.key'],
      ['Node', 'node.crt', 'node.key'],
    ]);
    expect(rows[2]![4]).toBe('addresses: localhost, 127.0.0.1');
    const again = await runCli(['cert', 'create-client', 'root', '--certs-dir', certsDir, '--ca-key', caKey]);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe(`ERROR (DUPLICATE_OBJECT): ${join(certsDir, 'client.root.crt')} already exists: pass --overwrite to replace it`);
  });
});

describe('a secure cluster refuses', () => {
  it('a plaintext client, with a clear error', async () => {
    const plain = track(new CairnClient({ addresses: cluster.grpcAddresses().slice(0, 1), retryForMs: 500 }));
    const err = await failure(plain, 'SHOW DATABASES');
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/connected without TLS: if the cluster runs secure, give its CA certificate with --certs-dir/);
  });

  it('every RPC of every service, called over TLS without a certificate or a password: UNAUTHENTICATED', async () => {
    const client = new Client(cluster.grpcAddresses()[0]!, credentials.createSsl(ca));
    try {
      const methods = allMethods();
      const codes = await Promise.all(methods.map(async (m) => [m.path, await anonymousCallCode(client, m)] as const));
      // A service the coordinator does not serve answers UNIMPLEMENTED (12): nothing to guard.
      // Every one it serves must refuse (16) before its handler runs.
      const served = codes.filter(([, code]) => code !== 12);
      expect(served.filter(([, code]) => code !== 16)).toEqual([]);
      for (const service of ['SqlService', 'ClusterService', 'DataService', 'JobService', 'BackupService', 'ScheduleService']) {
        expect(served.some(([path]) => path.startsWith(`/cairn.v1.${service}/`)), service).toBe(true);
      }
      expect(served.length).toBeGreaterThanOrEqual(20);
    } finally {
      client.close();
    }
  });

  it('a client certificate signed by another CA', async () => {
    const foreign = track(new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 5_000, user: 'root', tls: { ca, ...(await certFiles(otherCertsDir, 'root')) } }));
    const err = await failure(foreign, 'SHOW DATABASES');
    expect(err.code).toBe('UNAUTHENTICATED');
    expect(err.message).toMatch(/no client certificate signed by the cluster's CA and no password for user root/);
  });

  it('a wrong password, and a user that does not exist, with the same message', async () => {
    const wrong = await failure(passwordClient('alice', 'not-the-password'), 'SHOW DATABASES');
    expect(wrong.code).toBe('UNAUTHENTICATED');
    expect(wrong.message).toBe('password authentication failed for user alice');
    const nobody = await failure(passwordClient('mallory', 'whatever'), 'SHOW DATABASES');
    expect(nobody.message).toBe('password authentication failed for user mallory');
  });

  it('through the CLI: a wrong CAIRN_PASSWORD fails with one line and exit code 1', async () => {
    const run = await runCli(['sql', '--host', cluster.grpcAddresses()[0]!, '--certs-dir', certsDir, '--user', 'alice', '-e', 'SHOW DATABASES'], {
      env: { CAIRN_PASSWORD: 'nope', NODE_NO_WARNINGS: '1' },
    });
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe('ERROR (UNAUTHENTICATED): password authentication failed for user alice');
  });
});

describe('a user with a password and no grants', () => {
  it('connects but cannot BACKUP through SQL (through the leader or a standby) nor the typed calls (BackupService, ScheduleService)', async () => {
    const leader = await leaderCoordinator(cluster);
    const standby = cluster.coordinators.find((c) => c !== leader)!;
    for (const proc of [leader, standby]) {
      const alice = passwordClient('alice', ALICE_PASSWORD, [reportedAddress(proc, 'grpc')]);
      expect((await query(alice, 'SHOW DATABASES')).map((r) => col(r, 'database_name'))).toContain('bank');
      const err = await failure(alice, `BACKUP DATABASE bank INTO '${COLLECTION}'`);
      expect(err.code, err.message).toBe('INSUFFICIENT_PRIVILEGE');
      expect(err.message).toBe('user alice does not have BACKUP privilege on database bank');
      // The typed BackupService: the same statement underneath, the same refusal.
      await expect(alice.startBackup({ collection: ['nodelocal://1/typed'] })).rejects.toMatchObject({ code: 'INSUFFICIENT_PRIVILEGE' });
    }
    // The other services' typed calls that change something: refused as well (PERMISSION_DENIED).
    const alice = passwordClient('alice', ALICE_PASSWORD);
    await expect(alice.startRestore({ collection: [COLLECTION], databases: ['bank'] })).rejects.toMatchObject({ code: 'INSUFFICIENT_PRIVILEGE' });
    await expect(alice.createBackupSchedule({ collection: ['nodelocal://1/typed'], databases: ['bank'], recurring: '@daily' })).rejects.toMatchObject({ code: 'INSUFFICIENT_PRIVILEGE' });
  });

  it('is refused the typed data calls: Write, Scan and Fingerprint (PERMISSION_DENIED)', async () => {
    const alice = passwordClient('alice', ALICE_PASSWORD);
    const table = await alice.getTable('bank', 'accounts');
    await expect(alice.write({ ops: [{ key: tableSpan(table.id).startKey, value: Uint8Array.of(1) }] })).rejects.toMatchObject({
      code: 'INSUFFICIENT_PRIVILEGE',
      message: 'only users with the admin role are allowed to write raw key-value pairs (DataService.Write)',
    });
    await expect(alice.fingerprint({ database: 'bank', table: 'accounts' })).rejects.toMatchObject({ code: 'INSUFFICIENT_PRIVILEGE' });
    const scan = scanAs(cluster.grpcAddresses()[0]!, 'alice', ALICE_PASSWORD, tableSpan(table.id));
    await expect(scan).rejects.toMatchObject({ code: 7 /* PERMISSION_DENIED */, details: 'user alice does not have SELECT privilege on relation accounts' });
    // A span outside one table is an admin's business, whatever alice holds.
    await expect(scanAs(cluster.grpcAddresses()[0]!, 'alice', ALICE_PASSWORD, { startKey: Uint8Array.of(0), endKey: Uint8Array.of(0xff) })).rejects.toMatchObject({ code: 7 });
  });

  it('can after GRANT SYSTEM BACKUP and GRANT SELECT: BACKUP through SQL, Scan and Fingerprint through the typed calls', async () => {
    const root = await rootClient();
    const alice = passwordClient('alice', ALICE_PASSWORD);
    // nodelocal:// writes with the cluster's own access, which a non-admin needs
    // EXTERNALIOIMPLICITACCESS for (as in CockroachDB); granted first, so that what is still
    // missing below is BACKUP itself.
    await root.execute('GRANT SYSTEM EXTERNALIOIMPLICITACCESS TO alice');
    const refused = await failure(alice, "BACKUP INTO 'nodelocal://1/cluster'");
    expect(refused.code).toBe('INSUFFICIENT_PRIVILEGE');
    expect(refused.message).toMatch(/BACKUP/);
    await root.execute('GRANT SYSTEM BACKUP TO alice');
    // The system privilege is what a full cluster backup needs (seed 001's table).
    await alice.execute("BACKUP INTO 'nodelocal://1/cluster'");
    const typed = await alice.startBackup({ collection: ['nodelocal://1/typed'] });
    expect(typed.userName).toBe('alice');
    await root.execute('GRANT SELECT ON TABLE bank.accounts TO alice');
    const table = await alice.getTable('bank', 'accounts');
    const scanned = await scanAs(cluster.grpcAddresses()[1]!, 'alice', ALICE_PASSWORD, tableSpan(table.id));
    expect(scanned.kvs).toHaveLength(100);
    const fp = await alice.fingerprint({ database: 'bank', table: 'accounts' });
    expect(fp.tables).toHaveLength(1);
    // Her own job, as SHOW JOBS shows a non-admin.
    const jobs = await query(alice, "SHOW JOBS SELECT * FROM [SHOW JOBS] WHERE job_type = 'BACKUP'");
    expect(jobs.map((j) => col(j, 'user_name'))).toEqual(['alice', 'alice']);
  });
});

describe('NATS', () => {
  it('a node without NATS credentials cannot join; neither a node certificate nor SQL credentials let a client read the state', async () => {
    // A node with everything but the NATS password: TLS passes (its certificate is valid), the account refuses.
    const run = await runCli(
      ['start', 'node', '--nats', natsUrl, '--locality', 'region=x', '--store', join(await tempDir('cairn-intruder'), 'store'), '--certs-dir', certsDir],
      { timeoutMs: 30_000 },
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^ERROR \(UNAUTHENTICATED\): NATS at .* refused the connection \('Authorization Violation'\)/m);
    const attempt = (o: object) => natsConnect({ servers: nats.url, reconnect: false, timeout: 3_000, ...o });
    await expect(attempt({ tls: natsTls })).rejects.toMatchObject({ code: 'AUTHORIZATION_VIOLATION' });
    await expect(attempt({ tls: natsTls, user: 'cairn', pass: 'guess' })).rejects.toMatchObject({ code: 'AUTHORIZATION_VIOLATION' });
    // A SQL client's credentials (its client certificate, alice's password) are not NATS's.
    const sqlClient = { caFile: join(certsDir, 'ca.crt'), certFile: join(certsDir, 'client.root.crt'), keyFile: join(certsDir, 'client.root.key') };
    await expect(attempt({ tls: sqlClient, user: 'alice', pass: ALICE_PASSWORD })).rejects.toMatchObject({ code: 'AUTHORIZATION_VIOLATION' });
    // And without TLS nothing is even said: the server requires it.
    await expect(attempt({ user: 'cairn', pass: NATS_PASSWORD })).rejects.toThrow(/certificate/);
  });

  it("cairn's account may not publish outside cairn's subjects", async () => {
    const nc = await natsConnect({ servers: nats.url, user: 'cairn', pass: NATS_PASSWORD, tls: natsTls, timeout: 3_000 });
    try {
      expect(await publishOutcome(nc, 'elsewhere.secret')).toMatch(/PERMISSIONS_VIOLATION/);
    } finally {
      await nc.close();
    }
  });
});

describe('the HTTP port', () => {
  it('serves HTTPS; over plaintext only /health, /metrics and /sd/prometheus; the API needs a key', async () => {
    for (const c of cluster.coordinators) {
      const http = reportedAddress(c, 'metrics');
      // Probes and Prometheus: no CA, no credentials.
      for (const path of ['/health', '/health?ready=1', '/metrics', '/sd/prometheus']) expect((await fetch(`http://${http}${path}`)).status, path).toBe(200);
      // Anything else over plaintext is never served: reads are sent to https, the rest refused.
      const read = await fetch(`http://${http}/api/v1/clusters`, { redirect: 'manual', headers: { authorization: `Bearer ${BOGUS_API_KEY}-clear` } });
      expect(read.status).toBe(308);
      expect(read.headers.get('location')).toBe(`https://${http}/api/v1/clusters`);
      expect((await fetch(`http://${http}/api/v1/clusters`, { method: 'POST', body: '{}' })).status).toBe(403);
      // Over TLS: the same open paths, and the API refuses a call without a valid key.
      expect((await httpsCall(http, '/health')).status).toBe(200);
      for (const headers of [{}, { authorization: `Bearer ${BOGUS_API_KEY}` }] as Array<Record<string, string>>) {
        const api = await httpsCall(http, '/api/v1/clusters', headers);
        expect(api.status).toBe(401);
        expect((JSON.parse(api.body) as { code: string }).code).toBe('UNAUTHENTICATED');
      }
    }
  });
});

describe('certificate rotation', () => {
  it('a node certificate replaced and reloaded with SIGHUP: new connections (gRPC and HTTPS, nodes too) get it, the cluster keeps serving', async () => {
    const root = await rootClient();
    const serials = () => Promise.all(cluster.coordinators.flatMap((c) => [presentedSerial(reportedAddress(c, 'grpc')), presentedSerial(reportedAddress(c, 'metrics'))]));
    const nodeSerials = () => Promise.all(cluster.nodes.map((n) => presentedSerial(cluster.metricsAddresses.get(n.name)!)));
    const before = await serials();
    // Both ports present the same node certificate, and so do the nodes' HTTPS ports.
    expect(new Set(before).size).toBe(1);
    expect(await nodeSerials()).toEqual(cluster.nodes.map(() => before[0]));
    await cert(['create-node', 'localhost', '127.0.0.1', '--overwrite']);
    for (const proc of [...cluster.coordinators, ...cluster.nodes]) process.kill(proc.pid, 'SIGHUP');
    for (const c of cluster.coordinators) await c.waitForLog('reloaded node certificates', 10_000);
    for (const n of cluster.nodes) await n.waitForLog('node certificates reloaded', 10_000);
    // The gRPC and HTTPS ports of every coordinator and node now present the new one.
    const after = await serials();
    expect(new Set(after).size).toBe(1);
    expect(after[0]).not.toBe(before[0]);
    expect(await nodeSerials()).toEqual(cluster.nodes.map(() => after[0]));
    // Every process is still up and serving: an old client, a new one, and a standby's forward.
    for (const p of [...cluster.coordinators, ...cluster.nodes]) expect(p.running).toBe(true);
    expect(await countRows(root, 'bank.accounts')).toBe(200);
    const fresh = await rootClient([reportedAddress(at(cluster.coordinators, 1, 'coordinator'), 'grpc')]);
    expect((await fresh.listNodes()).nodes.filter((n) => n.isLive)).toHaveLength(3);
  });

  it('a bad replacement is refused on SIGHUP and the old certificate stays', async () => {
    const coordinator = at(cluster.coordinators, 0, 'coordinator');
    const serial = await presentedSerial(reportedAddress(coordinator, 'grpc'));
    // A node certificate from another CA: does not verify against ca.crt.
    const other = await tempDir('cairn-other-node');
    await cert(['create-ca'], other, join(other, 'ca.key'));
    await cert(['create-node', 'localhost'], other, join(other, 'ca.key'));
    const saved = { cert: await readFile(join(certsDir, 'node.crt')), key: await readFile(join(certsDir, 'node.key')) };
    await copyFile(join(other, 'node.crt'), join(certsDir, 'node.crt'));
    await copyFile(join(other, 'node.key'), join(certsDir, 'node.key'));
    try {
      process.kill(coordinator.pid, 'SIGHUP');
      await coordinator.waitForLog('certificate reload failed; keeping the old certificates', 10_000);
      expect(await presentedSerial(reportedAddress(coordinator, 'grpc'))).toBe(serial);
      expect(await presentedSerial(reportedAddress(coordinator, 'metrics'))).toBe(serial);
    } finally {
      await writeFile(join(certsDir, 'node.crt'), saved.cert);
      await writeFile(join(certsDir, 'node.key'), saved.key, { mode: 0o600 });
    }
  });
});

describe('BACKUP → RESTORE on a secure cluster', () => {
  it('restores the same fingerprints as the same round trip on an insecure cluster', async () => {
    const secure = await roundTrip(await rootClient(), COLLECTION);
    expect(secure.restored).toEqual(secure.original);
    const twin = await insecureTwin!;
    const insecure = await roundTrip(track(new CairnClient({ addresses: twin.cluster.grpcAddresses(), retryForMs: 60_000 })), 'nodelocal://1/insecure');
    expect(insecure.original).toEqual(secure.original);
    expect(insecure.restored).toEqual(secure.restored);
  });
});

describe('the audit log', () => {
  it('records BACKUP, RESTORE, GRANT, user changes and failed logins (gRPC and HTTP), naming the user, and no log holds a secret', async () => {
    const root = await rootClient();
    await root.execute(`ALTER USER alice WITH PASSWORD '${ALICE_PASSWORD}-2'`);
    // A user may change its own password (not another's), and then logs in with the new one.
    const alice = passwordClient('alice', `${ALICE_PASSWORD}-2`);
    expect((await failure(alice, "ALTER USER root WITH PASSWORD 'x'")).code).toBe('INSUFFICIENT_PRIVILEGE');
    await alice.execute(`ALTER USER alice WITH PASSWORD '${ALICE_PASSWORD}-3'`);
    expect((await failure(passwordClient('alice', `${ALICE_PASSWORD}-2`), 'SHOW DATABASES')).code).toBe('UNAUTHENTICATED');
    await passwordClient('alice', `${ALICE_PASSWORD}-3`).execute('SHOW DATABASES');
    await root.execute("CREATE SCHEDULE audited FOR BACKUP INTO 'nodelocal://1/scheduled' RECURRING '@daily' WITH SCHEDULE OPTIONS first_run = 'now'");
    await root.execute('REVOKE SYSTEM BACKUP FROM alice');
    const lines = await waitFor(
      async () => {
        const all = await auditLines();
        return all.some((l) => l['event'] === 'REVOKE') ? all : undefined;
      },
      { what: 'the REVOKE audit line', timeoutMs: 10_000 },
    );
    const find = (event: string, pred: (l: Record<string, unknown>) => boolean = () => true) => lines.filter((l) => l['event'] === event && pred(l));
    expect(find('USER', (l) => l['user'] === 'root' && String(l['statement']).startsWith('CREATE USER alice WITH PASSWORD'))).toHaveLength(1);
    expect(find('USER', (l) => String(l['statement']) === "ALTER USER alice WITH PASSWORD 'redacted'")).toHaveLength(2);
    expect(find('USER', (l) => l['user'] === 'alice' && l['outcome'] === 'ok')).toHaveLength(1);
    expect(find('BACKUP', (l) => l['user'] === 'alice' && l['outcome'] === 'error' && l['error'] === 'INSUFFICIENT_PRIVILEGE').length).toBeGreaterThanOrEqual(3);
    expect(find('BACKUP', (l) => l['user'] === 'alice' && l['outcome'] === 'ok')).toHaveLength(2);
    expect(find('RESTORE', (l) => l['user'] === 'root' && l['outcome'] === 'ok')).toHaveLength(1);
    expect(find('GRANT', (l) => l['statement'] === 'GRANT SYSTEM BACKUP TO alice')).toHaveLength(1);
    expect(find('SCHEDULE', (l) => l['user'] === 'root' && String(l['statement']).startsWith("CREATE SCHEDULE 'audited' FOR BACKUP"))).toHaveLength(1);
    expect(find('REVOKE', (l) => l['statement'] === 'REVOKE SYSTEM BACKUP FROM alice')).toHaveLength(1);
    expect(find('LOGIN_FAILED', (l) => l['user'] === 'alice' && String(l['reason']) === 'password authentication failed for user alice').length).toBeGreaterThanOrEqual(1);
    expect(find('PERMISSION_DENIED', (l) => l['user'] === 'alice' && l['rpc'] === '/cairn.v1.DataService/Write')).toHaveLength(1);
    // The HTTP API's refused calls (no key, a bogus key), through either coordinator.
    expect(find('LOGIN_FAILED', (l) => l['rpc'] === 'GET /api/v1/clusters' && l['reason'] === 'invalid API key').length).toBeGreaterThanOrEqual(2);
    // No password, NATS's included, in any process's log.
    const logs = join(cluster.dataDir, 'logs');
    for (const f of await readdir(logs)) {
      const text = await readFile(join(logs, f), 'utf8');
      expect(text, f).not.toContain(ALICE_PASSWORD);
      expect(text, f).not.toContain(NATS_PASSWORD);
      expect(text, f).not.toContain(BOGUS_API_KEY);
    }
  });
});

describe("nodelocal:// files written by another node", () => {
  it("go straight to the storing node's HTTPS port, checked against the cluster CA, not through NATS", async () => {
    const root = await rootClient();
    // Only the us-west1 node exports; the files go to another node's extern dir.
    const writer = cluster.nodes[1]!;
    const writerId = Number(writer.readyInfo['nodeId']);
    const storing = cluster.nodes.find((n) => Number(n.readyInfo['nodeId']) !== writerId)!;
    const collection = `nodelocal://${String(storing.readyInfo['nodeId'])}/direct`;
    await root.execute(`BACKUP DATABASE bank INTO '${collection}' WITH EXECUTION LOCALITY = '${LOCALITIES[1]!.split(',')[0]!}'`);
    const uploaded = async (via: string) => {
      const text = await (await fetch(`http://${cluster.metricsAddresses.get(writer.name)!}/metrics`)).text();
      return Number(new RegExp(`^cairn_nodelocal_upload_bytes_total\\{via="${via}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    };
    expect(await uploaded('http')).toBeGreaterThan(0);
    expect(await uploaded('nats')).toBe(0);
    await root.execute(`RESTORE DATABASE bank FROM LATEST IN '${collection}' WITH new_db_name = 'bank_direct'`);
    expect(await query(root, 'SHOW FINGERPRINTS FROM TABLE bank_direct.accounts')).toEqual(await query(root, 'SHOW FINGERPRINTS FROM TABLE bank.accounts'));
  });
});
