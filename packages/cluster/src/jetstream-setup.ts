import type { ConsumerConfig, ConsumerInfo, JetStreamClient, JetStreamManager, KV, NatsConnection, StreamConfig, StreamInfo } from 'nats';
import { DiscardPolicy, RetentionPolicy, StorageType } from 'nats';
import { CairnError, ErrorCode } from '@cairn/errors';
import { JsApiCode, isJsApiError, isTransientNatsError, jsApiCode, reasonOf } from './nats-errors.js';
import { retryNats } from './nats-retry.js';

/**
 * The one place cairn creates JetStream assets (streams, KV buckets, durable consumers).
 *
 * Every process creates what it needs when it starts, so on a fresh NATS cluster several
 * processes create the same asset at once while JetStream is still electing leaders. Each
 * helper therefore looks the asset up first, creates it only when the server says "not found"
 * (by API error code), treats "already exists" from a concurrent creator as success, and
 * retries transient failures (timeouts, no responders, cluster unavailable) with backoff.
 * Every other error is raised as one clear CairnError.
 */

/** API requests of asset setup time out sooner than data requests: a fresh cluster drops the first ones. */
const SETUP_REQUEST_TIMEOUT_MS = 3000;
export const DEFAULT_SETUP_BUDGET_MS = 60_000;

export interface SetupOptions {
  /** How long to keep retrying while NATS forms or elects leaders (default 60 s). */
  budgetMs?: number;
}

/** A JetStreamManager whose API requests give up after a few seconds, for setup retries. */
export async function setupManager(nc: NatsConnection): Promise<JetStreamManager> {
  return retryNats(() => nc.jetstreamManager({ timeout: SETUP_REQUEST_TIMEOUT_MS, checkAPI: false }), {
    what: 'cannot reach JetStream',
  });
}

/**
 * Makes sure stream `config.name` exists. An existing stream is kept as it is (its replicas
 * and limits are an operator's to change), except that `upgrade` may return settings to
 * apply to it, e.g. turning off direct gets on a bucket an older cairn created.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
  o: SetupOptions & { upgrade?: (existing: StreamInfo) => Partial<StreamConfig> | undefined } = {},
): Promise<StreamInfo> {
  return retryNats(
    async () => {
      let info: StreamInfo;
      try {
        info = await jsm.streams.info(config.name);
      } catch (err) {
        if (!isJsApiError(err, JsApiCode.StreamNotFound)) throw err;
        try {
          return await jsm.streams.add(config);
        } catch (addErr) {
          // Another process created it between our lookup and our add: look again.
          if (isJsApiError(addErr, JsApiCode.StreamNameInUse)) throw new Retry();
          if (isTransientNatsError(addErr)) throw addErr;
          throw setupError(`stream ${config.name}`, addErr, config.num_replicas);
        }
      }
      const change = o.upgrade?.(info);
      if (change && Object.keys(change).length > 0) info = await jsm.streams.update(config.name, { ...info.config, ...change });
      return info;
    },
    { what: `cannot create stream ${config.name}`, budgetMs: o.budgetMs ?? DEFAULT_SETUP_BUDGET_MS },
  ).catch((err: unknown) => {
    throw setupError(`stream ${config.name}`, err, config.num_replicas);
  });
}

/** Makes sure durable consumer `config.durable_name` exists on `stream`; an existing one is kept. */
export async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: Partial<ConsumerConfig> & { durable_name: string },
  o: SetupOptions = {},
): Promise<ConsumerInfo> {
  return retryNats(
    async () => {
      try {
        return await jsm.consumers.info(stream, config.durable_name);
      } catch (err) {
        if (!isJsApiError(err, JsApiCode.ConsumerNotFound)) throw err;
      }
      try {
        return await jsm.consumers.add(stream, config);
      } catch (err) {
        if (isJsApiError(err, JsApiCode.ConsumerNameExists)) throw new Retry();
        throw err;
      }
    },
    { what: `cannot create consumer ${config.durable_name} on ${stream}`, budgetMs: o.budgetMs ?? DEFAULT_SETUP_BUDGET_MS },
  ).catch((err: unknown) => {
    throw setupError(`consumer ${config.durable_name} on stream ${stream}`, err);
  });
}

export interface KvOptions extends SetupOptions {
  replicas: number;
  /** Revisions kept per key (default 1). */
  history?: number;
  /** Entries expire this long after their last write (the leader lease). */
  ttlMs?: number;
  /**
   * Retry requests through failovers (default true). The leader lease turns it off: a
   * renewal must fail within its deadline so the holder steps down before its entry expires.
   */
  resilient?: boolean;
  /** Timeout of each request (default 2 s: a request lost with a dying server is retried sooner). */
  requestTimeoutMs?: number;
}

/**
 * Opens KV bucket `name`, creating it when missing, and returns a `KV` whose requests retry
 * through NATS failovers (see `resilientKv`).
 *
 * Buckets are created with direct gets off, and an existing bucket with direct gets on is
 * switched off: direct gets are answered by any replica, and on R3 a replica that lags
 * returns an older value or nothing for a key just written (measured: 4-13% of put-then-get
 * pairs, TOOLCHAIN.md). Without them every get goes to the stream leader, which has every
 * acknowledged write. cairn's state is read back right after it is written (a job id
 * returned to a client, a lease, a schedule), so it needs that.
 */
export async function ensureKv(nc: NatsConnection, name: string, o: KvOptions): Promise<KV> {
  const jsm = await setupManager(nc);
  await ensureStream(
    jsm,
    {
      name: `KV_${name}`,
      subjects: [`$KV.${name}.>`],
      retention: RetentionPolicy.Limits,
      max_msgs_per_subject: o.history ?? 1,
      max_msg_size: -1,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      allow_direct: false,
      allow_rollup_hdrs: true,
      num_replicas: o.replicas,
      ...(o.ttlMs ? { max_age: o.ttlMs * 1_000_000 } : {}),
    },
    {
      budgetMs: o.budgetMs,
      // Older buckets had direct gets on; a lease bucket's TTL follows the configured one (the
      // holder's step-down deadline is computed from it, so the two must agree).
      upgrade: (info) => {
        const change = {
          ...(info.config.allow_direct ? { allow_direct: false } : {}),
          ...(o.ttlMs && info.config.max_age !== o.ttlMs * 1_000_000 ? { max_age: o.ttlMs * 1_000_000 } : {}),
        };
        return Object.keys(change).length > 0 ? change : undefined;
      },
    },
  );
  const js = nc.jetstream({ timeout: o.requestTimeoutMs ?? KV_REQUEST_TIMEOUT_MS });
  const kv = await js.views.kv(name, { bindOnly: true, allow_direct: false });
  return o.resilient === false ? kv : resilientKv(kv, name);
}

/**
 * KV requests are small and answered in milliseconds; one that goes unanswered for seconds
 * was lost with the server it went to (nats.js does not fail requests on a disconnect) or
 * went to a stream leader that died, and is retried on the server the connection moved to
 * or the newly elected leader. Short, so that a failover costs about the election (2-6 s
 * seen here) and not election plus timeout.
 */
export const KV_REQUEST_TIMEOUT_MS = 2000;

/** Methods of KV that read or overwrite: repeating them after an unanswered attempt is harmless. */
const IDEMPOTENT = new Set(['get', 'put', 'delete', 'purge', 'keys', 'history', 'status', 'watch']);

/**
 * Wraps a KV so that each request retries transient NATS failures (one server of an R3
 * cluster dying, a leader election) instead of failing the job or statement that made it.
 *
 * `create` and `update` are compare-and-set writes and need care: when an attempt goes
 * unanswered it may still have been applied, and the retry then fails with "wrong last
 * sequence" against our own write. In that case the key is read back from the leader: if it
 * holds exactly our value, the write succeeded and its revision is returned.
 */
export function resilientKv(kv: KV, bucket: string): KV {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      const method = value as (...args: unknown[]) => Promise<unknown>;
      if (IDEMPOTENT.has(prop)) {
        return (...args: unknown[]) => retryNats(() => method.apply(target, args), { what: `cannot ${prop} ${describeKey(bucket, args[0])}` });
      }
      if (prop === 'create' || prop === 'update') {
        return (...args: unknown[]) => compareAndSet(target, method, args, `cannot ${prop} ${describeKey(bucket, args[0])}`);
      }
      return method.bind(target);
    },
  });
}

/**
 * A compare-and-set write (`method`, a create or update of `args[0]`) retried through
 * retryNats, recognising a write that landed though its answer was lost (see resilientKv).
 */
export async function compareAndSet(kv: KV, method: (...args: unknown[]) => Promise<unknown>, args: unknown[], what: string): Promise<number> {
  let unanswered = false;
  return retryNats(
    async () => {
      try {
        return (await method.apply(kv, args)) as number;
      } catch (err) {
        if (unanswered && isJsApiError(err, JsApiCode.WrongLastSequence)) {
          const mine = await kv.get(String(args[0]));
          if (mine && mine.operation === 'PUT' && sameBytes(mine.value, args[1] as Uint8Array)) return mine.revision;
        }
        if (jsApiCode(err) === undefined) unanswered = true;
        throw err;
      }
    },
    { what },
  );
}

function sameBytes(a: Uint8Array, b: Uint8Array | string): boolean {
  const bb = typeof b === 'string' ? new TextEncoder().encode(b) : b;
  return a.length === bb.length && a.every((x, i) => x === bb[i]);
}

function describeKey(bucket: string, key: unknown): string {
  return typeof key === 'string' ? `${bucket}/${key}` : bucket;
}

/** Thrown inside a retry loop to look an asset up again at once (a concurrent creator won). */
class Retry extends CairnError {
  constructor() {
    super(ErrorCode.Unavailable, 'created concurrently; looking again', { retryable: true });
  }
}

/** One clear line for a setup failure that retrying cannot fix. */
function setupError(what: string, err: unknown, replicas?: number): CairnError {
  if (err instanceof CairnError) return err;
  const code = jsApiCode(err);
  if (code === JsApiCode.ReplicasNotSupported || code === JsApiCode.InsufficientResources) {
    return new CairnError(
      ErrorCode.FailedPrecondition,
      `cannot create ${what} with ${replicas ?? '?'} replicas: the NATS cluster has fewer JetStream servers than that (use --nats-replicas 1 on a single server)`,
      { cause: err },
    );
  }
  if (code === JsApiCode.JetStreamNotEnabled) {
    return new CairnError(ErrorCode.FailedPrecondition, `cannot create ${what}: JetStream is not enabled on this NATS server (start nats-server with -js)`, { cause: err });
  }
  const transient = isTransientNatsError(err);
  return new CairnError(transient ? ErrorCode.Unavailable : ErrorCode.Internal, `cannot create ${what}: ${reasonOf(err)}`, {
    cause: err,
    retryable: transient,
  });
}

/** How many servers the NATS cluster `nc` is connected to has (1 for a single server). */
export function natsClusterSize(nc: NatsConnection): number {
  const info = nc.info;
  if (!info?.cluster) return 1;
  return Math.max(1, info.connect_urls?.length ?? 1);
}

/**
 * Checks a replica count asked for (`--nats-replicas`) against the server: more than one
 * replica needs a clustered server. Whether a cluster has enough servers for the count is
 * JetStream's to say when the first asset is created (see `setupError`).
 */
export function checkReplicas(nc: NatsConnection, requested: number): number {
  if (!Number.isInteger(requested) || requested < 1 || requested > 5) {
    throw new CairnError(ErrorCode.InvalidArgument, `--nats-replicas must be an integer from 1 to 5, not ${requested}`);
  }
  if (requested > 1 && !nc.info?.cluster) {
    throw new CairnError(
      ErrorCode.FailedPrecondition,
      `--nats-replicas ${requested} needs a NATS cluster of at least ${requested} servers, but ${nc.info?.server_name ?? 'the server'} is not clustered`,
    );
  }
  return requested;
}

/**
 * The replica count for cairn's state: what the operator asked for, else what the cluster's
 * state already uses (the meta bucket, created by the first process), else 3 on a NATS
 * cluster of three or more servers and 1 on a single server. Reading the existing state
 * first matters right after a NATS server restart, when the cluster's INFO may not list
 * every server yet.
 */
export async function stateReplicas(nc: NatsConnection, requested?: number, existingStream = 'KV_cairn_meta'): Promise<number> {
  if (requested !== undefined) return checkReplicas(nc, requested);
  const jsm = await setupManager(nc);
  const existing = await retryNats(
    async () => {
      try {
        return (await jsm.streams.info(existingStream)).config.num_replicas;
      } catch (err) {
        if (isJsApiError(err, JsApiCode.StreamNotFound)) return undefined;
        throw err;
      }
    },
    { what: 'cannot read the cluster state', budgetMs: DEFAULT_SETUP_BUDGET_MS },
  );
  return existing ?? (natsClusterSize(nc) >= 3 ? 3 : 1);
}

/**
 * The JetStream client of a process's cluster state. Its requests (publishes of work items
 * and results, consumer lookups) are retried through `retryNats`, so a short timeout makes a
 * request lost with a dying server come back sooner; the write log sets its own per publish.
 */
export function jetStream(nc: NatsConnection): JetStreamClient {
  return nc.jetstream({ timeout: DATA_REQUEST_TIMEOUT_MS });
}

/** For the data path's JetStream requests (client and manager): see jetStream(). */
export const DATA_REQUEST_TIMEOUT_MS = 2000;

/**
 * Pull requests of long-running consumers (the log tail, job results) expire after this
 * long, and the server sends an idle heartbeat every half of it. nats.js re-creates an
 * ordered consumer after two missed heartbeats, so one left on a dead server is replaced
 * within about this long, instead of after the default 30 s.
 */
export const CONSUME_EXPIRES_MS = 2000;
