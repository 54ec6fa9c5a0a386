import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode, firstLine, grpcStatusFor, isRetryable, toCairnError } from './index.js';

describe('CairnError', () => {
  it('carries a code, a retryable mark, a position and a cause', () => {
    const cause = new Error('socket closed');
    const e = new CairnError(ErrorCode.Unavailable, 'node 3 did not answer', { retryable: true, retryAfterMs: 500, cause, position: 7 });
    expect(e.code).toBe('UNAVAILABLE');
    expect(e.retryable).toBe(true);
    expect(e.retryAfterMs).toBe(500);
    expect(e.position).toBe(7);
    expect(e.cause).toBe(cause);
    expect(e.toLine()).toBe('ERROR (UNAVAILABLE): node 3 did not answer');
    expect(isRetryable(e)).toBe(true);
  });

  it('is terminal unless marked retryable, and foreign errors are never retryable', () => {
    expect(isRetryable(new CairnError(ErrorCode.Corruption, 'checksum mismatch'))).toBe(false);
    expect(isRetryable(new Error('boom'))).toBe(false);
  });

  it('wraps foreign errors keeping only their first line', () => {
    const e = toCairnError(new Error('first line\n    at stack frame'));
    expect(e.code).toBe(ErrorCode.Internal);
    expect(e.message).toBe('first line');
    expect(toCairnError('plain', ErrorCode.InvalidArgument).code).toBe(ErrorCode.InvalidArgument);
    const own = new CairnError(ErrorCode.NotFound, 'x');
    expect(toCairnError(own)).toBe(own);
    expect(firstLine('a\nb')).toBe('a');
  });

  it('maps every code to a gRPC status', () => {
    const expected: Record<string, number> = {
      SYNTAX_ERROR: 3,
      INVALID_ARGUMENT: 3,
      UNDEFINED_OBJECT: 5,
      DUPLICATE_OBJECT: 6,
      UNIQUE_VIOLATION: 6,
      FOREIGN_KEY_VIOLATION: 9,
      DATATYPE_MISMATCH: 3,
      FEATURE_NOT_SUPPORTED: 12,
      UNAVAILABLE: 14,
      TIMEOUT: 4,
      NOT_LEADER: 14,
      WRONG_CLUSTER: 9,
      DATA_CORRUPTION: 15,
      FAILED_PRECONDITION: 9,
      NOT_FOUND: 5,
      CANCELED: 1,
      JOB_FAILED: 9,
      INSUFFICIENT_PRIVILEGE: 7,
      UNAUTHENTICATED: 16,
      INTERNAL: 13,
    };
    for (const code of Object.values(ErrorCode)) expect(grpcStatusFor(code), code).toBe(expected[code]);
  });
});
