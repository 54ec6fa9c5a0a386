import type { ClusterApiRoute } from '../managed/managed-api.js';
import { unavailableResponse, type OpenApiExtension } from '../managed/openapi.js';
import { listJobs, listNodes, listSchedules, setSchedulePaused } from './cluster-views.js';

/**
 * The endpoints the console adds to the managed-backups API (routes below
 * `/api/v1/clusters/{cluster_id}/`): its router authenticates them, forwards them to the
 * leader, refuses write routes to CLUSTER_VIEWER keys and frames their errors. Having passed
 * that role check, they act as root, as the API's restores do.
 */
const ACTING_USER = 'root';

export const CONSOLE_API_ROUTES: readonly ClusterApiRoute[] = [
  { method: 'GET', path: 'jobs', write: false, handler: (leader, _p, _b, query) => listJobs(leader, ACTING_USER, query) },
  { method: 'GET', path: 'nodes', write: false, handler: (leader) => listNodes(leader, ACTING_USER) },
  { method: 'GET', path: 'schedules', write: false, handler: (leader) => listSchedules(leader, ACTING_USER) },
  { method: 'POST', path: 'schedules/:schedule_id/pause', write: true, handler: (leader, p) => setSchedulePaused(leader, ACTING_USER, p['schedule_id'] ?? '', true) },
  { method: 'POST', path: 'schedules/:schedule_id/resume', write: true, handler: (leader, p) => setSchedulePaused(leader, ACTING_USER, p['schedule_id'] ?? '', false) },
];

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const ok = (schema: string) => ({ description: 'OK', content: { 'application/json': { schema: ref(schema) } } });
const error = (description: string) => ({ description, content: { 'application/json': { schema: ref('Error') } } });
const clusterId = { $ref: '#/components/parameters/ClusterId' };
const readErrors = {
  '400': error('A malformed parameter (code INVALID_ARGUMENT).'),
  '401': error('Secure mode: no API key, or an unknown one (code UNAUTHENTICATED).'),
  '404': error('No such cluster or schedule (code NOT_FOUND).'),
  '503': unavailableResponse,
};
const writeErrors = { ...readErrors, '403': error('The API key is a CLUSTER_VIEWER (code INSUFFICIENT_PRIVILEGE).') };
const dateTime = { type: 'string', format: 'date-time' };
const nullableDateTime = { ...dateTime, nullable: true };
const scheduleIdParam = { name: 'schedule_id', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9]+$' } };

const PATHS = {
  '/api/v1/clusters/{cluster_id}/jobs': {
    parameters: [clusterId],
    get: {
      operationId: 'ListJobs',
      summary: 'Jobs as SHOW JOBS lists them (BACKUP, RESTORE, BACKUP EXPIRY), newest first, with their progress.',
      parameters: [
        {
          name: 'status',
          in: 'query',
          description: 'Only jobs in these statuses: one or more of JobStatus, comma-separated (e.g. RUNNING,PAUSED).',
          schema: { type: 'string' },
        },
        { name: 'limit', in: 'query', description: 'At most this many (default 100).', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
      ],
      responses: { '200': ok('ListJobsResponse'), ...readErrors },
    },
  },
  '/api/v1/clusters/{cluster_id}/nodes': {
    parameters: [clusterId],
    get: { operationId: 'ListNodes', summary: 'Storage nodes as SHOW NODES lists them, with their locality and liveness.', responses: { '200': ok('ListNodesResponse'), ...readErrors } },
  },
  '/api/v1/clusters/{cluster_id}/schedules': {
    parameters: [clusterId],
    get: { operationId: 'ListSchedules', summary: 'Schedules as SHOW SCHEDULES lists them (the managed ones included).', responses: { '200': ok('ListSchedulesResponse'), ...readErrors } },
  },
  '/api/v1/clusters/{cluster_id}/schedules/{schedule_id}/pause': {
    parameters: [clusterId, scheduleIdParam],
    post: { operationId: 'PauseSchedule', summary: 'PAUSE SCHEDULE: the schedule starts no run until resumed.', responses: { '200': ok('Schedule'), ...writeErrors } },
  },
  '/api/v1/clusters/{cluster_id}/schedules/{schedule_id}/resume': {
    parameters: [clusterId, scheduleIdParam],
    post: { operationId: 'ResumeSchedule', summary: 'RESUME SCHEDULE: the schedule runs again at its next time.', responses: { '200': ok('Schedule'), ...writeErrors } },
  },
} as const;

const SCHEMAS = {
  JobStatus: {
    type: 'string',
    enum: ['PENDING', 'RUNNING', 'PAUSED', 'PAUSE_REQUESTED', 'CANCEL_REQUESTED', 'REVERTING', 'SUCCEEDED', 'FAILED', 'CANCELED', 'REVERT_FAILED'],
  },
  Job: {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'type', 'description', 'status', 'running_status', 'fraction_completed', 'created_at', 'started_at', 'finished_at', 'error_message'],
    properties: {
      id: { type: 'string' },
      type: { type: 'string', description: 'BACKUP, RESTORE or BACKUP EXPIRY.' },
      description: { type: 'string', description: 'The statement, secrets redacted.' },
      status: ref('JobStatus'),
      running_status: { type: 'string' },
      fraction_completed: { type: 'number', minimum: 0, maximum: 1 },
      created_at: dateTime,
      started_at: nullableDateTime,
      finished_at: nullableDateTime,
      error_message: { type: 'string', nullable: true },
    },
  },
  ListJobsResponse: { type: 'object', additionalProperties: false, required: ['jobs'], properties: { jobs: { type: 'array', items: ref('Job') } } },
  Node: {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'address', 'locality', 'status', 'ranges', 'started_at', 'last_heartbeat_at'],
    properties: {
      id: { type: 'integer' },
      address: { type: 'string' },
      locality: { type: 'string', description: 'key=value tiers, e.g. region=us-east1,zone=us-east1-b.' },
      status: { type: 'string', enum: ['LIVE', 'DEAD'] },
      ranges: { type: 'integer' },
      started_at: nullableDateTime,
      last_heartbeat_at: nullableDateTime,
    },
  },
  ListNodesResponse: { type: 'object', additionalProperties: false, required: ['nodes'], properties: { nodes: { type: 'array', items: ref('Node') } } },
  Schedule: {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'label', 'status', 'state', 'recurrence', 'next_run_at', 'jobs_running'],
    properties: {
      id: { type: 'string' },
      label: { type: 'string' },
      status: { type: 'string', enum: ['ACTIVE', 'PAUSED'] },
      state: { type: 'string', description: "SHOW SCHEDULES' state: why it paused, its last error." },
      recurrence: { type: 'string' },
      next_run_at: nullableDateTime,
      jobs_running: { type: 'integer' },
    },
  },
  ListSchedulesResponse: { type: 'object', additionalProperties: false, required: ['schedules'], properties: { schedules: { type: 'array', items: ref('Schedule') } } },
} as const;

/** The console endpoints' part of `/api/v1/openapi.json`. */
export const CONSOLE_OPENAPI: OpenApiExtension = { paths: PATHS, schemas: SCHEMAS };
