import { CairnError, ErrorCode } from '@cairn/errors';
import type { JobSpec } from '@cairn/jobs';
import { JobDetails, type BackupJobDetails, type RestoreJobDetails } from '@cairn/proto';
import type { BackupDetails } from '../backup/backup-details.js';
import type { ExpiryDetails } from '../backup/expiry-details.js';
import type { RestoreDetails } from '../backup/restore-details.js';

/**
 * Job details at rest: one `JobDetails` protobuf message (a oneof per job type, versioned)
 * in the job's spec payload, with keys and data keys as bytes and timestamps as integers.
 * In memory the planners and resumers keep their `BackupDetails` / `RestoreDetails` /
 * `ExpiryDetails` shapes; this file converts both ways. Payloads written before (JSON with
 * hex, base64 and bigints as strings) still decode: they start with `{`, which an encoded
 * JobDetails never does (its first byte is the version field's tag, 0x08).
 */
const JOB_DETAILS_VERSION = 1;
const JSON_OPEN_BRACE = 0x7b;

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const base64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const unbase64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

function isLegacyJson(payload: Uint8Array): boolean {
  return payload.length > 0 && payload[0] === JSON_OPEN_BRACE;
}

function legacyJson<T>(payload: Uint8Array): T {
  return JSON.parse(new TextDecoder().decode(payload)) as T;
}

function decode(payload: Uint8Array, what: string): JobDetails {
  try {
    return JobDetails.decode(payload);
  } catch (err) {
    throw new CairnError(ErrorCode.Corruption, `cannot decode the ${what} job's details`, { cause: err });
  }
}

function wrong(what: string, got: JobDetails): CairnError {
  return new CairnError(ErrorCode.Corruption, `the job's details are not a ${what} job's (found ${got.details?.$case ?? 'none'})`);
}

export function encodeBackupDetails(d: BackupDetails): Uint8Array {
  const backup: BackupJobDetails = {
    collection: d.collection,
    fullSubdir: d.fullSubdir,
    layerPath: d.layerPath,
    incremental: d.incremental,
    movesLatest: d.movesLatest,
    startTime: BigInt(d.startTime),
    endTime: BigInt(d.endTime),
    revisionHistory: d.revisionHistory,
    revisionStartTime: d.revisionStartTime === undefined ? undefined : BigInt(d.revisionStartTime),
    protectedTimestampRecord: d.protectedTimestampRecord,
    protectedTimestamp: d.protectedTimestamp === undefined ? undefined : BigInt(d.protectedTimestamp),
    executionLocality: d.executionLocality,
    isFullCluster: d.isFullCluster,
    spans: d.spans.map((s) => ({ start: unhex(s.start), end: unhex(s.end), startTime: BigInt(s.startTime), replicas: s.replicas })),
    descriptors: d.descriptors.map(unbase64),
    descriptorRevisions: (d.descriptorRevisions ?? []).map((r) => ({
      id: r.id,
      timestamp: BigInt(r.timestamp),
      descriptor: r.descriptor === undefined ? undefined : unbase64(r.descriptor),
    })),
    completeDatabaseIds: d.completeDatabaseIds,
    dependencies: d.dependencies,
    backupId: d.backupId,
    minAppliedSeq: BigInt(d.minAppliedSeq),
    targetFileSize: BigInt(d.targetFileSize),
    encryptionKey: d.encryptionKey ? unhex(d.encryptionKey) : new Uint8Array(0),
    grants: d.grants ?? [],
    clusterMetadata: d.clusterMetadata,
  };
  return JobDetails.encode({ version: JOB_DETAILS_VERSION, details: { $case: 'backup', value: backup } }).finish();
}

export function decodeBackupDetails(spec: Pick<JobSpec, 'payload'>): BackupDetails {
  if (isLegacyJson(spec.payload)) return legacyJson<BackupDetails>(spec.payload);
  const got = decode(spec.payload, 'BACKUP');
  if (got.details?.$case !== 'backup') throw wrong('BACKUP', got);
  const b = got.details.value;
  return {
    collection: b.collection,
    fullSubdir: b.fullSubdir,
    layerPath: b.layerPath,
    incremental: b.incremental,
    movesLatest: b.movesLatest,
    startTime: String(b.startTime),
    endTime: String(b.endTime),
    revisionHistory: b.revisionHistory,
    ...(b.revisionStartTime === undefined ? {} : { revisionStartTime: String(b.revisionStartTime) }),
    ...(b.protectedTimestampRecord === undefined ? {} : { protectedTimestampRecord: b.protectedTimestampRecord }),
    ...(b.protectedTimestamp === undefined ? {} : { protectedTimestamp: String(b.protectedTimestamp) }),
    executionLocality: b.executionLocality,
    isFullCluster: b.isFullCluster,
    spans: b.spans.map((s) => ({ start: hex(s.start), end: hex(s.end), startTime: String(s.startTime), replicas: s.replicas })),
    descriptors: b.descriptors.map(base64),
    ...(b.descriptorRevisions.length === 0
      ? {}
      : {
          descriptorRevisions: b.descriptorRevisions.map((r) => ({
            id: r.id,
            timestamp: String(r.timestamp),
            ...(r.descriptor === undefined ? {} : { descriptor: base64(r.descriptor) }),
          })),
        }),
    completeDatabaseIds: b.completeDatabaseIds,
    dependencies: b.dependencies,
    backupId: b.backupId,
    minAppliedSeq: Number(b.minAppliedSeq),
    targetFileSize: Number(b.targetFileSize),
    ...(b.encryptionKey.length === 0 ? {} : { encryptionKey: hex(b.encryptionKey) }),
    ...(b.grants.length === 0 ? {} : { grants: b.grants }),
    ...(b.clusterMetadata === undefined ? {} : { clusterMetadata: b.clusterMetadata }),
  };
}

export function encodeRestoreDetails(d: RestoreDetails): Uint8Array {
  const restore: RestoreJobDetails = {
    layers: d.layers.map((uris) => ({ uris })),
    endTime: BigInt(d.endTime),
    descriptors: d.descriptors.map(unbase64),
    names: d.names,
    rewrites: d.rewrites,
    items: d.items.map((it) => ({ start: unhex(it.start), end: unhex(it.end), files: it.files })),
    newTableIds: d.newTableIds,
    encryptionKey: d.encryptionKey ? unhex(d.encryptionKey) : new Uint8Array(0),
    executionLocality: d.executionLocality ?? [],
    grants: d.grants ?? [],
    clusterMetadata: d.clusterMetadata,
  };
  return JobDetails.encode({ version: JOB_DETAILS_VERSION, details: { $case: 'restore', value: restore } }).finish();
}

export function decodeRestoreDetails(spec: Pick<JobSpec, 'payload'>): RestoreDetails {
  if (isLegacyJson(spec.payload)) return legacyJson<RestoreDetails>(spec.payload);
  const got = decode(spec.payload, 'RESTORE');
  if (got.details?.$case !== 'restore') throw wrong('RESTORE', got);
  const r = got.details.value;
  return {
    layers: r.layers.map((l) => ({ ...l.uris })),
    endTime: String(r.endTime),
    descriptors: r.descriptors.map(base64),
    names: r.names,
    rewrites: r.rewrites,
    items: r.items.map((it) => ({ start: hex(it.start), end: hex(it.end), files: it.files })),
    newTableIds: r.newTableIds,
    ...(r.encryptionKey.length === 0 ? {} : { encryptionKey: hex(r.encryptionKey) }),
    ...(r.executionLocality.length === 0 ? {} : { executionLocality: r.executionLocality }),
    ...(r.grants.length === 0 ? {} : { grants: r.grants }),
    ...(r.clusterMetadata === undefined ? {} : { clusterMetadata: r.clusterMetadata }),
  };
}

export function encodeExpiryDetails(d: ExpiryDetails): Uint8Array {
  return JobDetails.encode({
    version: JOB_DETAILS_VERSION,
    details: { $case: 'backupExpiry', value: { collection: d.collection, retention: d.retention, retentionMs: BigInt(d.retentionMs) } },
  }).finish();
}

export function decodeExpiryDetails(spec: Pick<JobSpec, 'payload'>): ExpiryDetails {
  if (isLegacyJson(spec.payload)) return legacyJson<ExpiryDetails>(spec.payload);
  const got = decode(spec.payload, 'BACKUP EXPIRY');
  if (got.details?.$case !== 'backupExpiry') throw wrong('BACKUP EXPIRY', got);
  const e = got.details.value;
  return { collection: e.collection, retention: e.retention, retentionMs: Number(e.retentionMs) };
}
