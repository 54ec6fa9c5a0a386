import type { NatsConnection } from 'nats';
import { ErrorCode as NatsErrorCode } from 'nats';
import { retryNats } from './nats-retry.js';
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
  const data = req.encode(request).finish();
  try {
    // "No responders" means the node is not subscribed right now: it is reconnecting to
    // another NATS server (its own died), or it is down. Ask again for a few seconds before
    // calling it unavailable; a timeout is not repeated, it already waited long.
    reply = await retryNats(
      async () => {
        try {
          return await nc.request(nodeSubject(nodeId, method), data, { timeout: timeoutMs });
        } catch (err) {
          if (statusOf(err) === NatsErrorCode.NoResponders) throw err;
          throw new Final(err);
        }
      },
      { what: `node ${nodeId} did not answer ${method}`, budgetMs: NO_RESPONDERS_BUDGET_MS },
    );
  } catch (e) {
    if (e instanceof CairnError) throw e;
    const err = e instanceof Final ? e.error : e;
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

/** How long a call keeps asking a node that has no subscription (it may be reconnecting). */
const NO_RESPONDERS_BUDGET_MS = 3000;

function statusOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

/** Carries an error out of the retry loop unretried. */
class Final extends Error {
  constructor(readonly error: unknown) {
    super('final');
  }
}
