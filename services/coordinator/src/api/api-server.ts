import { Server, ServerCredentials, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { loadSync } from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CairnError, ErrorCode } from '@cairn/errors';
import { formatLocality, isLive } from '@cairn/cluster';
import { joinHostPort } from '@cairn/metrics';
import { primaryIndexSpan } from '@cairn/catalog';
import {
  ClusterServiceService,
  DataServiceService,
  SqlServiceService,
  type ExecuteRequest,
  type ExecuteResponse,
  type FingerprintRequest,
  type FingerprintResponse,
  type GetLeaderResponse,
  type GetTableRequest,
  type GetTableResponse,
  TableDescriptor,
  type ListNodesResponse,
  type ScanRequest,
  type ScanResponse,
  type WriteRequest,
  type WriteResponse,
} from '@cairn/proto';
import { ObjectKind } from '@cairn/proto';
import type { LeaderCapabilities } from '../leader-capabilities.js';
import { executeSql } from '../statements/execute.js';
import { toResponse } from '../statements/result.js';
import { unaryCall, type ApiCallContext } from './api-call.js';
import { guardServer, type ApiSecurity } from '../auth/guarded-server.js';
import { AuditLog } from '../auth/audit-log.js';
import { createLogger } from '@cairn/metrics';
import { jobService } from './job-service.js';
import { scheduleService } from './schedule-service.js';
import { backupService } from './backup-service.js';
import { apiKeyService } from './api-key-service.js';

/** What the API needs from the coordinator: the leader when this process is one. */
export interface ApiContext extends ApiCallContext {
  coordinatorId: string;
  clusterId: string;
  /** The address this coordinator advertises (what the lease names and clients dial). */
  advertisedAddress(): string;
}

export function buildServices(ctx: ApiContext): Array<[object, UntypedServiceImplementation]> {
  const sql = {
    execute: unaryCall<ExecuteRequest, ExecuteResponse>(ctx, 'SqlService', 'execute', async (leader, req) => {
      const results = await executeSql(leader, req.sql, req.database, req.user, req.timeZone);
      const last = results[results.length - 1];
      if (!last) return { columns: [], rows: [], tag: '', database: req.database, jobIds: [], timeZone: req.timeZone };
      return toResponse(last, last.database ?? req.database);
    }),
  };
  const cluster = {
    listNodes: unaryCall<unknown, ListNodesResponse>(ctx, 'ClusterService', 'listNodes', async (leader: Pick<LeaderCapabilities, 'nodes'>) => {
      const nodes = leader.nodes.allNodes();
      return {
        nodes: nodes.map((n) => ({
          nodeId: n.nodeId,
          address: n.address,
          locality: formatLocality(n.locality),
          isLive: isLive(n),
          ranges: n.ranges,
          startedAtMs: n.startedAtMs,
          heartbeatAtMs: n.heartbeatAtMs,
          appliedSeq: n.appliedSeq,
        })),
      };
    }),
    getLeader: unaryCall<unknown, GetLeaderResponse>(ctx, 'ClusterService', 'getLeader', async () => ({
      coordinatorId: ctx.coordinatorId,
      grpcAddress: ctx.advertisedAddress(),
      clusterId: ctx.clusterId,
    })),
  };
  const data = {
    write: unaryCall<WriteRequest, WriteResponse>(ctx, 'DataService', 'write', async (leader: Pick<LeaderCapabilities, 'readiness' | 'restoreGate' | 'writes'>, req) => {
      leader.readiness.assertReady();
      await leader.restoreGate.assertWritable();
      const { stored } = await leader.writes.writeLock.run(async () => ({ stored: leader.writes.appendWrite(req.ops).stored }));
      const timestamp = await stored;
      return { timestamp };
    }),
    scan: unaryCall<ScanRequest, ScanResponse>(ctx, 'DataService', 'scan', async (leader: Pick<LeaderCapabilities, 'readiness' | 'reads'>, req) => {
      leader.readiness.assertReady();
      const point = leader.reads.readPoint();
      const ts = req.timestamp > 0n ? req.timestamp : point.timestamp;
      const kvs = [];
      for await (const kv of leader.reads.reader.scan({ start: req.startKey, end: req.endKey }, ts, point.seq, req.limit)) kvs.push(kv);
      return { kvs, timestamp: ts };
    }),
    getTable: unaryCall<GetTableRequest, GetTableResponse>(ctx, 'DataService', 'getTable', async (leader: Pick<LeaderCapabilities, 'readiness' | 'catalog'>, req) => {
      leader.readiness.assertReady();
      const t = leader.catalog.resolveTable({ db: req.database, table: req.table }, req.database);
      return { descriptor: TableDescriptor.encode(t).finish() };
    }),
    fingerprint: unaryCall<FingerprintRequest, FingerprintResponse>(ctx, 'DataService', 'fingerprint', async (leader: Pick<LeaderCapabilities, 'readiness' | 'reads' | 'catalog'>, req) => {
      leader.readiness.assertReady();
      const point = leader.reads.readPoint();
      const ts = req.timestamp > 0n ? req.timestamp : point.timestamp;
      const db = leader.catalog.resolveDatabase(req.database);
      const tables = req.table
        ? [leader.catalog.resolveTable({ db: req.database, table: req.table }, req.database)]
        : leader.catalog.tablesIn(db.id).filter((t) => t.kind === ObjectKind.TABLE);
      const out = [];
      for (const t of tables) {
        const fp = await leader.reads.reader.fingerprint(primaryIndexSpan(t), t, ts, point.seq, req.nodeId || undefined);
        out.push({ databaseName: db.name, tableName: t.name, fingerprint: fp.fingerprint });
      }
      return { tables: out, timestamp: ts };
    }),
  };
  return [
    [SqlServiceService, sql as UntypedServiceImplementation],
    [ClusterServiceService, cluster as UntypedServiceImplementation],
    [DataServiceService, data as UntypedServiceImplementation],
    jobService(ctx),
    scheduleService(ctx),
    backupService(ctx),
    apiKeyService(ctx),
  ];
}

export interface ApiServer {
  /** host:port bound (the port chosen when 0 was asked for). */
  address: string;
  port: number;
  /**
   * Sets what `grpc.health.v1.Health` answers, for the whole server ('') and each cairn
   * service: SERVING when the coordinator is ready, NOT_SERVING before that and while draining.
   */
  setServing(serving: boolean): void;
  stop(): Promise<void>;
}

/** Names health clients may ask about: '' (the server) and each service the API serves. */
const HEALTH_SERVICES = ['', 'cairn.v1.SqlService', 'cairn.v1.ClusterService', 'cairn.v1.DataService', 'cairn.v1.JobService', 'cairn.v1.ScheduleService', 'cairn.v1.BackupService', 'cairn.v1.ApiKeyService'];

export async function startApiServer(
  ctx: ApiContext,
  host: string,
  port: number,
  security: ApiSecurity = { mode: 'insecure', audit: new AuditLog(createLogger('audit')) },
): Promise<ApiServer> {
  const server = new Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  // Before any service is added: every one (health excepted) is authenticated and authorized.
  guardServer(server, security, ctx.leader);
  for (const [def, impl] of buildServices(ctx)) server.addService(def as never, impl);
  // NOT_SERVING until the coordinator says it is ready: a load balancer or Kubernetes probe
  // must not send traffic to a coordinator that knows no leader yet.
  const health = new HealthImplementation(Object.fromEntries(HEALTH_SERVICES.map((s) => [s, 'NOT_SERVING' as const])));
  health.addToServer(server);
  addReflection(server);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(joinHostPort(host, port), security.mode === 'secure' ? security.certificates.serverCredentials() : ServerCredentials.createInsecure(), (err, p) => (err ? reject(
      new CairnError(ErrorCode.Unavailable, `cannot listen on ${joinHostPort(host, port)}: ${err.message}`, { cause: err }),
    ) : resolve(p))),
  );
  return {
    address: joinHostPort(host, bound),
    port: bound,
    setServing: (serving) => {
      for (const name of HEALTH_SERVICES) health.setStatus(name, serving ? 'SERVING' : 'NOT_SERVING');
    },
    stop: () =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 3000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  };
}

/**
 * Server reflection (grpcurl, `buf curl`, Postman discover the API without the .proto files),
 * described from the repository's proto/ directory; skipped when it is not shipped alongside.
 */
function addReflection(server: Server): void {
  const protoRoot = fileURLToPath(new URL('../../../../proto', import.meta.url));
  if (!existsSync(`${protoRoot}/cairn/v1/api.proto`)) return;
  const definition = loadSync(['cairn/v1/api.proto', 'cairn/v1/job_service.proto', 'cairn/v1/schedule_service.proto', 'cairn/v1/backup_service.proto'], { includeDirs: [protoRoot], longs: String, keepCase: true });
  new ReflectionService(definition).addToServer(server);
}
