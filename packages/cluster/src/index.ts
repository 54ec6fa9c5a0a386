export { connectNats, natsAuthOptions, type NatsAuth } from './nats-connection.js';
export { ClusterState, Buckets, LOG_STREAM, LOG_SUBJECT, DEFAULT_STATE_OPTIONS, type StateOptions, type OpenStateOptions } from './state-buckets.js';
export { LeaderLease, type LeaderInfo } from './leader-lease.js';
export { allocateId, getOrCreate } from './id-allocator.js';
export { LogWriter, readLogTail, tailLog, type LogPosition, type SequencedEntry } from './write-log.js';
export { NodeRegistry, NodeDirectory, isLive, LIVENESS_THRESHOLD_MS, HEARTBEAT_INTERVAL_MS } from './node-registry.js';
export { CoordinatorRegistry, COORDINATORS_BUCKET, COORDINATOR_RECORD_TTL_MS, type CoordinatorHeartbeat } from './coordinator-registry.js';
export { parseLocality, formatLocality, localityMatches } from './locality.js';
export { nodeSubject, serveNodeMethod, callNode, type Codec } from './node-rpc.js';
export { readAllKeys } from './kv-read-all.js';
export { SPAN_CONFIGS_BUCKET, SpanConfigView, openSpanConfigs, spanConfigKey } from './span-configs.js';
export {
  WorkQueue,
  WorkClaimer,
  workError,
  WORK_STREAM,
  RESULTS_STREAM,
  WORK_BUCKET,
  type OpenJobOptions,
  type WorkContext,
  type WorkHandler,
  type WorkClaimerOptions,
} from './work-queue.js';
export { serveNodelocal, RemoteNodelocalStorage } from './nodelocal-proxy.js';
export { DirectUploadClient, DirectUploadRoute, DIRECT_UPLOAD_PATH } from './nodelocal-direct.js';
export {
  ProtectedTimestampStore,
  ProtectedTimestampCache,
  PROTECTED_TS_BUCKET,
  protectsSpan,
  describeOwner,
  type ProtectedTimestampRecord,
  type ProtectedTimestampOwner,
  type NewProtectedTimestampRecord,
  type KeySpan,
} from './protected-timestamps.js';
export {
  SettingsView,
  parseDurationMs,
  GC_TTL_SETTING,
  DEFAULT_GC_TTL_SECONDS,
  GC_INTERVAL_SETTING,
  DEFAULT_GC_INTERVAL,
} from './settings-view.js';
export { JsApiCode, jsApiCode, isJsApiError, isTransientNatsError, reasonOf } from './nats-errors.js';
export { retryNats, reportNatsRetries, natsRetryLog, DEFAULT_NATS_RETRY_BUDGET_MS, type NatsRetryOptions, type NatsRetryReporter } from './nats-retry.js';
export {
  ensureKv,
  ensureStream,
  ensureConsumer,
  resilientKv,
  setupManager,
  stateReplicas,
  checkReplicas,
  natsClusterSize,
  jetStream,
  type KvOptions,
  type SetupOptions,
} from './jetstream-setup.js';
export { followStream, type FollowOptions } from './stream-follower.js';
export { createKvEntries, type KvCreate, type KvCreatesOptions } from './kv-creates.js';
export { KvMirror, type KvMirrorOptions } from './kv-mirror.js';
export {
  INGEST_STREAM,
  LEADER_INGEST_REF_SUBJECT,
  IngestStager,
  ensureIngestStream,
  ingestSubject,
  purgeStaged,
  readStaged,
  stagedMessages,
} from './ingest-stream.js';
export { LocalStagedBatches, type LocalStagedBatchesOptions } from './local-staged-batches.js';
export { loadNodeCertificates, CA_CERT_FILE, NODE_CERT_FILE, NODE_KEY_FILE, NODE_USER, type NodeCertificates } from './node-certificates.js';
