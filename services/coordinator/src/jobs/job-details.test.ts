import { describe, expect, it } from 'vitest';
import { encodeJsonPayload } from '@cairn/jobs';
import { JobDetails } from '@cairn/proto';
import type { BackupDetails } from '../backup/backup-details.js';
import type { RestoreDetails } from '../backup/restore-details.js';
import {
  decodeBackupDetails,
  decodeExpiryDetails,
  decodeRestoreDetails,
  encodeBackupDetails,
  encodeExpiryDetails,
  encodeRestoreDetails,
} from './job-details.js';

const backup: BackupDetails = {
  collection: ['s3://bucket/backups?AWS_SECRET_ACCESS_KEY=s3cret'],
  fullSubdir: '/2026/12/06-050000.00',
  layerPath: '/2026/12/06-050000.00',
  incremental: false,
  movesLatest: true,
  startTime: '0',
  endTime: '1796533200123456789',
  revisionHistory: true,
  revisionStartTime: '1796533100000000000',
  protectedTimestampRecord: 'job-1',
  protectedTimestamp: '1796533100000000000',
  executionLocality: [{ key: 'region', value: 'us-east1' }],
  isFullCluster: false,
  spans: [{ start: 'f289', end: 'f28a', startTime: '0', replicas: [1, 2, 3] }],
  descriptors: [Buffer.from([8, 1, 18, 3]).toString('base64')],
  descriptorRevisions: [{ id: 104, timestamp: '1796533150000000000', descriptor: Buffer.from([1, 2]).toString('base64') }, { id: 105, timestamp: '1796533160000000000' }],
  completeDatabaseIds: [104],
  dependencies: [],
  backupId: 'b-1',
  minAppliedSeq: 4021,
  targetFileSize: 8 * 1024 * 1024,
  encryptionKey: '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff',
};

const restore: RestoreDetails = {
  layers: [{ default: 'nodelocal://1/b/2026/12/06-050000.00', 'region=us-east1': 'nodelocal://1/east/2026/12/06-050000.00' }],
  endTime: '1796533200123456789',
  descriptors: [Buffer.from([8, 1]).toString('base64')],
  names: [{ parentId: 0, name: 'bank_restored', id: 110 }],
  rewrites: [{ oldId: 104, newId: 110 }],
  items: [{ start: 'f289', end: 'f28a', files: [{ layer: 0, path: 'data/1.sst', locality: 'default' }] }],
  newTableIds: [111],
};

describe('job details at rest', () => {
  it('stores a BACKUP job as a versioned JobDetails with bytes and integers, and reads it back unchanged', () => {
    const bytes = encodeBackupDetails(backup);
    const pb = JobDetails.decode(bytes);
    expect(pb.version).toBe(1);
    if (pb.details?.$case !== 'backup') throw new Error('not a backup');
    expect(pb.details.value.endTime).toBe(1796533200123456789n);
    expect([...pb.details.value.spans[0]!.start]).toEqual([0xf2, 0x89]);
    expect(pb.details.value.encryptionKey).toHaveLength(32);
    expect(decodeBackupDetails({ payload: bytes })).toEqual(backup);
  });

  it('reads RESTORE and BACKUP EXPIRY details back unchanged, and refuses another type\'s details', () => {
    expect(decodeRestoreDetails({ payload: encodeRestoreDetails(restore) })).toEqual(restore);
    const expiry = { collection: ['nodelocal://1/b'], retention: '720h', retentionMs: 2_592_000_000 };
    expect(decodeExpiryDetails({ payload: encodeExpiryDetails(expiry) })).toEqual(expiry);
    expect(() => decodeRestoreDetails({ payload: encodeBackupDetails(backup) })).toThrow(/not a RESTORE job's \(found backup\)/);
  });

  it('still loads jobs written in the JSON format', () => {
    expect(decodeBackupDetails({ payload: encodeJsonPayload(backup) })).toEqual(backup);
    expect(decodeRestoreDetails({ payload: encodeJsonPayload(restore) })).toEqual(restore);
    // An encoded JobDetails never starts with '{' (its first byte is the version's tag).
    expect(encodeBackupDetails(backup)[0]).toBe(0x08);
  });
});
