import { CairnError, ErrorCode } from '@cairn/errors';
import { RetriesExhausted } from './retry-policy.js';
import { fileNotFound } from './external-storage.js';

/** What the SDK attaches to service errors; network errors carry a Node `code` instead. */
interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

function shape(err: unknown): SdkErrorShape {
  return typeof err === 'object' && err !== null ? (err as SdkErrorShape) : {};
}

export function s3Status(err: unknown): number | undefined {
  return shape(err).$metadata?.httpStatusCode;
}

export function s3ErrorName(err: unknown): string {
  return shape(err).name ?? '';
}

const TRANSIENT_NAMES = new Set([
  'InternalError',
  'ServiceUnavailable',
  'SlowDown',
  'RequestTimeout',
  'RequestTimeoutException',
  'ThrottlingException',
  'TimeoutError',
  'TruncatedBody',
]);

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
]);

const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);

/** Errors worth trying again: 5xx, throttling, timeouts, dropped connections. */
export function isTransientS3Error(err: unknown): boolean {
  const e = shape(err);
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (TRANSIENT_NAMES.has(e.name ?? '')) return true;
  if (e.code !== undefined && TRANSIENT_CODES.has(e.code)) return true;
  return e.$retryable !== undefined && e.$retryable !== null && e.$retryable !== false;
}

/** A body that ended before its Content-Length: resumable like a dropped connection. */
export class TruncatedBody extends Error {
  override readonly name = 'TruncatedBody';
}

export interface S3ErrorContext {
  /** What was being done, e.g. `read`, `write`, `list`. */
  op: string;
  /** Storage-relative path, when the operation had one. */
  path?: string;
  bucket: string;
  /** Redacted URI of the storage. */
  uri: string;
}

/**
 * Maps an S3 failure to a CairnError: missing file → `NotFound`; missing bucket and refused
 * credentials → terminal `FailedPrecondition`; transient failures that outlived their retries
 * → retryable `Unavailable`/`Timeout`. Every message names the redacted URI.
 */
export function toStorageError(err: unknown, ctx: S3ErrorContext): CairnError {
  if (err instanceof CairnError) return err;
  let attempts: number | undefined;
  let cause = err;
  if (err instanceof RetriesExhausted) {
    attempts = err.attempts;
    cause = err.lastError;
  }
  const e = shape(cause);
  // Answers without a body (HEAD) leave the SDK only the status to go on.
  const name = e.name === undefined || e.name === 'Unknown' || e.name === 'Error' ? '' : e.name;
  const status = e.$metadata?.httpStatusCode;
  const what = ctx.path === undefined ? ctx.uri : `"${ctx.path}" in ${ctx.uri}`;
  const detail = `${name !== '' ? `${name}: ` : ''}${e.message ?? String(cause)}`;

  if (name === 'NoSuchBucket') {
    return new CairnError(ErrorCode.FailedPrecondition, `bucket "${ctx.bucket}" does not exist (${ctx.uri})`, { cause });
  }
  if (name === 'NoSuchKey' || (name === 'NotFound' && ctx.path !== undefined)) {
    return fileNotFound(ctx.path ?? '', ctx.uri, cause);
  }
  if (
    name === 'AccessDenied' ||
    name === 'InvalidAccessKeyId' ||
    name === 'SignatureDoesNotMatch' ||
    name === 'ExpiredToken' ||
    name === 'InvalidToken' ||
    name === 'InvalidClientTokenId' ||
    status === 401 ||
    status === 403
  ) {
    return new CairnError(
      ErrorCode.FailedPrecondition,
      `access denied to ${ctx.uri} (${name !== '' ? name : `HTTP ${String(status)}`}): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or the implicit credentials), ASSUME_ROLE and the bucket policy`,
      { cause },
    );
  }
  if (name === 'CredentialsProviderError') {
    return new CairnError(
      ErrorCode.FailedPrecondition,
      `no AWS credentials for ${ctx.uri}: AUTH=implicit looks in the environment, the shared config files and instance metadata (${e.message ?? ''})`,
      { cause },
    );
  }
  if (name === 'PreconditionFailed') {
    return new CairnError(ErrorCode.FailedPrecondition, `${what} changed while it was being read`, { cause });
  }
  if (name === 'AbortError') {
    return new CairnError(ErrorCode.Canceled, `${ctx.op} ${what} was canceled`, { cause });
  }
  if (isTransientS3Error(cause)) {
    const timedOut = TIMEOUT_NAMES.has(name) || e.code === 'ETIMEDOUT';
    const tries = attempts === undefined ? '' : ` after ${String(attempts)} attempts`;
    return new CairnError(
      timedOut ? ErrorCode.Timeout : ErrorCode.Unavailable,
      `${ctx.op} ${what} failed${tries}: ${detail}`,
      { cause, retryable: true },
    );
  }
  const code = status !== undefined && status >= 400 && status < 500 ? ErrorCode.InvalidArgument : ErrorCode.Internal;
  return new CairnError(code, `${ctx.op} ${what} failed: ${detail}`, { cause });
}
