import type { status } from '@grpc/grpc-js';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { CairnError as CairnErrorClass, ERROR_CODE_METADATA_KEY, ErrorCode, grpcStatusFor, toCairnError, type CairnError } from '@cairn/errors';
import { ErrorInfo, RpcStatus } from '@cairn/proto';

/** The gRPC richer error model's trailer: a serialized google.rpc.Status. */
export const STATUS_DETAILS_METADATA_KEY = 'grpc-status-details-bin';
/** ErrorInfo.domain of every cairn error. */
export const ERROR_DOMAIN = 'cairn';
const ERROR_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.ErrorInfo';

/**
 * The SQLSTATE CockroachDB reports for the same failure, where it has one (pgcode), so a
 * client written against CockroachDB's errors recognises cairn's.
 */
const SQLSTATE: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.Syntax]: '42601',
  [ErrorCode.InvalidArgument]: '22023',
  [ErrorCode.UndefinedObject]: '42704',
  [ErrorCode.DuplicateObject]: '42710',
  [ErrorCode.UniqueViolation]: '23505',
  [ErrorCode.ForeignKeyViolation]: '23503',
  [ErrorCode.DatatypeMismatch]: '42804',
  [ErrorCode.FeatureNotSupported]: '0A000',
  [ErrorCode.FailedPrecondition]: '55000',
  [ErrorCode.Canceled]: '57014',
  [ErrorCode.InsufficientPrivilege]: '42501',
  [ErrorCode.Corruption]: 'XX001',
  [ErrorCode.Internal]: 'XX000',
};

/** ErrorInfo metadata: the SQLSTATE, whether retrying may help, and a statement position. */
function errorInfo(e: CairnError): ErrorInfo {
  const metadata: Record<string, string> = { retryable: String(e.retryable) };
  const sqlstate = SQLSTATE[e.code];
  if (sqlstate) metadata.sqlstate = sqlstate;
  if (e.position !== undefined) metadata.position = String(e.position);
  if (e.retryAfterMs !== undefined) metadata.retry_after_ms = String(e.retryAfterMs);
  return { reason: e.code, domain: ERROR_DOMAIN, metadata };
}

/**
 * Maps any error to a gRPC status with the richer error model (google.rpc.Status holding an
 * ErrorInfo whose reason is cairn's code) and, for older clients, the code and position in
 * cairn's own trailers.
 */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const e = toCairnError(err);
  const code = grpcStatusFor(e.code);
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA_KEY, e.code);
  if (e.position !== undefined) metadata.set('cairn-error-position', String(e.position));
  const details = RpcStatus.encode({
    code,
    message: e.message,
    details: [{ typeUrl: ERROR_INFO_TYPE_URL, value: ErrorInfo.encode(errorInfo(e)).finish() }],
  }).finish();
  metadata.set(STATUS_DETAILS_METADATA_KEY, Buffer.from(details));
  return { code: code as status, details: e.message, metadata };
}

/**
 * The CairnError a leader answered a forwarded call with, rebuilt whole (code, position,
 * retryable) from its ErrorInfo, or from cairn's trailers when it sent none; an error without
 * either (the leader died mid-call) is a retryable UNAVAILABLE.
 */
export function fromLeaderError(err: ServiceError): CairnError {
  const raw = err.metadata?.get(STATUS_DETAILS_METADATA_KEY)[0];
  if (raw !== undefined && typeof raw !== 'string') {
    try {
      const any = RpcStatus.decode(raw).details.find((d) => d.typeUrl === ERROR_INFO_TYPE_URL);
      const info = any ? ErrorInfo.decode(any.value) : undefined;
      if (info?.domain === ERROR_DOMAIN && (Object.values(ErrorCode) as string[]).includes(info.reason)) {
        const position = info.metadata['position'];
        return new CairnErrorClass(info.reason as ErrorCode, err.details || err.message, {
          retryable: info.metadata['retryable'] === 'true',
          ...(position ? { position: Number(position) } : {}),
        });
      }
    } catch {
      // Undecodable details: fall back to the trailers below.
    }
  }
  const code = err.metadata?.get(ERROR_CODE_METADATA_KEY)[0];
  return new CairnErrorClass((code ? String(code) : ErrorCode.Unavailable) as ErrorCode, err.details || err.message, { retryable: !code });
}
