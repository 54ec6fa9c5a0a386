import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { tempDir } from './cleanup.js';
import { ManagedProcess } from './managed-process.js';

/** Azurite's well-known development account (public, the same in every Azurite). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** A running Azurite blob service (Microsoft's Azure Storage emulator) in a child process. */
export interface AzuriteHandle {
  /** `http://127.0.0.1:PORT/devstoreaccount1`, the blob service URL. */
  readonly endpoint: string;
  readonly accountName: string;
  readonly accountKey: string;
  /** `azure://container/path?AZURE_ACCOUNT_NAME=..&AZURE_ACCOUNT_KEY=..&AZURE_ENDPOINT=..`. */
  uri(container: string, path?: string, overrides?: { accountKey?: string }): string;
  /** A client for checking what reached the emulator. */
  client(): BlobServiceClient;
  logs(): string;
  stop(): Promise<void>;
}

/** Starts Azurite's blob service on a free port in a fresh temp dir, with `containers` created. */
export async function startAzurite(options: { containers?: string[] } = {}): Promise<AzuriteHandle> {
  const dir = await tempDir('cairn-azurite');
  const require = createRequire(import.meta.url);
  const bin = join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
  const proc = await ManagedProcess.start({
    name: 'azurite',
    command: process.execPath,
    // Without --skipApiVersionCheck Azurite refuses the SDK's newer API version.
    args: [bin, '--blobHost', '127.0.0.1', '--blobPort', '0', '--location', dir, '--skipApiVersionCheck', '--disableTelemetry'],
    env: { NODE_OPTIONS: undefined },
    logFile: join(dir, 'azurite.log'),
    readyTimeoutMs: 30_000,
    ready: async (p) => {
      const line = await p.waitForLog('successfully listens on', 30_000);
      const port = /:(\d+)\s*$/.exec(line.text.trim())?.[1];
      if (port === undefined) throw new Error(`cannot read Azurite's port from ${JSON.stringify(line.text)}`);
      return { port: Number(port) };
    },
  });
  const endpoint = `http://127.0.0.1:${String(proc.readyInfo['port'])}/${AZURITE_ACCOUNT}`;
  const client = (): BlobServiceClient =>
    new BlobServiceClient(endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY));
  for (const c of options.containers ?? []) await client().getContainerClient(c).createIfNotExists();
  return {
    endpoint,
    accountName: AZURITE_ACCOUNT,
    accountKey: AZURITE_KEY,
    uri(container, path = '', overrides = {}) {
      const q = new URLSearchParams({
        AZURE_ACCOUNT_NAME: AZURITE_ACCOUNT,
        AZURE_ACCOUNT_KEY: overrides.accountKey ?? AZURITE_KEY,
        AZURE_ENDPOINT: endpoint,
      });
      return `azure://${container}/${path.replace(/^\/+/, '')}?${q.toString()}`;
    },
    client,
    logs: () => proc.logs(),
    stop: () => proc.stop(),
  };
}
