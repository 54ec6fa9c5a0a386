import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { CairnError, ErrorCode, ERROR_CODE_METADATA_KEY, type ErrorCode as Code } from '@cairn/errors';
import {
  ClusterServiceClient,
  DataServiceClient,
  SqlServiceClient,
  type ExecuteResponse,
  type FingerprintRequest,
  type FingerprintResponse,
  type ListNodesResponse,
  type WriteRequest,
  TableDescriptor,
  type WriteResponse,
} from '@cairn/proto';

export interface ClientOptions {
  /** One or more coordinator addresses (host:port); calls fail over between them. */
  addresses: string[];
  /** How long a call may keep retrying while the cluster is unavailable (leader failover). */
  retryForMs?: number;
  deadlineMs?: number;
  /**
   * The SQL user statements run as (`cockroach sql --user`); default `root`. Like CockroachDB's
   * insecure mode, the name is taken as given: privileges are checked, identity is not proven.
   */
  user?: string;
}

/** A statement's result with NULLs as null. */
export interface QueryResult {
  columns: string[];
  rows: (string | null)[][];
  tag: string;
  database: string;
  jobIds: string[];
}

interface Stubs {
  sql: SqlServiceClient;
  cluster: ClusterServiceClient;
  data: DataServiceClient;
}

/**
 * The typed gRPC client of cairn's API, used by the CLI and tests. Retryable failures
 * (UNAVAILABLE: a coordinator died, a leader is being elected) are retried against the next
 * address until `retryForMs` has passed; everything else surfaces at once as a CairnError.
 */
export class CairnClient {
  private readonly stubs: Stubs[];
  private current = 0;
  database = '';
  /** The SQL user this client's statements run as. */
  readonly user: string;

  constructor(private readonly opts: ClientOptions) {
    if (opts.addresses.length === 0) throw new CairnError(ErrorCode.InvalidArgument, 'no coordinator address given');
    this.user = opts.user ?? 'root';
    this.stubs = opts.addresses.map((a) => {
      const c = credentials.createInsecure();
      const o = {
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
        // gRPC's default reconnect backoff grows to 2 minutes: a coordinator back from a
        // restart or a failover should be found within seconds.
        'grpc.initial_reconnect_backoff_ms': 200,
        'grpc.max_reconnect_backoff_ms': 2_000,
      };
      return { sql: new SqlServiceClient(a, c, o), cluster: new ClusterServiceClient(a, c, o), data: new DataServiceClient(a, c, o) };
    });
  }

  /** Runs statements; the result is the last statement's. Remembers USE for later calls. */
  async execute(sql: string): Promise<QueryResult> {
    const res = await this.call<ExecuteResponse>((s, md, opts, cb) => s.sql.execute({ sql, database: this.database, user: this.user }, md, opts, cb));
    this.database = res.database;
    return {
      columns: res.columns,
      rows: res.rows.map((r) => r.values.map((v) => (v.text === undefined ? null : v.text))),
      tag: res.tag,
      database: res.database,
      jobIds: res.jobIds,
    };
  }

  async listNodes(): Promise<ListNodesResponse> {
    return this.call((s, md, opts, cb) => s.cluster.listNodes({}, md, opts, cb));
  }

  async fingerprint(req: Partial<FingerprintRequest> & { database: string }): Promise<FingerprintResponse> {
    const full: FingerprintRequest = { table: '', timestamp: 0n, nodeId: 0, ...req };
    return this.call((s, md, opts, cb) => s.data.fingerprint(full, md, opts, cb));
  }

  async getTable(database: string, table: string): Promise<TableDescriptor> {
    const res = await this.call<{ descriptor: Uint8Array }>((s, md, opts, cb) => s.data.getTable({ database, table }, md, opts, cb));
    return TableDescriptor.decode(res.descriptor);
  }

  async write(req: WriteRequest): Promise<WriteResponse> {
    return this.call((s, md, opts, cb) => s.data.write(req, md, opts, cb));
  }

  close(): void {
    for (const s of this.stubs) {
      s.sql.close();
      s.cluster.close();
      s.data.close();
    }
  }

  private async call<R>(
    invoke: (s: Stubs, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res: R) => void) => unknown,
  ): Promise<R> {
    const until = Date.now() + (this.opts.retryForMs ?? 15_000);
    for (let attempt = 0; ; attempt++) {
      const stubs = this.stubs[this.current % this.stubs.length]!;
      try {
        return await new Promise<R>((resolve, reject) =>
          invoke(stubs, new Metadata(), { deadline: Date.now() + (this.opts.deadlineMs ?? 3_600_000) }, (err, res) =>
            err ? reject(err) : resolve(res),
          ),
        );
      } catch (err) {
        const e = fromServiceError(err as ServiceError, this.opts.addresses[this.current % this.stubs.length]!);
        if (!e.retryable || Date.now() > until) throw e;
        this.current++;
        await new Promise((r) => setTimeout(r, Math.min(1000, 100 * (attempt + 1))));
      }
    }
  }
}

function fromServiceError(err: ServiceError, address: string): CairnError {
  const code = err.metadata?.get(ERROR_CODE_METADATA_KEY)[0];
  const position = err.metadata?.get('cairn-error-position')[0];
  if (code) {
    const c = String(code) as Code;
    return new CairnError(c, err.details, {
      retryable: c === ErrorCode.Unavailable || c === ErrorCode.NotLeader,
      ...(position ? { position: Number(position) } : {}),
    });
  }
  if (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED) {
    return new CairnError(ErrorCode.Unavailable, `cannot reach cairn at ${address}: ${err.details || err.message}`, {
      retryable: err.code === status.UNAVAILABLE,
      cause: err,
    });
  }
  return new CairnError(ErrorCode.Internal, err.details || err.message, { cause: err });
}
