import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { Leader } from '../leader.js';
import { toServiceError } from './grpc-errors.js';
import type { LeaderForwarder } from './leader-forwarder.js';

/** What a service's handlers need of the coordinator: its leader, if it is one, else a way to it. */
export interface ApiCallContext {
  leader(): Leader | undefined;
  forwarder: LeaderForwarder;
}

/**
 * A unary handler that runs on the leader: on a standby the request is forwarded whole to the
 * current leader (its `user` field with it), so clients may call any coordinator.
 */
export function unaryCall<Q, R>(ctx: ApiCallContext, service: string, method: string, onLeader: (leader: Leader, req: Q) => Promise<R>) {
  return (call: ServerUnaryCall<Q, R>, callback: sendUnaryData<R>) => {
    const leader = ctx.leader();
    const run = leader ? onLeader(leader, call.request) : ctx.forwarder.forward<Q, R>(service, method, call.request);
    run.then(
      (res) => callback(null, res),
      (err: unknown) => callback(toServiceError(err) as never, null),
    );
  };
}
