#!/usr/bin/env node
import { Command } from 'commander';
import { formatError } from './output/index.js';
import { registerStartCommands } from './commands/start.js';
import { registerStartLocal } from './commands/start-local.js';
import { registerSql } from './commands/sql.js';
import { registerWorkload } from './commands/workload.js';
import { registerDemo } from './commands/demo.js';
import { registerCertCommands } from './commands/cert.js';
import { registerJobCommands } from './commands/job.js';
import { registerScheduleCommands } from './commands/schedule.js';
import { registerApiKeyCommands } from './commands/api-key.js';

// grpc-js gives TLS the host of --host as the server name, an IP address for 127.0.0.1:26257,
// which Node deprecates (DEP0123) on every connection; the certificate is still checked against
// that IP. Only that warning is hidden: every other one prints as usual.
const printWarning = process.listeners('warning')[0];
process.removeAllListeners('warning');
process.on('warning', (w: Error & { code?: string }) => {
  if (w.code !== 'DEP0123') printWarning?.(w);
});

const program = new Command('cairn')
  .description('cairn: a distributed backup job cluster speaking CockroachDB BACKUP/RESTORE')
  .version('0.1.0')
  .showHelpAfterError()
  .configureOutput({ outputError: (str, write) => write(str) });

registerStartCommands(program);
registerStartLocal(program);
registerSql(program);
registerWorkload(program);
registerDemo(program);
registerCertCommands(program);
registerJobCommands(program);
registerScheduleCommands(program);
registerApiKeyCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(formatError(err) + '\n');
  process.exit(1);
});
