import type { status} from '@grpc/grpc-js';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { ERROR_CODE_METADATA_KEY, grpcStatusFor, toCairnError } from '@cairn/errors';

/** Maps any error to a gRPC status, carrying cairn's code and position in trailers. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const e = toCairnError(err);
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA_KEY, e.code);
  if (e.position !== undefined) metadata.set('cairn-error-position', String(e.position));
  return { code: grpcStatusFor(e.code) as status, details: e.message, metadata };
}
