import { CairnError, ErrorCode } from '@cairn/errors';
import { parseStorageUri } from '@cairn/cloud';
import { callNode, formatLocality, localityMatches, parseLocality } from '@cairn/cluster';
import { NodeStorageProbeRequest, NodeStorageProbeResponse } from '@cairn/proto';
import type { CheckExternalConnectionStatement } from '@cairn/sql';
import { rowsResult, type StatementResult } from './result.js';
import type { SessionWith } from './session.js';

/** CHECK EXTERNAL CONNECTION probes storage from live nodes. */
type ConnectionCheckSession = SessionWith<'nodes' | 'nodeCalls' | 'storage'>;

const DEFAULT_TRANSFER = 1024 * 1024;
const MAX_TRANSFER = 64 * 1024 * 1024;
const PROBE_TIMEOUT_MS = 60_000;
const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2 };

function transferBytes(text: string | undefined): number {
  if (text === undefined) return DEFAULT_TRANSFER;
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
  const bytes = m?.[1] === undefined || unit === undefined ? NaN : Number(m[1]) * unit;
  if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > MAX_TRANSFER) {
    throw new CairnError(ErrorCode.InvalidArgument, `TRANSFER must be a size from 1 B to 64 MiB (e.g. '1MiB'), got ${JSON.stringify(text)}`);
  }
  return bytes;
}

function speed(bytes: number, seconds: number): string | null {
  if (bytes === 0 || seconds <= 0) return null;
  return `${(bytes / 1024 / 1024 / seconds).toFixed(1)} MiB/s`;
}

/**
 * CHECK EXTERNAL CONNECTION / SHOW BACKUP CONNECTION: every live node (or those matching
 * EXECUTION LOCALITY) writes, reads back and deletes a probe file at the URI with its own
 * credentials and network path, as its backup work would; one row per node with its
 * throughput or its error (CockroachDB's columns). A node that does not answer gets a row
 * saying so rather than failing the statement.
 */
export async function checkExternalConnection(s: ConnectionCheckSession, stmt: CheckExternalConnectionStatement): Promise<StatementResult> {
  parseStorageUri(stmt.uri);
  const bytes = transferBytes(stmt.transfer);
  const filter = stmt.executionLocality === undefined ? [] : parseLocality(stmt.executionLocality);
  const nodes = s.nodes.liveNodes().filter((n) => localityMatches(n.locality, filter));
  if (nodes.length === 0) {
    throw new CairnError(
      ErrorCode.FailedPrecondition,
      filter.length > 0 ? `no instances found matching locality filter ${String(stmt.executionLocality)}` : 'no live nodes to run the check',
    );
  }
  const rows = await Promise.all(
    [...nodes]
      .sort((a, b) => a.nodeId - b.nodeId)
      .map(async (n): Promise<(string | null)[]> => {
        const locality = formatLocality(n.locality);
        try {
          const r = await callNode(
            s.nodeCalls.nc,
            n.nodeId,
            'probeStorage',
            NodeStorageProbeRequest,
            NodeStorageProbeResponse,
            { uri: stmt.uri, transferBytes: BigInt(bytes) },
            PROBE_TIMEOUT_MS,
          );
          const moved = Number(r.transferredBytes);
          return [String(n.nodeId), locality, String(r.ok), r.error === '' ? null : r.error, String(moved), speed(moved, r.readSeconds), speed(moved, r.writeSeconds), String(r.canDelete)];
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          return [String(n.nodeId), locality, 'false', message, '0', null, null, 'false'];
        }
      }),
  );
  return rowsResult(['node', 'locality', 'ok', 'error', 'transferred', 'read_speed', 'write_speed', 'can_delete'], rows);
}
