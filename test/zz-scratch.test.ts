import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { initBank } from '@cairn/cli';
import { ProcessCluster, startNatsServer, startS3Server, type NatsServerHandle, type S3ServerHandle } from '@cairn/testing';

let nats: NatsServerHandle; let s3: S3ServerHandle; let cluster: ProcessCluster; let client: CairnClient;
beforeAll(async () => {
  nats = await startNatsServer();
  s3 = await startS3Server({ buckets: ['east', 'west', 'eu', 'seeds'] });
  cluster = await ProcessCluster.start({ nats: nats.url, coordinators: 1, nodes: [
    { locality: 'region=us-east1,zone=us-east1-b' }, { locality: 'region=us-west1,zone=us-west1-a' }, { locality: 'region=eu-west1,zone=eu-west1-c' }] });
  client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 30_000 });
});
afterAll(async () => { client?.close(); await cluster?.stop(); await s3?.stop(); await nats?.stop(); });

async function run(sql: string) {
  try { const r = await client.execute(sql); console.log('OK', sql.slice(0, 120), '\n  ', JSON.stringify(r.columns), JSON.stringify(r.rows).slice(0, 1500)); return r; }
  catch (e: any) { console.log('ERR', sql.slice(0, 120), '\n  ', e.code, e.message); return undefined; }
}
async function list(bucket: string) {
  const res = await fetch(`${s3.endpoint}/${bucket}?list-type=2`);
  const text = await res.text();
  return [...text.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]);
}

it('explore', async () => {
  await run(`SET CLUSTER SETTING kv.range.max_bytes = '64KiB'`);
  await initBank(client, { rows: 3000, payloadBytes: 1000 });
  await sleep(21000);
  await run('SHOW RANGES FROM TABLE bank.bank');
  const uris = [`${s3.uri('east', 'pitr')}&COCKROACH_LOCALITY=default`, `${s3.uri('west', 'pitr')}&COCKROACH_LOCALITY=region%3Dus-west1`, `${s3.uri('eu', 'pitr')}&COCKROACH_LOCALITY=region%3Deu-west1`];
  const list3 = `(${uris.map((u) => `'${u}'`).join(', ')})`;
  await run(`BACKUP DATABASE bank INTO ${list3} WITH revision_history`);
  for (const b of ['east', 'west', 'eu']) console.log(b, await list(b));
  await run(`BACKUP DATABASE bank INTO LATEST IN ${list3} WITH revision_history`);
  await run(`SHOW BACKUP FROM LATEST IN ${list3}`);
  await run(`SHOW BACKUP FROM LATEST IN ${list3} WITH check_files`);
  await run(`SHOW BACKUPS IN ${list3}`);
  await run(`SHOW BACKUPS IN '${uris[0]}'`);
  await run(`SHOW BACKUP FROM LATEST IN '${s3.uri('east', 'pitr')}'`);
  await run(`RESTORE DATABASE bank FROM LATEST IN '${s3.uri('east', 'pitr')}' WITH new_db_name = 'x1'`);
  await run(`RESTORE DATABASE bank FROM LATEST IN ${list3} WITH new_db_name = 'x2'`);
  const ex = [`${s3.uri('east', 'ex')}&COCKROACH_LOCALITY=default`, `${s3.uri('west', 'ex')}&COCKROACH_LOCALITY=region%3Dus-west1`, `${s3.uri('eu', 'ex')}&COCKROACH_LOCALITY=region%3Deu-west1`];
  const exl = `(${ex.map((u) => `'${u}'`).join(', ')})`;
  await run(`BACKUP DATABASE bank INTO ${exl} WITH EXECUTION LOCALITY = 'region=us-west1'`);
  for (const b of ['east', 'west', 'eu']) console.log(b, (await list(b)).filter((k) => k!.startsWith('ex')));
  await run(`BACKUP DATABASE bank INTO ${exl} WITH EXECUTION LOCALITY = 'region=mars'`);
  await run(`BACKUP DATABASE bank INTO ${exl} WITH EXECUTION LOCALITY = 'region=us-west1,zone=us-east1-b'`);
  const bad = [`${s3.uri('east', 'bad')}&COCKROACH_LOCALITY=default`, `${s3.uri('west', 'bad').replace('AWS_SECRET_ACCESS_KEY=S3RVER', 'AWS_SECRET_ACCESS_KEY=Sup3rSecretXyz')}&COCKROACH_LOCALITY=region%3Dus-west1`];
  await run(`BACKUP DATABASE bank INTO (${bad.map((u) => `'${u}'`).join(', ')})`);
  await run(`BACKUP DATABASE bank INTO '${s3.uri('east', 'bad2').replace('AWS_SECRET_ACCESS_KEY=S3RVER', 'AWS_SECRET_ACCESS_KEY=Sup3rSecretXyz')}'`);
  await run(`BACKUP DATABASE bank INTO '${s3.uri('nosuchbucket', 'bad3')}'`);
  await run(`SHOW JOBS`);
  await run(`CREATE EXTERNAL CONNECTION backup_s3 AS '${s3.uri('seeds', 'coll')}'`);
  await run(`SHOW EXTERNAL CONNECTIONS`);
  await run(`CREATE TABLE bank.customers (id INT PRIMARY KEY, name STRING)`);
  await run(`CREATE TABLE bank.accounts (id INT PRIMARY KEY, customer_id INT REFERENCES bank.customers (id), balance INT)`);
  await run(`INSERT INTO bank.customers (id, name) VALUES (1, 'a'), (2, 'b')`);
  await run(`INSERT INTO bank.accounts (id, customer_id, balance) VALUES (1, 1, 10), (2, 2, 20)`);
  await run(`BACKUP bank.customers, bank.accounts INTO 'external://backup_s3'`);
  await run(`DROP TABLE bank.accounts`);
  await run(`RESTORE bank.accounts FROM LATEST IN 'external://backup_s3'`);
  await run(`RESTORE bank.accounts FROM LATEST IN 'external://backup_s3' WITH skip_missing_foreign_keys`);
  await run(`SHOW CREATE TABLE bank.accounts`);
  await run(`RESTORE DATABASE bank FROM LATEST IN 'external://backup_s3' WITH schema_only`);
  for (const s of [`BACKUP TO 's3://x/y'`, `RESTORE TABLE bank.customers FROM 'external://backup_s3'`, `RESTORE FROM 'external://backup_s3'`,
    `CREATE SCHEDULE daily_backup FOR BACKUP INTO 'external://backup_s3' RECURRING '@daily' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = 'now'`,
    `SHOW SCHEDULES`, `PAUSE SCHEDULE 123456`, `GRANT SYSTEM RESTORE TO user`, `GRANT RESTORE ON DATABASE bank TO user`,
    `BACKUP DATABASE bank TO 'gs://acme-co-backup/db/bank/2017-03-29-nightly' AS OF SYSTEM TIME '-10s' INCREMENTAL FROM 'gs://acme-co-backup/database-bank-2017-03-27-weekly', 'gs://acme-co-backup/database-bank-2017-03-28-nightly' WITH revision_history`,
    `RESTORE DATABASE bank FROM LATEST IN 'external://backup_s3' AS OF SYSTEM TIME '2024-03-01 10:00:00'`,
    `SHOW JOBS SELECT * FROM [SHOW JOBS] WHERE job_type = 'BACKUP'`, `SHOW JOB 123456789`, `PAUSE JOB 123456789`]) await run(s);
});
