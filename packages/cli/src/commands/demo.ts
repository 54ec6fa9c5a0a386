import type { Command } from 'commander';
import type { CairnClient } from '@cairn/client';
import { formatResult } from '../output/index.js';
import { bankTotal, initBank, runBank } from '../workload/bank.js';
import { clientFor } from './client-options.js';
import { startLocalCluster } from './start-local.js';

function heading(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

async function show(client: CairnClient, sql: string): Promise<void> {
  process.stdout.write(`> ${sql}\n`);
  const r = await client.execute(sql);
  process.stdout.write(formatResult({ columns: r.columns, rows: r.rows, tag: r.tag }, 'table') + '\n');
}

/**
 * The README's main job: a local cluster on embedded defaults, data created and changed by
 * the bank workload, and what the cluster looks like afterwards.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the end-to-end tour on a local cluster (starts and stops it)')
    .option('--data <dir>', 'data directory', './cairn-data')
    .option('--nodes <n>', 'nodes', '3')
    .option('--rows <n>', 'bank accounts', '10000')
    .option('--run <seconds>', 'seconds of bank transfers', '5')
    .action(async (o: { data: string; nodes: string; rows: string; run: string }) => {
      heading(`Starting a local cluster with ${o.nodes} nodes in ${o.data}`);
      const cluster = await startLocalCluster({
        nodes: Number(o.nodes),
        dataDir: o.data,
        listenAddr: '127.0.0.1:0',
        httpAddr: '127.0.0.1:0',
        log: (l) => process.stdout.write(`  ${l}\n`),
      });
      const client = clientFor(cluster.grpcAddress, 30_000);
      try {
        heading(`Loading the bank workload: ${o.rows} accounts`);
        const load = await initBank(client, { rows: Number(o.rows), payloadBytes: 100 });
        process.stdout.write(
          `  loaded ${load.rows} rows, ${(load.bytes / 1e6).toFixed(1)} MB in ${load.seconds.toFixed(1)} s (${(load.rows / load.seconds).toFixed(0)} rows/s)\n`,
        );
        heading(`Running bank transfers for ${o.run} s`);
        const before = await bankTotal(client);
        const run = await runBank(client, { durationMs: Number(o.run) * 1000, concurrency: 4 });
        const after = await bankTotal(client);
        process.stdout.write(`  ${run.transfers} transfers, ${run.errors} errors; total balance ${before} -> ${after}${before === after ? ' (unchanged)' : ' (CHANGED!)'}\n`);
        heading('The cluster');
        await show(client, 'SHOW NODES');
        await show(client, 'SHOW RANGES FROM TABLE bank.bank');
        await show(client, 'SELECT count(*), sum(balance) FROM bank.bank');

        heading('A backup schedule: hourly full backups, the first one now');
        const collection = 'nodelocal://1/demo-backups';
        const created = await client.execute(
          `CREATE SCHEDULE demo_backup FOR BACKUP DATABASE bank INTO '${collection}' RECURRING '@hourly' FULL BACKUP ALWAYS WITH SCHEDULE OPTIONS first_run = 'now', ignore_existing_backups`,
        );
        process.stdout.write(formatResult({ columns: created.columns, rows: created.rows, tag: created.tag }, 'table') + '\n');
        const scheduleId = created.rows[0]?.[0] ?? '';
        const job = await waitForScheduledJob(client, scheduleId);
        process.stdout.write(`  the scheduler started job ${job}; it succeeded\n`);
        await show(client, `SHOW JOBS FOR SCHEDULE ${scheduleId}`);
        await show(client, `SHOW BACKUPS IN '${collection}'`);
        await show(client, `SHOW BACKUP FROM LATEST IN '${collection}'`);

        heading('Restoring the latest backup as bank_restored');
        await client.execute('DROP DATABASE IF EXISTS bank_restored CASCADE');
        await show(client, `RESTORE DATABASE bank FROM LATEST IN '${collection}' WITH new_db_name = 'bank_restored'`);
        const backupEnd = await client.execute(`SHOW BACKUP FROM LATEST IN '${collection}'`);
        const endTime = backupEnd.rows[backupEnd.rows.length - 1]?.[backupEnd.columns.indexOf('end_time')] ?? '';
        const source = await client.execute(`SHOW FINGERPRINTS FROM DATABASE bank AS OF SYSTEM TIME '${endTime}'`);
        const restored = await client.execute('SHOW FINGERPRINTS FROM DATABASE bank_restored');
        const same = JSON.stringify(source.rows) === JSON.stringify(restored.rows);
        await show(client, `SHOW FINGERPRINTS FROM DATABASE bank AS OF SYSTEM TIME '${endTime}'`);
        await show(client, 'SHOW FINGERPRINTS FROM DATABASE bank_restored');
        process.stdout.write(`  restored data ${same ? 'matches' : 'DOES NOT MATCH'} the source at the backup's time\n`);
        await client.execute(`DROP SCHEDULE ${scheduleId}`);
        if (before !== after || !same) process.exitCode = 2;
      } finally {
        client.close();
        heading('Stopping the cluster');
        await cluster.stop();
        process.stdout.write('  stopped. The data stays in ' + o.data + '; `pnpm cairn start-local` brings it back.\n');
      }
    });
}

/** Waits for the schedule's first job to succeed; returns its id. */
async function waitForScheduledJob(client: CairnClient, scheduleId: string): Promise<string> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const r = await client.execute(`SHOW JOBS FOR SCHEDULE ${scheduleId}`);
    const status = r.columns.indexOf('status');
    const row = r.rows.find((x) => x[status] === 'succeeded' || x[status] === 'failed');
    if (row) {
      if (row[status] === 'failed') throw new Error(`scheduled backup job ${row[0]} failed: ${row[r.columns.indexOf('error')]}`);
      return row[0] ?? '';
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('the scheduled backup did not finish within 2 minutes');
}
