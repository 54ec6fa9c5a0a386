import { connect, constants } from 'node:http2';

/** What `grpc.health.v1.Health/Check` answered: a serving status, or the gRPC error. */
export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN' | `grpc-status ${string}` | 'unreachable';

const STATUS_NAMES: Record<number, HealthStatus> = { 0: 'UNKNOWN', 1: 'SERVING', 2: 'NOT_SERVING', 3: 'SERVICE_UNKNOWN' };

/**
 * Calls the standard gRPC health check over plain HTTP/2 (gRPC's wire format: a 5-byte frame
 * header, then the protobuf message), so tests need no gRPC stubs: the request
 * `HealthCheckRequest{service}` is field 1 (string), the response field 1 (enum).
 */
export async function grpcHealth(address: string, service = '', timeoutMs = 2_000): Promise<HealthStatus> {
  const name = Buffer.from(service, 'utf8');
  const message = name.length > 0 ? Buffer.concat([Buffer.from([0x0a, name.length]), name]) : Buffer.alloc(0);
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return new Promise((resolve) => {
    const session = connect(`http://${address}`);
    const done = (s: HealthStatus): void => {
      clearTimeout(timer);
      session.close();
      session.destroy();
      resolve(s);
    };
    const timer = setTimeout(() => done('unreachable'), timeoutMs);
    session.on('error', () => done('unreachable'));
    const req = session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: '/grpc.health.v1.Health/Check',
      [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    req.on('response', (headers) => {
      if (headers['grpc-status'] !== undefined) grpcStatus = String(headers['grpc-status']);
    });
    req.on('trailers', (trailers) => {
      if (trailers['grpc-status'] !== undefined) grpcStatus = String(trailers['grpc-status']);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => done('unreachable'));
    req.on('end', () => {
      if (grpcStatus !== undefined && grpcStatus !== '0') return done(`grpc-status ${grpcStatus}`);
      const body = Buffer.concat(chunks).subarray(5);
      // An enum field at its default (UNKNOWN = 0) is not sent at all.
      const status = body.length >= 2 && body[0] === 0x08 ? (body[1] ?? 0) : 0;
      done(STATUS_NAMES[status] ?? `grpc-status unknown enum ${status}`);
    });
    req.end(frame);
  });
}
