import { CairnError, ErrorCode } from '@cairn/errors';
import { compareKeys, formatTimestamp, hexToKey, keyToHex, spansOverlap, type Span, type Timestamp } from '@cairn/keys';

interface Entry {
  span: Span;
  ts: Timestamp;
}

interface StoredEntry {
  start: string;
  end: string;
  ts: string;
}

function covers(outer: Span, inner: Span): boolean {
  if (compareKeys(outer.start, inner.start) > 0) return false;
  if (outer.end.length === 0) return true;
  return inner.end.length !== 0 && compareKeys(inner.end, outer.end) <= 0;
}

/**
 * GC thresholds by span (like CockroachDB's per-range GC threshold): reads below the
 * threshold of any span they touch are refused, because the revisions they would need may
 * be gone. Spans GC'd with different TTLs keep their own thresholds.
 */
export class GcThresholds {
  private constructor(private entries: Entry[]) {}

  static decode(buf: Uint8Array | undefined): GcThresholds {
    if (buf === undefined) return new GcThresholds([]);
    try {
      const stored = JSON.parse(Buffer.from(buf).toString('utf8')) as StoredEntry[];
      return new GcThresholds(
        stored.map((e) => ({ span: { start: hexToKey(e.start), end: hexToKey(e.end) }, ts: BigInt(e.ts) })),
      );
    } catch (err) {
      throw new CairnError(ErrorCode.Corruption, 'unreadable GC threshold metadata', { cause: err });
    }
  }

  encode(): Buffer {
    const stored: StoredEntry[] = this.entries.map((e) => ({
      start: keyToHex(e.span.start),
      end: keyToHex(e.span.end),
      ts: e.ts.toString(),
    }));
    return Buffer.from(JSON.stringify(stored), 'utf8');
  }

  /** The highest threshold of any span overlapping `span` (all spans when omitted); 0n if none. */
  forSpan(span?: Span): Timestamp {
    let max = 0n;
    for (const e of this.entries) {
      if (e.ts > max && (span === undefined || spansOverlap(e.span, span))) max = e.ts;
    }
    return max;
  }

  /** Raises the threshold of `span` to `ts`; returns a new value (thresholds never go down). */
  advanced(span: Span, ts: Timestamp): GcThresholds {
    const newSpan = { start: span.start, end: span.end };
    const kept = this.entries.filter((e) => !(covers(newSpan, e.span) && e.ts <= ts));
    kept.push({ span: newSpan, ts });
    return new GcThresholds(kept);
  }
}

/** The error for a read or export below the GC threshold (CockroachDB's wording). */
export function belowGcThresholdError(ts: Timestamp, threshold: Timestamp): CairnError {
  return new CairnError(
    ErrorCode.FailedPrecondition,
    `batch timestamp ${formatTimestamp(ts)} must be at or after replica GC threshold ${formatTimestamp(threshold)}`,
  );
}
