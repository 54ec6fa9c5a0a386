import { ErrorCode as NatsErrorCode } from 'nats';
import { CairnError } from '@cairn/errors';

/**
 * JetStream API error codes (`err_code` of the API's error reply) that cairn acts on. They are
 * the server's stable identifiers; the descriptions beside them change between versions, so
 * code never matches message text.
 */
export const JsApiCode = {
  /** The JetStream cluster is electing a leader or lost its quorum: retry. */
  ClusterNotAvailable: 10008,
  ConsumerNotFound: 10014,
  /** Not enough servers for the replicas asked (R3 on a cluster with fewer servers). */
  InsufficientResources: 10023,
  NoMessageFound: 10037,
  StreamNameInUse: 10058,
  StreamNotFound: 10059,
  /** `expected last sequence` failed: a KV create found the key, or an update lost a race. */
  WrongLastSequence: 10071,
  /** Replicas > 1 asked of a single, non-clustered server. */
  ReplicasNotSupported: 10074,
  JetStreamNotEnabled: 10076,
  ConsumerNameExists: 10148,
} as const;
export type JsApiCode = (typeof JsApiCode)[keyof typeof JsApiCode];

interface ApiErrorShape {
  code?: number;
  err_code?: number;
  description?: string;
}

/** The JetStream API error code carried by `err` (nats.js puts it in `api_error`), if any. */
export function jsApiCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const api = (err as { api_error?: ApiErrorShape }).api_error;
  return api?.err_code;
}

export function isJsApiError(err: unknown, code: JsApiCode): boolean {
  return jsApiCode(err) === code;
}

/** The status code of a JetStream API error reply or a NATS status (503 = no responders). */
function statusCode(err: unknown): string | number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const api = (err as { api_error?: ApiErrorShape }).api_error;
  if (api?.code !== undefined) return api.code;
  return (err as { code?: string | number }).code;
}

/** NATS knows no subscriber anywhere for the subject of a request (as opposed to a slow one). */
export function isNoResponders(err: unknown): boolean {
  return jsApiCode(err) === undefined && String(statusCode(err)) === NatsErrorCode.NoResponders;
}

/** A request that went unanswered for its whole timeout (it has already waited). */
export function isTimeout(err: unknown): boolean {
  return jsApiCode(err) === undefined && String(statusCode(err)) === NatsErrorCode.Timeout;
}

/**
 * True for failures that come from NATS being briefly unable to answer, not from the request:
 * a timeout, no responders (the server a request went to has no JetStream leader for the
 * asset yet, 503), a JetStream cluster electing its leaders, a connection that is
 * reconnecting. Such a request is worth repeating after a pause; any other error is final.
 */
export function isTransientNatsError(err: unknown): boolean {
  if (err instanceof CairnError) return err.retryable;
  const code = jsApiCode(err);
  if (code === JsApiCode.ClusterNotAvailable) return true;
  if (code !== undefined) return false;
  const status = statusCode(err);
  return status !== undefined && TRANSIENT_CLIENT_CODES.has(String(status));
}

/**
 * nats.js client error codes of a request NATS could not answer for now. A closed connection
 * is not among them: cairn closes a connection only when it stops, and the client reconnects
 * forever otherwise.
 */
const TRANSIENT_CLIENT_CODES: ReadonlySet<string> = new Set([
  NatsErrorCode.Timeout,
  NatsErrorCode.NoResponders,
  NatsErrorCode.Disconnect,
  NatsErrorCode.ConnectionRefused,
  NatsErrorCode.ConnectionTimeout,
  NatsErrorCode.RequestError,
  NatsErrorCode.JetStream408RequestTimeout,
]);

/** The first line of any error, for messages that name a cause. */
export function reasonOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n', 1)[0] ?? text;
}
