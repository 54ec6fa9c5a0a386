import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { S3Client } from '@aws-sdk/client-s3';
import { tempDir } from './cleanup.js';
import { ManagedProcess } from './managed-process.js';

export interface S3ServerOptions {
  /** Buckets created before the server accepts requests. */
  buckets?: string[];
  /** Let s3rver log every request (to the captured output and its log file). */
  verbose?: boolean;
}

/** A running s3rver (S3-compatible server) in a child process. */
export interface S3ServerHandle {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  /** Where s3rver keeps the objects. */
  readonly directory: string;
  /**
   * `s3://bucket/path?AWS_ACCESS_KEY_ID=..&AWS_SECRET_ACCESS_KEY=..&AWS_ENDPOINT=..&AWS_REGION=..`,
   * the self-contained form backup destinations take.
   */
  uri(bucket: string, path?: string): string;
  /** A client set up for s3rver (path-style, checksums only when required). */
  client(): S3Client;
  /** Tail of s3rver's output. */
  logs(): string;
  /** Stops the server and destroys the clients made by `client()`. */
  stop(): Promise<void>;
}

const RUNNER = fileURLToPath(new URL('../scripts/s3rver-runner.mjs', import.meta.url));

/** Starts s3rver on a port of its own choosing, in a fresh temp dir, with `buckets` created. */
export async function startS3Server(options: S3ServerOptions = {}): Promise<S3ServerHandle> {
  const dir = await tempDir('cairn-s3');
  const directory = join(dir, 'data');
  const proc = await ManagedProcess.start({
    name: 's3rver',
    command: process.execPath,
    args: [
      RUNNER,
      JSON.stringify({ directory, buckets: options.buckets ?? [], silent: options.verbose !== true }),
    ],
    // Replace, not extend: the test runner's own NODE_OPTIONS (loaders) must not leak in.
    env: { NODE_OPTIONS: '--openssl-legacy-provider' },
    logFile: join(dir, 's3rver.log'),
    readyTimeoutMs: 20_000,
  });
  const endpoint = `http://127.0.0.1:${String(proc.readyInfo['port'])}`;
  const accessKeyId = 'S3RVER';
  const secretAccessKey = 'S3RVER';
  const region = 'us-east-1';
  const clients: S3Client[] = [];
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    region,
    directory,
    uri(bucket: string, path = ''): string {
      const query = new URLSearchParams({
        AWS_ACCESS_KEY_ID: accessKeyId,
        AWS_SECRET_ACCESS_KEY: secretAccessKey,
        AWS_ENDPOINT: endpoint,
        AWS_REGION: region,
      });
      const key = path.replace(/^\/+/, '');
      return `s3://${bucket}/${key}?${query.toString()}`;
    },
    client(): S3Client {
      // Without WHEN_REQUIRED the SDK sends streamed bodies with aws-chunked framing, which
      // s3rver stores verbatim.
      const client = new S3Client({
        endpoint,
        region,
        credentials: { accessKeyId, secretAccessKey },
        forcePathStyle: true,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      clients.push(client);
      return client;
    },
    logs: () => proc.logs(),
    async stop(): Promise<void> {
      for (const client of clients.splice(0)) client.destroy();
      await proc.stop();
    },
  };
}
