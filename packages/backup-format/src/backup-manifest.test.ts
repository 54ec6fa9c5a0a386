import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '@cairn/errors';
import { BackupManifest, MvccFilter } from '@cairn/proto';
import type { BackupCheckpoint, BackupPartDescriptor } from '@cairn/proto';
import {
  BACKUP_MANIFEST,
  MANIFEST_FORMAT_VERSION,
  decodeCheckpoint,
  decodeManifest,
  decodePartDescriptor,
  encodeCheckpoint,
  encodeManifest,
  encodePartDescriptor,
  makeEncryptionInfo,
  verifyChecksummed,
  writeChecksummedFile,
} from './index.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);

function sampleManifest(files = 500): BackupManifest {
  return BackupManifest.fromPartial({
    startTime: 1_700_000_000_000_000_000n,
    endTime: 1_700_000_360_000_000_000n,
    mvccFilter: MvccFilter.ALL,
    revisionStartTime: 1_700_000_000_000_000_000n,
    spans: [{ start: b('/Table/104'), end: b('/Table/105') }],
    introducedSpans: [{ start: b('/Table/105'), end: b('/Table/106') }],
    descriptors: [b('desc-1'), b('desc-2')],
    descriptorRevisions: [
      { id: 104, timestamp: 1_700_000_100_000_000_000n, change: { $case: 'descriptor', value: b('desc-1') } },
      { id: 105, timestamp: 1_700_000_200_000_000_000n, change: { $case: 'dropped', value: true } },
    ],
    files: Array.from({ length: files }, (_, i) => ({
      span: { start: b(`/Table/104/${i}`), end: b(`/Table/104/${i + 1}`) },
      path: `data/${900000000000 + i}.sst`,
      entries: 1000n,
      rows: 990n,
      logicalBytes: 123_456n,
      bytes: 40_000n,
      locality: i % 2 === 0 ? 'default' : 'region=us-east1',
      checksum: 'ab'.repeat(32),
      nodeId: 1 + (i % 3),
    })),
    clusterId: '5b0c9b2e-0000-4000-8000-000000000001',
    backupId: 'f0e1d2c3-0000-4000-8000-000000000002',
    formatVersion: MANIFEST_FORMAT_VERSION,
    isFullCluster: false,
    dependencies: ['/2023/11/14-221320.00'],
    localityUris: { default: 's3://bucket/a?AWS_SECRET_ACCESS_KEY=redacted', 'region=us-east1': 's3://east/a' },
    jobId: 987654321012345678n,
    coordinatorNodeId: 1,
    completeDatabaseIds: [100],
    partFiles: ['BACKUP_PART_1_region=us-east1'],
  });
}

describe('manifests', () => {
  it('round-trips, zstd-compressed by default', () => {
    const m = sampleManifest();
    const stored = encodeManifest(m);
    const raw = BackupManifest.encode(m).finish();
    expect(stored.length).toBeLessThan(raw.length / 3);
    expect(decodeManifest(stored)).toEqual(m);
    // Uncompressed manifests still read (the reader sniffs the zstd magic).
    expect(decodeManifest(encodeManifest(m, { compress: false }))).toEqual(m);
  });

  it('round-trips encrypted and needs the key', async () => {
    const { key } = await makeEncryptionInfo('pw', { iterations: 1000 });
    const { key: wrong } = await makeEncryptionInfo('nope', { iterations: 1000 });
    const m = sampleManifest(10);
    const stored = encodeManifest(m, { encryptionKey: key });
    expect(Buffer.from(stored).includes(Buffer.from('/Table/104'))).toBe(false);
    expect(decodeManifest(stored, { encryptionKey: key })).toEqual(m);
    expect(() => decodeManifest(stored)).toThrow('BACKUP_MANIFEST is encrypted: an encryption passphrase is required');
    expect(() => decodeManifest(stored, { encryptionKey: wrong })).toThrow(
      'failed to decrypt BACKUP_MANIFEST: wrong encryption passphrase?',
    );
  });

  it('refuses a manifest from a newer format', () => {
    const m = { ...sampleManifest(1), formatVersion: MANIFEST_FORMAT_VERSION + 1 };
    expect(() => decodeManifest(encodeManifest(m))).toThrow(/newer than this version/);
  });

  it('writes a checksum companion and detects tampering', () => {
    const stored = encodeManifest(sampleManifest(50));
    const { body, checksumBody } = writeChecksummedFile(stored);
    expect(checksumBody).toHaveLength(4);
    expect(() => verifyChecksummed(body, checksumBody, BACKUP_MANIFEST)).not.toThrow();
    for (const at of [0, Math.floor(body.length / 2), body.length - 1]) {
      const bad = body.slice();
      bad[at] = bad[at]! ^ 0x20;
      try {
        verifyChecksummed(bad, checksumBody, BACKUP_MANIFEST);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(CairnError);
        expect((e as CairnError).code).toBe(ErrorCode.Corruption);
        expect((e as CairnError).message).toBe('checksum mismatch for BACKUP_MANIFEST');
      }
    }
    expect(() => verifyChecksummed(body, checksumBody.subarray(0, 3), BACKUP_MANIFEST)).toThrow(/checksum mismatch/);
  });

  it('reports undecodable bytes as corruption', () => {
    const garbage = Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3);
    expect(() => decodeManifest(garbage)).toThrow('malformed BACKUP_MANIFEST');
    // A failed decompression must not poison later ones (zstd-napi contexts would).
    const m = sampleManifest(2);
    expect(decodeManifest(encodeManifest(m))).toEqual(m);
  });
});

describe('checkpoints and part descriptors', () => {
  it('round-trip', () => {
    const cp: BackupCheckpoint = {
      backupId: 'x',
      jobId: 42n,
      startTime: 0n,
      endTime: 99n,
      completedSpans: [{ start: b('a'), end: b('b') }],
      files: sampleManifest(3).files,
      writtenAt: 98n,
    };
    expect(decodeCheckpoint(encodeCheckpoint(cp))).toEqual(cp);
    const part: BackupPartDescriptor = { backupId: 'x', locality: 'region=us-east1', files: sampleManifest(2).files };
    expect(decodePartDescriptor(encodePartDescriptor(part))).toEqual(part);
  });
});
