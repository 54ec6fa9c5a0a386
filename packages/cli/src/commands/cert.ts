import { homedir } from 'node:os';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { formatResult } from '../output/index.js';
import { createCa, createClientCert, createNodeCert, listCertificates, type WriteOptions } from '../certs/certificate-authority.js';

/** `cockroach`'s default certificates directory, cairn's spelling. */
export const DEFAULT_CERTS_DIR = join(homedir(), '.cairn-certs');

interface CertFlags {
  certsDir: string;
  caKey?: string;
  overwrite?: boolean;
  lifetime?: string;
}

function certsDirOption(): Option {
  return new Option('--certs-dir <dir>', 'certificates directory').default(DEFAULT_CERTS_DIR).env('CAIRN_CERTS_DIR');
}

function writeOptions(o: CertFlags): WriteOptions {
  if (!o.caKey) throw new Error('--ca-key <file> is required: the CA key, kept outside the certs dir');
  const days = o.lifetime === undefined ? undefined : Number(o.lifetime.replace(/d$/, ''));
  if (days !== undefined && !(Number.isInteger(days) && days > 0)) throw new Error(`invalid --lifetime "${o.lifetime}": expected days, e.g. 365d`);
  return { certsDir: o.certsDir, caKey: o.caKey, ...(o.overwrite ? { overwrite: true } : {}), ...(days ? { lifetimeDays: days } : {}) };
}

export function registerCertCommands(program: Command): void {
  const cert = program.command('cert').description('create and list certificates (CockroachDB file names: ca.crt, node.crt/.key, client.<user>.crt/.key)');
  const common = (c: Command) =>
    c
      .addOption(certsDirOption())
      .addOption(new Option('--ca-key <file>', 'the CA private key (keep it outside the certs dir)').env('CAIRN_CA_KEY'))
      .option('--overwrite', 'replace existing files')
      .option('--lifetime <days>', 'validity in days, e.g. 365d (default: CA 10 years, others 5 years)');

  common(cert.command('create-ca').description('create a self-signed CA: <certs-dir>/ca.crt and --ca-key')).action(async (o: CertFlags) => {
    await createCa(writeOptions(o));
  });
  common(cert.command('create-node <hosts...>').description('create node.crt/node.key for the host names and IP addresses a process is reached at')).action(
    async (hosts: string[], o: CertFlags) => {
      await createNodeCert(writeOptions(o), hosts);
    },
  );
  common(cert.command('create-client <user>').description('create client.<user>.crt/.key: logs in as <user>')).action(async (user: string, o: CertFlags) => {
    await createClientCert(writeOptions(o), user);
  });
  cert
    .command('list')
    .description('list the certificates of the certs dir')
    .addOption(certsDirOption())
    .action(async (o: CertFlags) => {
      const rows = await listCertificates(o.certsDir);
      const text = formatResult(
        { columns: ['Usage', 'Certificate File', 'Key File', 'Expires', 'Notes'], rows: rows.map((r) => [r.usage, r.certificateFile, r.keyFile, r.expires, r.notes]), tag: '' },
        'table',
      );
      process.stdout.write(`Certificate directory: ${o.certsDir}\n${text}\n`);
    });
}
