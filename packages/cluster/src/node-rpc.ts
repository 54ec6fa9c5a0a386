import type { NatsConnection } from 'nats';
import { CairnError, ErrorCode, type ErrorCode as Code } from '@cairn/errors';
import { NodeError } from '@cairn/proto';

/** Subject of a node's request/reply endpoint for `method`. */
export function nodeSubject(nodeId: number, method: string): string {
  return `cairn.node.${nodeId}.${method}`;
}

/** Replies are prefixed with one status byte: 0 = ok + message, 1 = NodeError. */
const OK = 0;
const ERR = 1;

export interface Codec<T> {
  encode(m: T): { finish(): Uint8Array };
  decode(b: Uint8Array): T;
}

/**
 * Serves `method` on this node: decodes requests with `req`, replies with `res` or a coded
 * error, so the caller rebuilds the same CairnError.
 */
export function serveNodeMethod<Q, R>(
  nc: NatsConnection,
  nodeId: number,
  method: string,
  req: Codec<Q>,
  res: Codec<R>,
  handler: (request: Q) => Promise<R>,
): { unsubscribe(): void } {
  const sub = nc.subscribe(nodeSubject(nodeId, method), {
    callback: (err, msg) => {
      if (err) return;
      void (async () => {
        try {
          const out = await handler(req.decode(msg.data));
          msg.respond(frame(OK, res.encode(out).finish()));
        } catch (e) {
          const code = e instanceof CairnError ? e.code : ErrorCode.Internal;
          const message = e instanceof Error ? e.message : String(e);
          msg.respond(frame(ERR, NodeError.encode({ code, message }).finish()));
        }
      })();
    },
  });
  return sub;
}

/** Calls `method` on a node; a node that does not answer is a retryable Unavailable error. */
export async function callNode<Q, R>(
  nc: NatsConnection,
  nodeId: number,
  method: string,
  req: Codec<Q>,
  res: Codec<R>,
  request: Q,
  timeoutMs = 30_000,
): Promise<R> {
  let reply;
  try {
    reply = await nc.request(nodeSubject(nodeId, method), req.encode(request).finish(), { timeout: timeoutMs });
  } catch (err) {
    throw new CairnError(ErrorCode.Unavailable, `node ${nodeId} did not answer ${method}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
      retryable: true,
    });
  }
  const body = reply.data.subarray(1);
  if (reply.data[0] === OK) return res.decode(body);
  const e = NodeError.decode(body);
  throw new CairnError(e.code as Code, e.message, { retryable: e.code === ErrorCode.Unavailable });
}

function frame(status: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 1);
  out[0] = status;
  out.set(body, 1);
  return out;
}
