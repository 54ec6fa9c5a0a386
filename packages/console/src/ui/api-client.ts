// The console's view of the HTTP JSON API under /api/v1/ (services/coordinator/src/managed/
// openapi.ts is the contract; the console reads nothing else). Field names stay as the API
// spells them so the two can be compared line by line.

export type FrequencyMinutes = number;

export interface Cluster {
  id: string;
  name: string;
  secure: boolean;
}

export interface BackupsConfig {
  enabled: boolean;
  frequency_minutes: number;
  retention_days: number;
  retention_modifiable: boolean;
  collection_uri: string | null;
}

export interface Pagination {
  next_page?: string;
  limit: number;
  total_results: number;
}

export interface Backup {
  id: string;
  as_of_time: string;
  status: 'IN_PROGRESS' | 'COMPLETE';
  type: 'FULL' | 'INCREMENTAL';
  expires_at: string;
  database_count: number;
  full_backup_id: string;
}

export interface BackupDatabase {
  name: string;
  table_count: number;
}

export interface BackupTable {
  name: string;
  schema: string;
}

export interface IncompleteBackup {
  job_id: string;
  status: 'PENDING' | 'RUNNING' | 'PAUSED' | 'FAILED' | 'CANCELED';
  started_at: string;
  duration_seconds: number;
  error_code: string | null;
  error_message: string | null;
  description: string;
}

export type RestoreType = 'CLUSTER' | 'DATABASE' | 'TABLE';

export interface CreateRestoreRequest {
  backup_id: string;
  type: RestoreType;
  source?: string;
  destination_database?: string;
  skip_missing_foreign_keys?: boolean;
  skip_missing_sequences?: boolean;
  skip_missing_views?: boolean;
  skip_localities_check?: boolean;
}

export interface Restore {
  id: string;
  backup_id: string;
  backup_taken_at: string;
  type: RestoreType;
  source: string;
  destination: string;
  status: 'PREPARING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  created_at: string;
  completed_at: string | null;
  fraction_completed: number;
  error_message: string | null;
}

export interface Job {
  id: string;
  type: string;
  description: string;
  status: string;
  running_status: string;
  fraction_completed: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  error_message: string | null;
}

export interface ClusterNode {
  id: number;
  address: string;
  locality: string;
  status: 'LIVE' | 'DEAD';
  ranges: number;
  started_at: string | null;
  last_heartbeat_at: string | null;
}

export interface Schedule {
  id: string;
  label: string;
  status: 'ACTIVE' | 'PAUSED';
  recurrence: string;
  next_run_at: string | null;
  jobs_running: number;
  state: string;
}

/** An API error: the HTTP status and the API's `{code, message}`. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const KEY_STORAGE = 'cairn.apiKey';

/** Time-range and page arguments of the list endpoints. */
export interface ListQuery {
  startTime?: Date;
  endTime?: Date;
  limit?: number;
  page?: string;
}

/**
 * Calls the API of the coordinator that served the page (same origin). A secure cluster's API
 * key is kept in sessionStorage, for this tab only, and sent as a bearer token.
 */
export class ApiClient {
  /** Set by `connect`: the one cluster this coordinator serves. */
  cluster: Cluster | undefined;
  /** The key prompt on screen, if any. */
  private asking: Promise<string | undefined> | undefined;

  /** Asked for a key when the API answers 401; resolves to undefined if the user gives up. */
  constructor(private readonly askForKey: (reason: string) => Promise<string | undefined>) {}

  async connect(): Promise<Cluster> {
    const r = await this.request<{ clusters: Cluster[] }>('GET', '/api/v1/clusters');
    const first = r.clusters[0];
    if (!first) throw new ApiError(404, 'NOT_FOUND', 'this coordinator serves no cluster');
    this.cluster = first;
    return first;
  }

  private clusterPath(rest: string): string {
    if (!this.cluster) throw new Error('not connected');
    return `/api/v1/clusters/${encodeURIComponent(this.cluster.id)}/${rest}`;
  }

  getConfig(): Promise<BackupsConfig> {
    return this.request('GET', this.clusterPath('backups-config'));
  }

  updateConfig(change: Partial<Pick<BackupsConfig, 'enabled' | 'frequency_minutes' | 'retention_days'>>): Promise<BackupsConfig> {
    return this.request('PATCH', this.clusterPath('backups-config'), change);
  }

  listBackups(q: ListQuery = {}): Promise<{ backups: Backup[]; pagination: Pagination }> {
    return this.request('GET', this.clusterPath(`backups${listParams(q)}`));
  }

  listDatabases(backupId: string): Promise<{ databases: BackupDatabase[] }> {
    return this.request('GET', this.clusterPath(`backups/${encodeURIComponent(backupId)}/databases`));
  }

  listTables(backupId: string, database: string): Promise<{ tables: BackupTable[] }> {
    return this.request('GET', this.clusterPath(`backups/${encodeURIComponent(backupId)}/databases/${encodeURIComponent(database)}/tables`));
  }

  listIncompleteBackups(q: ListQuery = {}): Promise<{ incomplete_backups: IncompleteBackup[]; pagination: Pagination }> {
    return this.request('GET', this.clusterPath(`incomplete-backups${listParams(q)}`));
  }

  listRestores(q: ListQuery = {}): Promise<{ restores: Restore[]; pagination: Pagination }> {
    return this.request('GET', this.clusterPath(`restores${listParams(q)}`));
  }

  /** One key per user action, so that a resent POST (the browser may resend one whose connection dropped) starts one restore. */
  createRestore(req: CreateRestoreRequest, idempotencyKey: string = randomKey()): Promise<Restore> {
    return this.request('POST', this.clusterPath('restores'), req, { 'idempotency-key': idempotencyKey });
  }

  /** The newest `limit` jobs, of the given statuses only when any are given. */
  listJobs(statuses: readonly string[], limit: number): Promise<{ jobs: Job[] }> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (statuses.length > 0) q.set('status', statuses.join(','));
    return this.request('GET', this.clusterPath(`jobs?${q.toString()}`));
  }

  listNodes(): Promise<{ nodes: ClusterNode[] }> {
    return this.request('GET', this.clusterPath('nodes'));
  }

  listSchedules(): Promise<{ schedules: Schedule[] }> {
    return this.request('GET', this.clusterPath('schedules'));
  }

  setSchedulePaused(id: string, paused: boolean): Promise<Schedule> {
    return this.request('POST', this.clusterPath(`schedules/${encodeURIComponent(id)}/${paused ? 'pause' : 'resume'}`), {});
  }

  /** Forgets the stored key (the "Sign out" of a secure cluster's console). */
  forgetKey(): void {
    sessionStorage.removeItem(KEY_STORAGE);
  }

  private async request<T>(method: string, path: string, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<T> {
    for (;;) {
      const key = sessionStorage.getItem(KEY_STORAGE);
      const headers: Record<string, string> = { accept: 'application/json', ...extraHeaders };
      if (body !== undefined) headers['content-type'] = 'application/json';
      if (key !== null) headers['authorization'] = `Bearer ${key}`;
      const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      let json: unknown;
      try {
        json = text === '' ? {} : JSON.parse(text);
      } catch {
        throw new ApiError(res.status, 'INTERNAL', `${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
      }
      if (res.ok) return json as T;
      const err = json as { code?: string; message?: string };
      const apiError = new ApiError(res.status, err.code ?? String(res.status), err.message ?? res.statusText);
      if (res.status !== 401) throw apiError;
      // A missing or unknown key: ask for one and try again; giving up surfaces the 401. Every
      // poll that meets the 401 meanwhile waits on the same question instead of asking again.
      sessionStorage.removeItem(KEY_STORAGE);
      this.asking ??= this.askForKey(key === null ? 'This cluster runs in secure mode: enter an API key.' : `The API key was refused: ${apiError.message}`).finally(() => {
        this.asking = undefined;
      });
      const entered = await this.asking;
      if (entered === undefined || entered.trim() === '') throw apiError;
      sessionStorage.setItem(KEY_STORAGE, entered.trim());
    }
  }
}

/** 128 random bits as hex (getRandomValues, unlike randomUUID, works on a plain-http page too). */
function randomKey(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

function listParams(q: ListQuery): string {
  const p = new URLSearchParams();
  if (q.startTime) p.set('start_time', q.startTime.toISOString());
  if (q.endTime) p.set('end_time', q.endTime.toISOString());
  if (q.limit !== undefined) p.set('pagination.limit', String(q.limit));
  if (q.page !== undefined) p.set('pagination.page', q.page);
  const s = p.toString();
  return s === '' ? '' : `?${s}`;
}
