import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, it } from 'vitest';
import { CairnClient } from '@cairn/client';
import { initBank } from '@cairn/cli';
import { ProcessCluster, startNatsServer, startS3Server, tempDir, type NatsServerHandle, type S3ServerHandle } from '@cairn/testing';

let nats: NatsServerHandle; let s3: S3ServerHandle; let cluster: ProcessCluster; let client: CairnClient;
beforeAll(async () => {
  const t0 = Date.now();
  nats = await startNatsServer();
  s3 = await startS3Server({ buckets: ['east', 'west', 'eu'] });
  cluster = await ProcessCluster.start({ nats: nats.url, coordinators: 2, nodes: [
    { locality: 'region=us-east1,zone=us-east1-b' }, { locality: 'region=us-west1,zone=us-west1-a' }, { locality: 'region=eu-west1,zone=eu-west1-c' }] });
  client = new CairnClient({ addresses: cluster.grpcAddresses(), retryForMs: 30_000 });
  console.log('started in', Date.now() - t0);
});
afterAll(async () => { client?.close(); await cluster?.stop(); await s3?.stop(); await nats?.stop(); });

it('explore', async () => {
  let t = Date.now();
  await client.execute(`SET CLUSTER SETTING kv.range.max_bytes = '1MiB'`);
  const load = await initBank(client, { rows: 20000, payloadBytes: 1000 });
  console.log('load', load, Date.now() - t);
  for (let i = 0; i < 8; i++) {
    const r = await client.execute('SHOW RANGES FROM TABLE bank.bank');
    console.log('ranges', i, r.rows.length, r.columns.join(','));
    await sleep(5000);
  }
  const dir = await tempDir('bk');
  t = Date.now();
  const job = await client.execute(`BACKUP DATABASE bank INTO 'file://${dir}' WITH detached`);
  const id = job.rows[0]![0]!;
  let maxTmp = 0;
  for (;;) {
    const names = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
    const tmp = names.filter((n) => n.includes('.cairn-tmp-')).length;
    maxTmp = Math.max(maxTmp, tmp);
    const j = await client.execute(`SHOW JOB ${id}`);
    const st = j.rows[0]![5];
    if (st === 'succeeded' || st === 'failed') { console.log('job', st, j.rows[0], Date.now() - t); break; }
    await sleep(20);
  }
  console.log('maxTmp', maxTmp);
  const sb = await client.execute(`SHOW BACKUP FROM LATEST IN 'file://${dir}'`);
  console.log(sb.columns, sb.rows);
  console.log((await readdir(dir, { recursive: true })).slice(0, 20));
  t = Date.now();
  const r = await client.execute(`RESTORE DATABASE bank FROM LATEST IN 'file://${dir}' WITH new_db_name = 'r1'`);
  console.log('restore', r.columns, r.rows, Date.now() - t);
  console.log((await client.execute('SHOW FINGERPRINTS FROM DATABASE r1')).rows, (await client.execute('SHOW FINGERPRINTS FROM DATABASE bank')).rows);
  console.log((await client.execute('SHOW JOBS')).rows);
});
