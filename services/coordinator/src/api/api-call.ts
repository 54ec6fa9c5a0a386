import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { LeaderCapabilities } from '../leader-capabilities.js';
import { toServiceError } from './grpc-errors.js';
import type { LeaderForwarder } from './leader-forwarder.js';

/** What a service's handlers need of the coordinator: its leader, if it is one, else a way to it. */
export interface ApiCallContext {
  leader(): LeaderCapabilities | undefined;
  forwarder: LeaderForwarder;
}

/**
 * A unary handler that runs on the leader: on a standby the request is forwarded whole to the
 * current leader (its `user` field with it), so clients may call any coordinator.
 */
export function unaryCall<Q, R>(ctx: ApiCallContext, service: string, method: string, onLeader: (leader: LeaderCapabilities, req: Q) => Promise<R>) {
  return (call: ServerUnaryCall<Q, R>, callback: sendUnaryData<R>) => {
    const run = async (req: Q) => {
      const leader = ctx.leader();
      return leader ? onLeader(leader, req) : ctx.forwarder.forward<Q, R>(service, method, req);
    };
    run(call.request).then(
      (res) => callback(null, res),
      (err: unknown) => callback(toServiceError(err) as never, null),
    );
  };
}
