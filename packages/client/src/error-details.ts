import type { ServiceError } from '@grpc/grpc-js';
import { CairnError, ErrorCode, type ErrorCode as Code } from '@cairn/errors';
import { ErrorInfo, RpcStatus } from '@cairn/proto';

const STATUS_DETAILS_METADATA_KEY = 'grpc-status-details-bin';
const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';
const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/**
 * The ErrorInfo of a failed call (gRPC's richer error model: a google.rpc.Status in the
 * `grpc-status-details-bin` trailer), when the server sent one from the `cairn` domain.
 */
export function errorInfoOf(err: Pick<ServiceError, 'metadata'>): ErrorInfo | undefined {
  const raw = err.metadata?.get(STATUS_DETAILS_METADATA_KEY)[0];
  if (raw === undefined || typeof raw === 'string') return undefined;
  try {
    const st = RpcStatus.decode(raw);
    const any = st.details.find((d) => d.typeUrl === ERROR_INFO_TYPE_URL);
    if (!any) return undefined;
    const info = ErrorInfo.decode(any.value);
    return info.domain === 'cairn' ? info : undefined;
  } catch {
    // A status we cannot decode is no worse than none: the caller falls back to the trailers.
    return undefined;
  }
}

/** The CairnError the server raised, rebuilt from its ErrorInfo (reason = cairn's code). */
export function errorFromDetails(err: ServiceError): CairnError | undefined {
  const info = errorInfoOf(err);
  if (!info || !KNOWN_CODES.has(info.reason)) return undefined;
  const code = info.reason as Code;
  const position = info.metadata.position;
  const retryAfter = info.metadata.retry_after_ms;
  return new CairnError(code, err.details, {
    retryable: info.metadata.retryable === 'true' || code === ErrorCode.Unavailable || code === ErrorCode.NotLeader,
    ...(position ? { position: Number(position) } : {}),
    ...(retryAfter ? { retryAfterMs: Number(retryAfter) } : {}),
  });
}
