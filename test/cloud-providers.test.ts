/**
 * Storage providers end to end, with real processes: a 3-node cluster in three regions backs
 * up the bank database to
 *
 * - `gs://` against the GCS stand-in (packages/testing: the JSON API to the real
 *   `@google-cloud/storage` client), with CREDENTIALS in the URI and with AUTH=implicit
 *   (GOOGLE_APPLICATION_CREDENTIALS in every process's environment);
 * - `azure://` and `azure-blob://` against Azurite (Microsoft's emulator);
 * - `s3://` against s3rver, through a chain of two roles assumed at the STS stand-in
 *   (AWS_ENDPOINT_URL_STS in every process's environment), and with AWS_SESSION_TOKEN;
 * - a locality-aware destination whose parts sit on three providers;
 *
 * and each time SHOW BACKUP lists the tables and RESTORE ... WITH new_db_name gives the same
 * fingerprints as the source. Bad credentials fail the backup with an error naming the
 * provider, and no secret shows in the error or in SHOW JOBS.
 *
 * CHECK EXTERNAL CONNECTION and SHOW BACKUP CONNECTION probe from each node: the third node's
 * own AWS credentials (AUTH=implicit takes them from its environment) are wrong, and only its
 * row says so.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { initBank } from '@cairn/cli';
import {
  ProcessCluster,
  startAzurite,
  startGcsStandIn,
  startNatsServer,
  startS3Server,
  startStsStandIn,
  tempDir,
  waitFor,
  type AzuriteHandle,
  type GcsStandIn,
  type NatsServerHandle,
  type S3ServerHandle,
  type StsStandIn,
} from '@cairn/testing';
import { col, databaseFingerprints, failure, localityAwareUris, query, queryOne, rangeCount, sqlUriList, writerNodeId } from './support/backup.js';
import { listKeys } from './support/s3-objects.js';
import { nodeIdOf } from './support/cluster.js';

const ROWS = 1_000;
const REGIONS = [
  { locality: 'region=us-east1,zone=us-east1-b', tier: 'region=us-east1' },
  { locality: 'region=us-west1,zone=us-west1-a', tier: 'region=us-west1' },
  { locality: 'region=eu-west1,zone=eu-west1-c', tier: 'region=eu-west1' },
] as const;
const HOP_ROLE = 'arn:aws:iam::111111111111:role/cairn-hop';
const BACKUP_ROLE = 'arn:aws:iam::222222222222:role/cairn-backup';
/** The base keys STS trusts; s3rver does not know them, so S3 works only through the roles. */
const BASE_KEY_ID = 'AKIACAIRNBASE';
const BASE_SECRET = 'cairn-e2e-base-Secret-51f2';

let nats: NatsServerHandle;
let s3: S3ServerHandle;
let azurite: AzuriteHandle;
let gcs: GcsStandIn;
let sts: StsStandIn;
let cluster: ProcessCluster;
let client: CairnClient;
let source: Array<[string, string]>;

function gsUri(path: string, params: Record<string, string> = {}): string {
  const q = new URLSearchParams({
    AUTH: 'specified',
    CREDENTIALS: Buffer.from(gcs.credentials()).toString('base64'),
    ...params,
    GCS_ENDPOINT: gcs.endpoint,
  });
  if (params['AUTH'] === 'implicit') q.delete('CREDENTIALS');
  return `gs://backups/${path}?${q.toString()}`;
}

function assumeRoleUri(path: string): string {
  const q = new URLSearchParams({
    AWS_ACCESS_KEY_ID: BASE_KEY_ID,
    AWS_SECRET_ACCESS_KEY: BASE_SECRET,
    ASSUME_ROLE: `${HOP_ROLE},${BACKUP_ROLE}`,
    AWS_ENDPOINT: s3.endpoint,
    AWS_REGION: s3.region,
  });
  return `s3://backups/${path}?${q.toString()}`;
}

/** BACKUP → SHOW BACKUP → RESTORE (new name) → fingerprints equal to the source's. */
async function roundTrip(dest: string, restoredName: string): Promise<void> {
  const b = await queryOne(client, `BACKUP DATABASE bank INTO ${dest}`);
  expect(col(b, 'status')).toBe('succeeded');
  expect(Number(col(b, 'rows'))).toBe(ROWS);
  const shown = await query(client, `SHOW BACKUP FROM LATEST IN ${dest}`);
  const bankRow = shown.find((r) => r['object_name'] === 'bank' && r['object_type'] === 'table');
  expect(bankRow?.['rows']).toBe(String(ROWS));
  const r = await queryOne(client, `RESTORE DATABASE bank FROM LATEST IN ${dest} WITH new_db_name = '${restoredName}'`);
  expect(col(r, 'status')).toBe('succeeded');
  expect(await databaseFingerprints(client, restoredName)).toEqual(source);
}

beforeAll(async () => {
  [nats, s3, azurite, gcs] = await Promise.all([
    startNatsServer(),
    startS3Server({ buckets: ['backups'] }),
    startAzurite({ containers: ['backups'] }),
    startGcsStandIn({ buckets: ['backups'] }),
  ]);
  sts = await startStsStandIn({
    baseKeys: [{ accessKeyId: BASE_KEY_ID, secretAccessKey: BASE_SECRET }],
    roles: { [HOP_ROLE]: 'random', [BACKUP_ROLE]: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } },
  });
  const adc = join(await tempDir('cairn-gcs-adc'), 'application_default_credentials.json');
  await writeFile(adc, gcs.credentials());
  cluster = await ProcessCluster.start({
    nats: nats.url,
    coordinators: 1,
    // AUTH=implicit S3 credentials per node: the third node's key ID is one s3rver does not know.
    nodes: REGIONS.map((r, i) => ({
      locality: r.locality,
      env: { AWS_ACCESS_KEY_ID: i === 2 ? 'AKIANOTKNOWN' : s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey },
    })),
    // What a deployment gives its processes: the SDKs' standard settings.
    env: { AWS_ENDPOINT_URL_STS: sts.endpoint, GOOGLE_APPLICATION_CREDENTIALS: adc },
  });
  client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 30_000 });
  await client.execute(`SET CLUSTER SETTING kv.range.max_bytes = '16KiB'`);
  await initBank(client, { rows: ROWS, payloadBytes: 200 });
  // Several ranges, so that every node gets export work in the locality-aware backup.
  await waitFor(async () => ((await rangeCount(client, ['bank.bank'])) >= 8 ? true : undefined), {
    what: 'bank.bank split into at least 8 ranges',
    timeoutMs: 60_000,
    intervalMs: 1_000,
  });
  source = await databaseFingerprints(client, 'bank');
}, 120_000);

afterAll(async () => {
  client?.close();
  await cluster?.stop();
  await Promise.all([s3?.stop(), azurite?.stop(), gcs?.stop(), sts?.stop()]);
  await nats?.stop();
});

describe('storage providers on a 3-node cluster', () => {
  it('gs:// with CREDENTIALS: backup, show, restore', async () => {
    await roundTrip(`'${gsUri('specified')}'`, 'bank_gs');
    expect(gcs.objectNames('backups').some((n) => /^specified\/.*\/data\/.*\.sst$/.test(n))).toBe(true);
  });

  it('gs:// with AUTH=implicit (application default credentials on every process)', async () => {
    await roundTrip(`'${gsUri('implicit', { AUTH: 'implicit' })}'`, 'bank_gs_implicit');
  });

  it('azure:// and azure-blob:// against Azurite', async () => {
    await roundTrip(`'${azurite.uri('backups', 'az')}'`, 'bank_azure');
    await roundTrip(`'${azurite.uri('backups', 'az-blob').replace(/^azure:/, 'azure-blob:')}'`, 'bank_azure_blob');
  });

  it('s3:// through two chained roles (STS stand-in), and with a session token', async () => {
    const before = sts.calls.length;
    await roundTrip(`'${assumeRoleUri('assumed')}'`, 'bank_s3_role');
    const calls = sts.calls.slice(before);
    expect(new Set(calls.map((c) => c.roleArn))).toEqual(new Set([HOP_ROLE, BACKUP_ROLE]));
    // Every process that touched the bucket assumed the chain from the base keys.
    expect(calls.filter((c) => c.roleArn === HOP_ROLE).every((c) => c.callerKeyId === BASE_KEY_ID)).toBe(true);
    expect(calls.filter((c) => c.roleArn === BACKUP_ROLE).every((c) => c.callerSessionToken !== undefined)).toBe(true);
    const withToken = `${s3.uri('backups', 'token')}&AWS_SESSION_TOKEN=FwoGcairnE2eToken`;
    await roundTrip(`'${withToken}'`, 'bank_s3_token');
  });

  it('a locality-aware destination spread over s3, gs and azure', async () => {
    const uris = localityAwareUris(s3.uri('backups', 'mixed'), [
      { tier: REGIONS[1].tier, uri: gsUri('mixed') },
      { tier: REGIONS[2].tier, uri: azurite.uri('backups', 'mixed') },
    ]);
    await roundTrip(sqlUriList(uris), 'bank_mixed');
    // Each node wrote its data files to its own region's provider, and every provider got some.
    const ids = cluster.nodes.map(nodeIdOf);
    const azureNames: string[] = [];
    for await (const b of azurite.client().getContainerClient('backups').listBlobsFlat({ prefix: 'mixed/' })) azureNames.push(b.name);
    const byProvider = [
      (await listKeys(s3, 'backups', 'mixed/')).filter((k) => k.endsWith('.sst')),
      gcs.objectNames('backups').filter((k) => k.startsWith('mixed/') && k.endsWith('.sst')),
      azureNames.filter((k) => k.endsWith('.sst')),
    ];
    byProvider.forEach((files, region) => {
      expect(files.length, `data files of ${REGIONS[region]!.tier}`).toBeGreaterThan(0);
      expect(new Set(files.map(writerNodeId))).toEqual(new Set([ids[region]]));
    });
  });

  it('bad credentials fail the backup with an error naming the provider, and no secret shows', async () => {
    const wrongKey = Buffer.from('cairn-e2e-wrong-azure-account-key-0123456789abcdef0123456789abcd').toString('base64');
    const azErr = await failure(client, `BACKUP DATABASE bank INTO '${azurite.uri('backups', 'bad', { accountKey: wrongKey })}'`);
    expect(azErr.message).toMatch(/azure: access denied/);
    expect(azErr.message).not.toContain(wrongKey);
    const creds = Buffer.from(gcs.unknownCredentials()).toString('base64');
    const gsErr = await failure(client, `BACKUP DATABASE bank INTO '${gsUri('bad', { CREDENTIALS: creds })}'`);
    expect(gsErr.message).toMatch(/gs: access denied/);
    expect(gsErr.message).not.toContain(creds.slice(0, 40));
    const jobs = JSON.stringify(await query(client, 'SHOW JOBS'));
    for (const secret of [wrongKey, azurite.accountKey, creds.slice(0, 40), BASE_SECRET]) expect(jobs).not.toContain(secret);
  });

  it('CHECK EXTERNAL CONNECTION probes from every node and names the one whose credentials are wrong', async () => {
    const uri = `s3://backups/check?AUTH=implicit&AWS_ENDPOINT=${encodeURIComponent(s3.endpoint)}&AWS_REGION=${s3.region}`;
    const rows = await query(client, `CHECK EXTERNAL CONNECTION '${uri}'`);
    const ids = cluster.nodes.map(nodeIdOf);
    expect(rows.map((r) => r['node'])).toEqual(ids.map(String));
    expect(rows.map((r) => r['locality'])).toEqual(REGIONS.map((r) => r.locality));
    for (const r of rows.slice(0, 2)) {
      expect(r).toMatchObject({ ok: 'true', error: null, transferred: String(1024 * 1024), can_delete: 'true' });
      expect(r['read_speed']).toMatch(/MiB\/s$/);
      expect(r['write_speed']).toMatch(/MiB\/s$/);
    }
    expect(rows[2]).toMatchObject({ ok: 'false', transferred: '0', read_speed: null, write_speed: null });
    expect(rows[2]?.['error']).toMatch(/access denied to s3:\/\/backups\/check/);
    // The probe files were deleted again.
    expect(await listKeys(s3, 'backups', 'check/')).toEqual([]);
  });

  it('SHOW BACKUP CONNECTION with TRANSFER and EXECUTION LOCALITY probes only the matching nodes', async () => {
    const rows = await query(client, `SHOW BACKUP CONNECTION '${gsUri('check')}' WITH TRANSFER = '256KiB', EXECUTION LOCALITY = '${REGIONS[1].tier}'`);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ node: String(nodeIdOf(cluster.nodes[1]!)), ok: 'true', transferred: String(256 * 1024), can_delete: 'true' });
    const none = await failure(client, `CHECK EXTERNAL CONNECTION '${gsUri('check')}' WITH EXECUTION LOCALITY = 'region=mars'`);
    expect(none.message).toMatch(/no instances found matching locality filter region=mars/);
  });
});
