/**
 * cairn's error model. Every failure a user can see carries a stable `code` (shown by the
 * CLI, mapped to a gRPC status at the API edge) and is either terminal (retrying cannot help:
 * bad input, corrupted file) or retryable (a node died, storage timed out).
 */

import { redactText } from './redact.js';

export { REDACTED, SECRET_URI_PARAMS, isSecretParam, redactDeep, redactText, redactUri } from './redact.js';
export { sideBySide } from './side-by-side.js';

/** Stable error codes. The gRPC edge maps each to a status code (see `grpcStatusFor`). */
export const ErrorCode = {
  Syntax: 'SYNTAX_ERROR',
  InvalidArgument: 'INVALID_ARGUMENT',
  UndefinedObject: 'UNDEFINED_OBJECT',
  DuplicateObject: 'DUPLICATE_OBJECT',
  UniqueViolation: 'UNIQUE_VIOLATION',
  ForeignKeyViolation: 'FOREIGN_KEY_VIOLATION',
  DatatypeMismatch: 'DATATYPE_MISMATCH',
  FeatureNotSupported: 'FEATURE_NOT_SUPPORTED',
  Unavailable: 'UNAVAILABLE',
  Timeout: 'TIMEOUT',
  NotLeader: 'NOT_LEADER',
  WrongCluster: 'WRONG_CLUSTER',
  Corruption: 'DATA_CORRUPTION',
  FailedPrecondition: 'FAILED_PRECONDITION',
  NotFound: 'NOT_FOUND',
  Canceled: 'CANCELED',
  /** A job the statement waited on ended failed; the message carries the job's error. */
  JobFailed: 'JOB_FAILED',
  /** The session's user lacks the privilege or role membership the statement needs. */
  InsufficientPrivilege: 'INSUFFICIENT_PRIVILEGE',
  /** The call carried no valid credentials (no trusted client certificate, a wrong password). */
  Unauthenticated: 'UNAUTHENTICATED',
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface CairnErrorOptions {
  cause?: unknown;
  /** Retryable errors may succeed when tried again later (after `retryAfterMs` if given). */
  retryable?: boolean;
  retryAfterMs?: number;
  /** 1-based position in a statement, for syntax errors. */
  position?: number;
}

/** The one error class users see. `message` is a single line without the code. */
export class CairnError extends Error {
  override readonly name = 'CairnError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly position: number | undefined;

  constructor(code: ErrorCode, message: string, options: CairnErrorOptions = {}) {
    // Redacted here, once, so no path that builds or forwards an error can show a secret.
    super(redactText(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.position = options.position;
  }

  /** `ERROR (CODE): message`, the form the CLI prints. */
  toLine(): string {
    return `ERROR (${this.code}): ${this.message}`;
  }
}

export function isCairnError(err: unknown): err is CairnError {
  return err instanceof CairnError;
}

export function isRetryable(err: unknown): boolean {
  return err instanceof CairnError ? err.retryable : false;
}

/** Wraps anything thrown into a CairnError, keeping the original as `cause`. */
export function toCairnError(err: unknown, code: ErrorCode = ErrorCode.Internal): CairnError {
  if (err instanceof CairnError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CairnError(code, firstLine(message), { cause: err });
}

export function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}

/** gRPC status numbers (from grpc's status.proto), kept here so this package has no deps. */
const GrpcStatus = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  UNAUTHENTICATED: 16,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
} as const;

export function grpcStatusFor(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.Syntax:
    case ErrorCode.InvalidArgument:
    case ErrorCode.DatatypeMismatch:
      return GrpcStatus.INVALID_ARGUMENT;
    case ErrorCode.UndefinedObject:
    case ErrorCode.NotFound:
      return GrpcStatus.NOT_FOUND;
    case ErrorCode.DuplicateObject:
    case ErrorCode.UniqueViolation:
      return GrpcStatus.ALREADY_EXISTS;
    case ErrorCode.ForeignKeyViolation:
    case ErrorCode.FailedPrecondition:
    case ErrorCode.JobFailed:
    case ErrorCode.WrongCluster:
      return GrpcStatus.FAILED_PRECONDITION;
    case ErrorCode.FeatureNotSupported:
      return GrpcStatus.UNIMPLEMENTED;
    case ErrorCode.Unavailable:
    case ErrorCode.NotLeader:
      return GrpcStatus.UNAVAILABLE;
    case ErrorCode.Timeout:
      return GrpcStatus.DEADLINE_EXCEEDED;
    case ErrorCode.Corruption:
      return GrpcStatus.DATA_LOSS;
    case ErrorCode.Canceled:
      return GrpcStatus.CANCELLED;
    case ErrorCode.InsufficientPrivilege:
      return GrpcStatus.PERMISSION_DENIED;
    case ErrorCode.Unauthenticated:
      return GrpcStatus.UNAUTHENTICATED;
    case ErrorCode.Internal:
      return GrpcStatus.INTERNAL;
  }
}

/** The code carried in gRPC trailing metadata under this key, so clients can rebuild the error. */
export const ERROR_CODE_METADATA_KEY = 'cairn-error-code';
