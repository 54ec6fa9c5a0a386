import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { CairnError, ErrorCode } from '@cairn/errors';
import { DEFAULT_CERTS_DIR } from './cert.js';

/** How a client command connects: plaintext, or TLS with a client certificate and/or a password. */
export interface ClientSecurity {
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  password?: string;
}

/** `--certs-dir` and `--insecure`, as `cockroach sql` takes them. */
export function addClientSecurityOptions(c: Command): Command {
  return c
    .addOption(new Option('--certs-dir <dir>', 'certificates directory: ca.crt, and client.<user>.crt/.key to log in without a password').default(DEFAULT_CERTS_DIR).env('CAIRN_CERTS_DIR'))
    .addOption(new Option('--insecure', 'connect without TLS (an insecure cluster)').env('CAIRN_INSECURE'));
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  return readFile(path).catch(() => undefined);
}

/**
 * Reads a password from the terminal without echoing it. Ctrl-C aborts.
 */
export function promptPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    process.stderr.write(prompt);
    let value = '';
    stdin.setRawMode(true);
    stdin.resume();
    const done = (err?: Error): void => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new CairnError(ErrorCode.Canceled, 'password prompt interrupted'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/**
 * What the flags ask for. `--insecure`: plaintext. Otherwise TLS when the certs dir holds
 * ca.crt, logging in with `client.<user>.crt` if present, else with a password from
 * CAIRN_PASSWORD or a prompt at a terminal. A default certs dir that does not exist means an
 * insecure cluster (cairn's development default); one given explicitly must hold ca.crt.
 */
export async function resolveClientSecurity(o: { certsDir: string; insecure?: boolean }, user: string, explicitCertsDir: boolean): Promise<ClientSecurity> {
  if (o.insecure) return {};
  const ca = await readOptional(join(o.certsDir, 'ca.crt'));
  if (ca === undefined) {
    if (explicitCertsDir) {
      throw new CairnError(ErrorCode.InvalidArgument, `--certs-dir ${o.certsDir} holds no ca.crt: copy the cluster's CA certificate there, or pass --insecure for an insecure cluster`);
    }
    return {};
  }
  const cert = await readOptional(join(o.certsDir, `client.${user}.crt`));
  const key = await readOptional(join(o.certsDir, `client.${user}.key`));
  if (cert !== undefined && key !== undefined) return { tls: { ca, cert, key } };
  const fromEnv = process.env['CAIRN_PASSWORD'];
  if (fromEnv !== undefined) return { tls: { ca }, password: fromEnv };
  if (process.stdin.isTTY) return { tls: { ca }, password: await promptPassword(`Enter password for ${user}: `) };
  // No certificate and no password: the server answers UNAUTHENTICATED, naming both ways in.
  return { tls: { ca } };
}

/** Whether the command line or the environment set `--certs-dir` (not its default). */
export function certsDirGiven(cmd: Command): boolean {
  const source = cmd.getOptionValueSource('certsDir');
  return source === 'cli' || source === 'env';
}
