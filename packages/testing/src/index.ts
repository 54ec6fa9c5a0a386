/**
 * @cairn/testing: the harness every cairn test uses. It starts the real things (nats-server,
 * a nats-server cluster, s3rver, cairn processes) on free ports in temp dirs, waits until they
 * answer, and stops them all when the test process exits.
 */
export { stopAll, tempDir } from './cleanup.js';
export { ProcessStartError, WaitTimeoutError } from './harness-errors.js';
export {
  startNatsCluster,
  startNatsServer,
  type NatsClusterHandle,
  type NatsClusterOptions,
  type NatsServerHandle,
  type NatsServerOptions,
} from './nats-server.js';
export { freePort } from './ports.js';
export { waitFor, type WaitForOptions } from './wait-for.js';
export { startS3Server, type S3ServerHandle, type S3ServerOptions } from './s3-server.js';
export {
  ManagedProcess,
  readyLine,
  type LogMatch,
  type ManagedProcessOptions,
  type ProcessExit,
  type ReadyCheck,
} from './managed-process.js';
export type { OutputLine, OutputStream } from './output-tail.js';
export { ProcessCluster, type NodeSpec, type ProcessClusterOptions } from './process-cluster.js';
export { cliPath, repoRoot } from './repo-paths.js';
