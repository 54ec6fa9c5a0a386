import type { Command } from 'commander';
import type { ApiKey } from '@cairn/client';
import { formatResult, outputFormats } from '../output/index.js';
import { DEFAULT_HOST, DEFAULT_USER } from './client-options.js';
import { addClientSecurityOptions } from './client-security.js';
import { withClient, type CommonOptions } from './schedule.js';

const ROLES = ['CLUSTER_ADMIN', 'CLUSTER_OPERATOR_WRITER', 'CLUSTER_VIEWER'];

function print(keys: ApiKey[], format: CommonOptions['format']): void {
  const rows = keys.map((k) => [k.id, k.name, k.role, new Date(Number(k.createdAtMs)).toISOString(), k.createdBy]);
  const text = formatResult({ columns: ['id', 'name', 'role', 'created', 'created_by'], rows }, format);
  if (text) process.stdout.write(text + '\n');
}

/**
 * `cairn api-key create|list|delete`: keys for the coordinators' HTTP API (managed backups),
 * over ApiKeyService (admin only). `create` prints the key, which is stored only as a hash.
 */
export function registerApiKeyCommands(program: Command): void {
  const apiKey = program.command('api-key').description('API keys for the HTTP API (managed backups, console)');
  const common = (c: Command) =>
    addClientSecurityOptions(c)
      .option('--host <addr>', 'coordinator gRPC address(es), comma-separated', DEFAULT_HOST)
      .option('-u, --user <name>', 'SQL user the call runs as (needs the admin role)', DEFAULT_USER)
      .option('--format <fmt>', `output format (${outputFormats.join('|')})`, 'table');

  common(apiKey.command('create').description('create a key and print it (shown once)'))
    .requiredOption('--name <name>', 'a name for the key')
    .requiredOption('--role <role>', `the key's role (${ROLES.join('|')})`)
    .action(async (o: CommonOptions & { name: string; role: string }) => {
      await withClient(o, async (c) => {
        const created = await c.createApiKey(o.name, o.role);
        process.stdout.write(`${created.secret}\n`);
        process.stderr.write(`API key "${created.key?.name ?? o.name}" (${created.key?.role ?? o.role}) created; store it now, it cannot be shown again\n`);
      });
    });
  common(apiKey.command('list').description('the keys (never their secrets)')).action(async (o: CommonOptions) => {
    await withClient(o, async (c) => print(await c.listApiKeys(), o.format));
  });
  common(apiKey.command('delete <name_or_id>').description('delete a key; it stops working at once')).action(async (key: string, o: CommonOptions) => {
    await withClient(o, async (c) => {
      await c.deleteApiKey(key);
      process.stdout.write('DELETE API KEY 1\n');
    });
  });
}
