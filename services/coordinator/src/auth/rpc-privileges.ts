import { FIRST_USER_ID, compareKeys, decodeTableId, tableSpan } from '@cairn/keys';
import { DescriptorState, type FingerprintRequest, type ScanRequest } from '@cairn/proto';
import type { CatalogSource, PrivilegeChecking } from '../leader-capabilities.js';
import { ANYONE, authorize, checkSessionUser, type Requirement } from '../privileges/privilege-checks.js';
import { objectDirectory } from '../privileges/privilege-statements.js';
import { ROOT_USER } from '../privileges/privilege-model.js';

/**
 * The privilege each RPC needs, decided beside the layer that authenticates every call
 * (guarded-server.ts). An RPC without an entry needs the admin role: a service added to the
 * server is closed to ordinary users until someone decides what it needs here.
 *
 * SqlService.Execute needs nothing more than a valid user here because each statement is then
 * checked on its own (privilege-checks.ts), exactly as CockroachDB checks SQL.
 */
type RpcRequirement = (leader: Pick<CatalogSource, 'catalog'>, request: unknown) => Requirement;

const anyone: RpcRequirement = () => ANYONE;
const admin = (action: string): RpcRequirement => () => ({ kind: 'admin', action });

/** SELECT on the one user table a scanned span lies in; any other span (system keys, several tables) is admin-only. */
function scanRequirement(leader: Pick<CatalogSource, 'catalog'>, request: unknown): Requirement {
  const req = request as ScanRequest;
  const wide: Requirement = { kind: 'admin', action: 'scan keys outside a single table' };
  let id: number;
  try {
    id = decodeTableId(req.startKey);
  } catch {
    return wide;
  }
  const span = tableSpan(id);
  if (id < FIRST_USER_ID || compareKeys(req.startKey, span.start) < 0 || req.endKey.length === 0 || compareKeys(req.endKey, span.end) > 0) return wide;
  const table = leader.catalog.tableById(id);
  const db = table === undefined ? undefined : leader.catalog.databaseById(table.parentId);
  if (table === undefined || db === undefined || table.state === DescriptorState.DROPPED) return wide;
  return { kind: 'select', tables: [{ database: db.name, table: table.name }] };
}

function fingerprintRequirement(_leader: unknown, request: unknown): Requirement {
  const req = request as FingerprintRequest;
  return { kind: 'select', tables: [req.table ? { database: req.database, table: req.table } : { database: req.database }] };
}

/** Full method path → what it requires of a non-admin user. */
export const RPC_REQUIREMENTS: Readonly<Record<string, RpcRequirement>> = {
  '/cairn.v1.SqlService/Execute': anyone,
  '/cairn.v1.ClusterService/ListNodes': anyone,
  '/cairn.v1.ClusterService/GetLeader': anyone,
  // Raw key-value writes bypass every table's schema and privileges.
  '/cairn.v1.DataService/Write': admin('write raw key-value pairs (DataService.Write)'),
  '/cairn.v1.DataService/Scan': scanRequirement,
  '/cairn.v1.DataService/Fingerprint': fingerprintRequirement,
  // As SHOW CREATE TABLE: a table's shape is visible to every user.
  '/cairn.v1.DataService/GetTable': anyone,
  // The job RPCs run the same checks as SHOW JOBS / PAUSE JOB ... (job-service.ts): a
  // non-admin sees and controls only its own jobs, which the handlers filter on the
  // authenticated user this layer writes into the request's `user`.
  '/cairn.v1.JobService/ListJobs': anyone,
  '/cairn.v1.JobService/GetJob': anyone,
  '/cairn.v1.JobService/WatchJob': anyone,
  '/cairn.v1.JobService/PauseJob': anyone,
  '/cairn.v1.JobService/ResumeJob': anyone,
  '/cairn.v1.JobService/CancelJob': anyone,
  // BackupService and ScheduleService run the statement each call stands for through
  // executeSql (backup-service.ts, schedule-service.ts) as the authenticated user: the
  // statement's own checks decide (BACKUP needs BACKUP privileges, a schedule its owner)
  // and write the audit line, exactly as through SqlService.
  '/cairn.v1.BackupService/StartBackup': anyone,
  '/cairn.v1.BackupService/StartRestore': anyone,
  '/cairn.v1.BackupService/ListBackups': anyone,
  '/cairn.v1.BackupService/ShowBackup': anyone,
  '/cairn.v1.ScheduleService/ListSchedules': anyone,
  '/cairn.v1.ScheduleService/GetSchedule': anyone,
  '/cairn.v1.ScheduleService/CreateBackupSchedule': anyone,
  '/cairn.v1.ScheduleService/AlterBackupSchedule': anyone,
  '/cairn.v1.ScheduleService/PauseSchedule': anyone,
  '/cairn.v1.ScheduleService/ResumeSchedule': anyone,
  '/cairn.v1.ScheduleService/DropSchedule': anyone,
  // Describes the API's schema, nothing of the cluster's data.
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo': anyone,
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo': anyone,
};

/**
 * Throws INSUFFICIENT_PRIVILEGE (gRPC PERMISSION_DENIED) unless `user` may call `path` with
 * `request`. Runs on the leader, which holds the catalog the checks resolve names in.
 */
export async function authorizeRpc(leader: PrivilegeChecking, user: string, path: string, request: unknown): Promise<void> {
  if (user === ROOT_USER) return;
  const requirement = (RPC_REQUIREMENTS[path] ?? admin(`call ${path}`))(leader, request);
  const state = await leader.privileges.read();
  checkSessionUser(state, user);
  if (requirement.kind === 'anyone') return;
  // The checks resolve names in the catalog: until it is loaded they could not be fair.
  leader.readiness.assertReady();
  authorize(state, user, requirement, objectDirectory(leader.catalog));
}

/** For tests and docs: whether an RPC path has its own entry (else it is admin-only). */
export function hasRpcRequirement(path: string): boolean {
  return Object.hasOwn(RPC_REQUIREMENTS, path);
}

