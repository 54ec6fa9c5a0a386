/**
 * @cairn/testing: the harness every cairn test uses. It starts the real things (nats-server,
 * a nats-server cluster, s3rver, Azurite, cairn processes) and, where no emulator installs
 * here, small stand-ins that speak the real wire protocol (GCS, AWS STS and KMS) on free ports in temp dirs, waits until they
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
  type NatsReadyAuth,
  type NatsServerOptions,
} from './nats-server.js';
export { CAIRN_NATS_PERMISSIONS, createNatsOperator, type NatsOperator, type NatsOperatorAccount, type NatsUserPermissions } from './nats-operator.js';
export { publishOutcome } from './nats-permissions.js';
export { cairnRejection } from './rejection.js';
export { freePort } from './ports.js';
export { seededRandom } from './seeded-random.js';
export { waitFor, type WaitForOptions } from './wait-for.js';
export { startS3Server, type S3ServerHandle, type S3ServerOptions } from './s3-server.js';
export { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type AzuriteHandle } from './azurite.js';
export { startGcsStandIn, type GcsStandIn } from './gcs-stand-in.js';
export { startKmsStandIn, type KmsStandIn } from './kms-stand-in.js';
export { startStsStandIn, type AssumeRoleCall, type AwsKeys, type StsStandIn } from './sts-stand-in.js';
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
