import { credentials, makeGenericClientConstructor, Metadata, type ChannelCredentials, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { CairnError, ErrorCode } from '@cairn/errors';
import { BackupServiceService, ClusterServiceService, DataServiceService, JobServiceService, ScheduleServiceService, SqlServiceService } from '@cairn/proto';
import type { LeaderInfo } from '@cairn/cluster';
import { fromLeaderError } from './grpc-errors.js';
import { currentRequest } from '../auth/request-context.js';
import { FORWARDED_USER_METADATA_KEY } from '../auth/authenticator.js';

const SERVICES = {
  SqlService: SqlServiceService,
  ClusterService: ClusterServiceService,
  DataService: DataServiceService,
  JobService: JobServiceService,
  ScheduleService: ScheduleServiceService,
  BackupService: BackupServiceService,
};

/** Who holds the leader lease now (the `LeaderLease`, once the coordinator has one). */
export interface LeaderLookup {
  current(): Promise<LeaderInfo | undefined>;
}

/**
 * Forwards a standby's calls to the coordinator that holds the lease. The request goes on
 * whole, so what it carries (an Execute's `user` among it) reaches the leader unchanged.
 */
export class LeaderForwarder {
  private clients = new Map<string, Record<string, Client>>();

  /**
   * `channelCredentials`: in secure mode, TLS with this coordinator's node certificate, so
   * the leader trusts the user it names in FORWARDED_USER_METADATA_KEY.
   */
  constructor(
    private readonly lease: LeaderLookup,
    private readonly selfAddress: () => string,
    private readonly channelCredentials: () => ChannelCredentials = () => credentials.createInsecure(),
  ) {}

  async forward<Q, R>(service: keyof typeof SERVICES | string, method: string, req: Q): Promise<R> {
    const leader = await this.lease.current();
    if (!leader || leader.grpcAddress === this.selfAddress()) {
      throw new CairnError(ErrorCode.NotLeader, 'no coordinator leader elected yet; retry shortly', { retryable: true });
    }
    const client = this.client(leader.grpcAddress, service);
    const metadata = new Metadata();
    const caller = currentRequest();
    if (caller?.secure) metadata.set(FORWARDED_USER_METADATA_KEY, caller.user);
    return new Promise<R>((resolve, reject) => {
      (client as unknown as Record<string, (r: Q, m: Metadata, o: object, cb: (e: ServiceError | null, r: R) => void) => void>)[method]!(
        req,
        metadata,
        { deadline: Date.now() + 600_000 },
        (err, res) => {
          if (!err) return resolve(res);
          reject(fromLeaderError(err));
        },
      );
    });
  }

  /**
   * Forwards a server-streaming call (WatchJob): each message the leader sends is passed to
   * `onMessage`; resolves when the leader ends the stream, rejects with its error. Cancelling
   * `caller` (the client went away) cancels the call to the leader. No deadline: a watch lasts
   * as long as the job runs.
   */
  async forwardStream<Q, R>(
    service: string,
    method: string,
    req: Q,
    onMessage: (msg: R) => void,
    caller: { on(event: 'cancelled', listener: () => void): unknown },
  ): Promise<void> {
    const leader = await this.lease.current();
    if (!leader || leader.grpcAddress === this.selfAddress()) {
      throw new CairnError(ErrorCode.NotLeader, 'no coordinator leader elected yet; retry shortly', { retryable: true });
    }
    const client = this.client(leader.grpcAddress, service);
    const metadata = new Metadata();
    const from = currentRequest();
    if (from?.secure) metadata.set(FORWARDED_USER_METADATA_KEY, from.user);
    const stream = (client as unknown as Record<string, (r: Q, m: Metadata) => ClientReadableStream<R>>)[method]!(req, metadata);
    caller.on('cancelled', () => stream.cancel());
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (m: R) => onMessage(m));
      stream.on('end', () => resolve());
      stream.on('error', (err: ServiceError) => reject(fromLeaderError(err)));
    });
  }

  close(): void {
    for (const byService of this.clients.values()) for (const c of Object.values(byService)) c.close();
    this.clients.clear();
  }

  private client(address: string, service: string): Client {
    let byService = this.clients.get(address);
    if (!byService) {
      byService = {};
      this.clients.set(address, byService);
    }
    const def = SERVICES[service as keyof typeof SERVICES];
    if (!def) throw new CairnError(ErrorCode.Internal, `unknown service ${service}`);
    byService[service] ??= new (makeGenericClientConstructor(def, service))(address, this.channelCredentials());
    return byService[service];
  }
}
