// Runs s3rver in its own process for @cairn/testing. s3rver must run with
// NODE_OPTIONS=--openssl-legacy-provider (its paginated listing hashes with MD4), which a test
// process cannot switch on for itself. Usage: node s3rver-runner.mjs '<json options>'.
// Prints {"event":"ready","port":N} on stdout once listening.
import S3rver from 's3rver';

const options = JSON.parse(process.argv[2] ?? '{}');
const server = new S3rver({
  address: '127.0.0.1',
  port: options.port ?? 0,
  directory: options.directory,
  silent: options.silent ?? true,
  configureBuckets: (options.buckets ?? []).map((name) => ({ name, configs: [] })),
});

const address = await server.run();
process.stdout.write(`${JSON.stringify({ event: 'ready', role: 's3rver', port: address.port })}\n`);

// Objects live in plain files, so there is nothing to flush: exit at once.
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
