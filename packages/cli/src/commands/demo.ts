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
        grpc: '127.0.0.1:0',
        metrics: '127.0.0.1:0',
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
        await show(client, 'SHOW FINGERPRINTS FROM TABLE bank.bank');
        await show(client, "SHOW FINGERPRINTS FROM TABLE bank.bank AS OF SYSTEM TIME '-2s'");
        if (before !== after) process.exitCode = 2;
      } finally {
        client.close();
        heading('Stopping the cluster');
        await cluster.stop();
        process.stdout.write('  stopped. The data stays in ' + o.data + '; `pnpm cairn start-local` brings it back.\n');
      }
    });
}
