import type { Command } from 'commander';
import { bankTotal, initBank, runBank } from '../workload/bank.js';
import { clientFor, DEFAULT_HOST, DEFAULT_USER } from './client-options.js';
import { addClientSecurityOptions, certsDirGiven, resolveClientSecurity } from './client-security.js';

function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`invalid duration "${text}": use e.g. 30s, 5m`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
}

export function registerWorkload(program: Command): void {
  const workload = program.command('workload').description('generate data and load (like cockroach workload)');
  // Secure clusters: root's client certificate in --certs-dir (or a password), as cairn sql.
  addClientSecurityOptions(workload.command('init'))
    .argument('<name>', 'workload: bank')
    .description('create the workload schema and load its initial data')
    .option('--host <addr>', 'coordinator gRPC address', DEFAULT_HOST)
    .option('--rows <n>', 'accounts', '1000')
    .option('--payload-bytes <n>', 'payload bytes per account', '100')
    .option('--concurrency <n>', 'INSERT batches in flight', '4')
    .action(async (name: string, o: { host: string; rows: string; payloadBytes: string; concurrency: string; certsDir: string; insecure?: boolean }, cmd: Command) => {
      if (name !== 'bank') throw new Error(`unknown workload "${name}": available: bank`);
      const client = clientFor(o.host, undefined, DEFAULT_USER, await resolveClientSecurity(o, DEFAULT_USER, certsDirGiven(cmd)));
      try {
        const rows = Number(o.rows);
        let lastPrint = 0;
        const stats = await initBank(client, {
          rows,
          payloadBytes: Number(o.payloadBytes),
          concurrency: Number(o.concurrency),
          onProgress: (n) => {
            if (Date.now() - lastPrint > 1000) {
              lastPrint = Date.now();
              process.stderr.write(`loaded ${n}/${rows} rows\n`);
            }
          },
        });
        const mb = stats.bytes / 1e6;
        process.stdout.write(
          `bank: loaded ${stats.rows} rows (${mb.toFixed(1)} MB) in ${stats.seconds.toFixed(1)}s: ${(stats.rows / stats.seconds).toFixed(0)} rows/s, ${(mb / stats.seconds).toFixed(2)} MB/s\n`,
        );
      } finally {
        client.close();
      }
    });
  addClientSecurityOptions(workload.command('run'))
    .argument('<name>', 'workload: bank')
    .description('run the workload against loaded data')
    .option('--host <addr>', 'coordinator gRPC address', DEFAULT_HOST)
    .option('--duration <d>', 'how long to run', '30s')
    .option('--concurrency <n>', 'concurrent workers', '4')
    .action(async (name: string, o: { host: string; duration: string; concurrency: string; certsDir: string; insecure?: boolean }, cmd: Command) => {
      if (name !== 'bank') throw new Error(`unknown workload "${name}": available: bank`);
      const client = clientFor(o.host, 60_000, DEFAULT_USER, await resolveClientSecurity(o, DEFAULT_USER, certsDirGiven(cmd)));
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      try {
        const before = await bankTotal(client);
        let lastPrint = Date.now();
        const r = await runBank(client, {
          durationMs: parseDuration(o.duration),
          concurrency: Number(o.concurrency),
          signal: abort.signal,
          onTick: (t, e) => {
            if (Date.now() - lastPrint > 1000) {
              lastPrint = Date.now();
              process.stderr.write(`transfers ${t}, errors ${e}\n`);
            }
          },
        });
        const after = await bankTotal(client);
        process.stdout.write(
          `bank: ${r.transfers} transfers (${(r.transfers / r.seconds).toFixed(0)}/s), ${r.errors} errors; total balance ${before} -> ${after}\n`,
        );
        if (after !== before) process.exitCode = 2;
      } finally {
        client.close();
      }
    });
}
