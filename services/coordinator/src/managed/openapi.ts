import { API_KEY_ROLES, FREQUENCY_MINUTES, RETENTION_DAYS } from './allowed-values.js';

/**
 * The managed-backups HTTP API as an OpenAPI 3 document, served at `/api/v1/openapi.json`.
 * It is the contract the console builds against and what the e2e test validates every real
 * response with, so a field renamed in the handlers without changing it here fails a test.
 */

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});
/** 503: transient, with the Retry-After header the API sends with it (managed-api.ts sendError). */
export const unavailableResponse = {
  ...errorResponse('No leader right now; retry after Retry-After seconds (code UNAVAILABLE).'),
  headers: { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 1 } } },
};
const ok = (schema: string) => ({
  description: 'OK',
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${schema}` } } },
});
const clusterIdParam = { $ref: '#/components/parameters/ClusterId' };
const pageParams = [
  { $ref: '#/components/parameters/PageToken' },
  { $ref: '#/components/parameters/PageLimit' },
  { $ref: '#/components/parameters/SortOrder' },
];
const timeRangeParams = [{ $ref: '#/components/parameters/StartTime' }, { $ref: '#/components/parameters/EndTime' }];
const readErrors = {
  '400': errorResponse('A malformed parameter (code INVALID_ARGUMENT).'),
  '401': errorResponse('Secure mode: no API key, or an unknown one (code UNAUTHENTICATED).'),
  '404': errorResponse('No such cluster, backup, database or restore (code NOT_FOUND).'),
  '503': unavailableResponse,
};
const writeErrors = {
  ...readErrors,
  '403': errorResponse('The API key is a CLUSTER_VIEWER (code INSUFFICIENT_PRIVILEGE).'),
  '409': errorResponse('The request conflicts with the current state (code FAILED_PRECONDITION).'),
};
const dateTime = { type: 'string', format: 'date-time' };
const nullableDateTime = { type: 'string', format: 'date-time', nullable: true };

/** Paths and schemas another module adds (the console's cluster views), merged in `openApiDocument`. */
export interface OpenApiExtension {
  readonly paths: Record<string, unknown>;
  readonly schemas: Record<string, unknown>;
}

/** The document with `extensions` merged in: what `/api/v1/openapi.json` serves. */
export function openApiDocument(extensions: readonly OpenApiExtension[] = []) {
  if (extensions.length === 0) return OPENAPI_DOCUMENT;
  return {
    ...OPENAPI_DOCUMENT,
    paths: Object.assign({}, OPENAPI_DOCUMENT.paths, ...extensions.map((e) => e.paths)) as Record<string, unknown>,
    components: {
      ...OPENAPI_DOCUMENT.components,
      schemas: Object.assign({}, OPENAPI_DOCUMENT.components.schemas, ...extensions.map((e) => e.schemas)) as Record<string, unknown>,
    },
  };
}

export const OPENAPI_DOCUMENT = {
  openapi: '3.0.3',
  info: {
    title: 'cairn managed backups API',
    version: '1',
    description:
      'Managed backups as CockroachDB Cloud describes them, served by every coordinator on its HTTP address ' +
      '(standbys forward to the leader). Insecure clusters need no credentials. Secure clusters (--certs-dir) ' +
      'need `Authorization: Bearer <key>`, a key printed by `cairn api-key create --name N --role R`; ' +
      'CLUSTER_ADMIN and CLUSTER_OPERATOR_WRITER may change settings and restore, CLUSTER_VIEWER only reads. ' +
      'Errors are `{"code": "...", "message": "one line"}` with cairn\'s error codes. Lists are paginated: ' +
      'pass `pagination.limit` (1-500, default 100) and, for the next page, `pagination.page` set to the ' +
      '`pagination.next_page` of the previous answer (absent on the last page). Times are RFC 3339 in UTC. ' +
      '64-bit job ids are strings.',
  },
  servers: [{ url: '/' }],
  security: [{ Bearer: [] }, {}],
  paths: {
    '/api/v1/clusters': {
      get: {
        operationId: 'ListClusters',
        summary: 'The cluster this coordinator serves (always exactly one).',
        responses: { '200': ok('ListClustersResponse'), '401': readErrors['401'], '503': readErrors['503'] },
      },
    },
    '/api/v1/clusters/{cluster_id}/backups-config': {
      parameters: [clusterIdParam],
      get: {
        operationId: 'GetBackupsConfig',
        summary: 'The managed-backup configuration.',
        responses: { '200': ok('BackupsConfig'), ...readErrors },
      },
      patch: {
        operationId: 'UpdateBackupsConfig',
        summary:
          'Changes any of enabled, frequency_minutes, retention_days. Enabling, or changing frequency or retention ' +
          'while enabled, takes a full backup at once. retention_days may be changed once (after that: 409). ' +
          'A value outside the allowed set is a 400 naming the allowed values.',
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/UpdateBackupsConfigRequest' } } },
        },
        responses: { '200': ok('BackupsConfig'), ...writeErrors },
      },
    },
    '/api/v1/clusters/{cluster_id}/backups': {
      parameters: [clusterIdParam],
      get: {
        operationId: 'ListBackups',
        summary:
          'Managed backups, newest first by default. Backups past their expiry, and incrementals whose full has ' +
          'expired, are never listed.',
        parameters: [...timeRangeParams, ...pageParams],
        responses: { '200': ok('ListBackupsResponse'), ...readErrors },
      },
    },
    '/api/v1/clusters/{cluster_id}/backups/{backup_id}/databases': {
      parameters: [clusterIdParam, { $ref: '#/components/parameters/BackupId' }],
      get: {
        operationId: 'ListBackupDatabases',
        summary: 'The databases in a completed backup that hold at least one table.',
        responses: { '200': ok('ListBackupDatabasesResponse'), ...readErrors, '409': writeErrors['409'] },
      },
    },
    '/api/v1/clusters/{cluster_id}/backups/{backup_id}/databases/{database_name}/tables': {
      parameters: [
        clusterIdParam,
        { $ref: '#/components/parameters/BackupId' },
        { name: 'database_name', in: 'path', required: true, schema: { type: 'string' } },
      ],
      get: {
        operationId: 'ListBackupTables',
        summary: 'The tables of one database in a completed backup.',
        responses: { '200': ok('ListBackupTablesResponse'), ...readErrors, '409': writeErrors['409'] },
      },
    },
    '/api/v1/clusters/{cluster_id}/incomplete-backups': {
      parameters: [clusterIdParam],
      get: {
        operationId: 'ListIncompleteBackups',
        summary: 'Managed backup jobs that did not (or not yet) succeed: failed, canceled, pending, running or paused.',
        parameters: [...timeRangeParams, ...pageParams],
        responses: { '200': ok('ListIncompleteBackupsResponse'), ...readErrors },
      },
    },
    '/api/v1/clusters/{cluster_id}/restores': {
      parameters: [clusterIdParam],
      get: {
        operationId: 'ListRestores',
        summary: 'Restore jobs from managed backups, newest first by default.',
        parameters: [...timeRangeParams, ...pageParams],
        responses: { '200': ok('ListRestoresResponse'), ...readErrors },
      },
      post: {
        operationId: 'CreateRestore',
        parameters: [
          {
            name: 'Idempotency-Key',
            in: 'header',
            required: false,
            description: 'A key of the client\'s choosing (1-128 letters, digits, "-", "_"): a repeat of the request with the same key returns the restore the first one started.',
            schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,128}$' },
          },
        ],
        summary:
          'Restores a cluster, a database or a table from a managed backup. A CLUSTER restore onto a cluster that ' +
          'holds user databases erases every one of them first; while it runs, writes fail with "cluster is being ' +
          'restored".',
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/CreateRestoreRequest' } } },
        },
        responses: { '200': ok('Restore'), ...writeErrors },
      },
    },
    '/api/v1/clusters/{cluster_id}/restores/{restore_id}': {
      parameters: [clusterIdParam, { name: 'restore_id', in: 'path', required: true, schema: { type: 'string' } }],
      get: {
        operationId: 'GetRestore',
        summary: 'One restore job.',
        responses: { '200': ok('Restore'), ...readErrors },
      },
    },
    '/api/v1/openapi.json': {
      get: {
        operationId: 'GetOpenApiDocument',
        summary: 'This document (no credentials needed).',
        security: [],
        responses: { '200': { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } } },
      },
    },
  },
  components: {
    securitySchemes: {
      Bearer: {
        type: 'http',
        scheme: 'bearer',
        description: `An API key from \`cairn api-key create\`; roles: ${API_KEY_ROLES.join(', ')}.`,
      },
    },
    parameters: {
      ClusterId: {
        name: 'cluster_id',
        in: 'path',
        required: true,
        description: "The cluster's UUID (GET /api/v1/clusters).",
        schema: { type: 'string', format: 'uuid' },
      },
      BackupId: {
        name: 'backup_id',
        in: 'path',
        required: true,
        description: 'A backup id from GET backups.',
        schema: { type: 'string' },
      },
      StartTime: {
        name: 'start_time',
        in: 'query',
        description: 'Only items whose time (a backup: as_of_time; a job: started or created) is at or after this.',
        schema: dateTime,
      },
      EndTime: {
        name: 'end_time',
        in: 'query',
        description: 'Only items whose time is before this.',
        schema: dateTime,
      },
      PageToken: {
        name: 'pagination.page',
        in: 'query',
        description: 'The next_page of the previous answer.',
        schema: { type: 'string' },
      },
      PageLimit: {
        name: 'pagination.limit',
        in: 'query',
        description: 'Items per page (default 100).',
        schema: { type: 'integer', minimum: 1, maximum: 500 },
      },
      SortOrder: {
        name: 'pagination.sort_order',
        in: 'query',
        description: 'By time: DESC (newest first, the default) or ASC.',
        schema: { type: 'string', enum: ['ASC', 'DESC'] },
      },
    },
    schemas: {
      Error: {
        type: 'object',
        required: ['code', 'message'],
        additionalProperties: false,
        properties: {
          code: {
            type: 'string',
            description: "cairn's error code, e.g. INVALID_ARGUMENT, NOT_FOUND, UNAUTHENTICATED, INSUFFICIENT_PRIVILEGE.",
          },
          message: { type: 'string', description: 'One line.' },
        },
      },
      Pagination: {
        type: 'object',
        required: ['limit', 'total_results'],
        additionalProperties: false,
        properties: {
          next_page: { type: 'string', description: 'Pass as pagination.page for the next page; absent on the last.' },
          limit: { type: 'integer' },
          total_results: { type: 'integer', description: 'Items matching the filter, over all pages.' },
        },
      },
      Cluster: {
        type: 'object',
        required: ['id', 'name', 'secure'],
        additionalProperties: false,
        properties: {
          id: { type: 'string', format: 'uuid' },
          name: { type: 'string' },
          secure: { type: 'boolean', description: 'Whether the cluster runs in secure mode (API keys required).' },
        },
      },
      ListClustersResponse: {
        type: 'object',
        required: ['clusters'],
        additionalProperties: false,
        properties: { clusters: { type: 'array', items: { $ref: '#/components/schemas/Cluster' } } },
      },
      BackupsConfig: {
        type: 'object',
        required: ['enabled', 'frequency_minutes', 'retention_days', 'retention_modifiable', 'collection_uri'],
        additionalProperties: false,
        properties: {
          enabled: { type: 'boolean' },
          frequency_minutes: { type: 'integer', enum: [...FREQUENCY_MINUTES] },
          retention_days: { type: 'integer', enum: [...RETENTION_DAYS] },
          retention_modifiable: {
            type: 'boolean',
            description: 'False once retention_days has been changed (it can be set once).',
          },
          collection_uri: {
            type: 'string',
            nullable: true,
            description: 'Where managed backups go (--managed-backups-uri), secrets redacted; null when not configured.',
          },
        },
      },
      UpdateBackupsConfigRequest: {
        type: 'object',
        additionalProperties: false,
        properties: {
          enabled: { type: 'boolean' },
          frequency_minutes: { type: 'integer', enum: [...FREQUENCY_MINUTES] },
          retention_days: { type: 'integer', enum: [...RETENTION_DAYS] },
        },
      },
      Backup: {
        type: 'object',
        required: ['id', 'as_of_time', 'status', 'type', 'expires_at', 'database_count', 'full_backup_id'],
        additionalProperties: false,
        properties: {
          id: { type: 'string' },
          as_of_time: { ...dateTime, description: 'Data From: the time the backup holds the data of.' },
          status: { type: 'string', enum: ['IN_PROGRESS', 'COMPLETE'] },
          type: { type: 'string', enum: ['FULL', 'INCREMENTAL'] },
          expires_at: { ...dateTime, description: 'Fixed when the backup was taken (as_of_time + the retention then).' },
          database_count: { type: 'integer', description: 'Databases with at least one table; 0 while in progress.' },
          full_backup_id: { type: 'string', description: "The full this backup's chain starts with (its own id for a full)." },
        },
      },
      ListBackupsResponse: {
        type: 'object',
        required: ['backups', 'pagination'],
        additionalProperties: false,
        properties: {
          backups: { type: 'array', items: { $ref: '#/components/schemas/Backup' } },
          pagination: { $ref: '#/components/schemas/Pagination' },
        },
      },
      BackupDatabase: {
        type: 'object',
        required: ['name', 'table_count'],
        additionalProperties: false,
        properties: { name: { type: 'string' }, table_count: { type: 'integer' } },
      },
      ListBackupDatabasesResponse: {
        type: 'object',
        required: ['databases'],
        additionalProperties: false,
        properties: { databases: { type: 'array', items: { $ref: '#/components/schemas/BackupDatabase' } } },
      },
      BackupTable: {
        type: 'object',
        required: ['name', 'schema'],
        additionalProperties: false,
        properties: { name: { type: 'string' }, schema: { type: 'string' } },
      },
      ListBackupTablesResponse: {
        type: 'object',
        required: ['tables'],
        additionalProperties: false,
        properties: { tables: { type: 'array', items: { $ref: '#/components/schemas/BackupTable' } } },
      },
      IncompleteBackup: {
        type: 'object',
        required: ['job_id', 'status', 'started_at', 'duration_seconds', 'error_code', 'error_message', 'description'],
        additionalProperties: false,
        properties: {
          job_id: { type: 'string' },
          status: { type: 'string', enum: ['PENDING', 'RUNNING', 'PAUSED', 'FAILED', 'CANCELED'] },
          started_at: { ...dateTime, description: 'When the job started (or was created, if it never started).' },
          duration_seconds: { type: 'number', description: 'How long it ran (until now while still running).' },
          error_code: { type: 'string', nullable: true },
          error_message: { type: 'string', nullable: true },
          description: { type: 'string', description: 'The BACKUP statement, secrets redacted.' },
        },
      },
      ListIncompleteBackupsResponse: {
        type: 'object',
        required: ['incomplete_backups', 'pagination'],
        additionalProperties: false,
        properties: {
          incomplete_backups: { type: 'array', items: { $ref: '#/components/schemas/IncompleteBackup' } },
          pagination: { $ref: '#/components/schemas/Pagination' },
        },
      },
      CreateRestoreRequest: {
        type: 'object',
        required: ['backup_id', 'type'],
        additionalProperties: false,
        properties: {
          backup_id: { type: 'string' },
          type: { type: 'string', enum: ['CLUSTER', 'DATABASE', 'TABLE'] },
          source: {
            type: 'string',
            description: 'DATABASE: the database; TABLE: db.table (or db.public.table). Absent for CLUSTER.',
          },
          destination_database: {
            type: 'string',
            description:
              'DATABASE: the new database name (default: the source name); TABLE: the database to restore into ' +
              '(created when it does not exist; default: the source database). Absent for CLUSTER.',
          },
          skip_missing_foreign_keys: { type: 'boolean' },
          skip_missing_sequences: { type: 'boolean' },
          skip_missing_views: { type: 'boolean' },
          skip_localities_check: { type: 'boolean' },
        },
      },
      Restore: {
        type: 'object',
        required: [
          'id',
          'backup_id',
          'backup_taken_at',
          'type',
          'source',
          'destination',
          'status',
          'created_at',
          'completed_at',
          'fraction_completed',
          'error_message',
        ],
        additionalProperties: false,
        properties: {
          id: { type: 'string', description: "The restore job's id." },
          backup_id: { type: 'string' },
          backup_taken_at: { ...dateTime, description: "The backup's as_of_time." },
          type: { type: 'string', enum: ['CLUSTER', 'DATABASE', 'TABLE'] },
          source: { type: 'string', description: 'The cluster name, the database, or db.table.' },
          destination: { type: 'string', description: 'The cluster name, the new database, or db.table.' },
          status: { type: 'string', enum: ['PREPARING', 'RUNNING', 'SUCCEEDED', 'FAILED'] },
          created_at: { ...dateTime, description: 'Restore start.' },
          completed_at: { ...nullableDateTime, description: 'Restore end (null while it runs).' },
          fraction_completed: { type: 'number', minimum: 0, maximum: 1 },
          error_message: { type: 'string', nullable: true },
        },
      },
      ListRestoresResponse: {
        type: 'object',
        required: ['restores', 'pagination'],
        additionalProperties: false,
        properties: {
          restores: { type: 'array', items: { $ref: '#/components/schemas/Restore' } },
          pagination: { $ref: '#/components/schemas/Pagination' },
        },
      },
    },
  },
} as const;
