import { CairnError, ErrorCode } from '@cairn/errors';
import { parseTimestamp } from '@cairn/keys';
import type { AsOf } from '@cairn/sql';

const UNIT_NS: Record<string, bigint> = {
  us: 1_000n,
  µs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/**
 * Resolves AS OF SYSTEM TIME to an MVCC timestamp. A time in the future is refused as
 * CockroachDB does, since a read there could miss writes that have not happened yet.
 */
export function resolveAsOf(asOf: AsOf, now: bigint): bigint {
  let ts: bigint;
  switch (asOf.kind) {
    case 'interval':
      ts = now + parseInterval(asOf.text);
      break;
    case 'follower':
      ts = now - 4_800_000_000n;
      break;
    case 'decimal':
    case 'timestamp':
      try {
        ts = parseTimestamp(asOf.text);
      } catch (err) {
        throw new CairnError(ErrorCode.InvalidArgument, `AS OF SYSTEM TIME: invalid timestamp "${asOf.text}"`, {
          cause: err,
          position: asOf.pos,
        });
      }
      break;
  }
  if (ts > now) {
    throw new CairnError(ErrorCode.InvalidArgument, `AS OF SYSTEM TIME: cannot specify timestamp in the future (${ts} > ${now})`, {
      position: asOf.pos,
    });
  }
  return ts;
}

function parseInterval(text: string): bigint {
  const re = /(-?\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h)/gy;
  const t = text.trim();
  let total = 0n;
  let matched = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    const unit = UNIT_NS[m[2]!]!;
    total += BigInt(Math.round(Number(m[1]) * Number(unit)));
    matched = re.lastIndex;
  }
  if (matched !== t.length || t.length === 0) {
    throw new CairnError(ErrorCode.InvalidArgument, `AS OF SYSTEM TIME: invalid interval "${text}"`);
  }
  if (total >= 0n) {
    throw new CairnError(ErrorCode.InvalidArgument, `AS OF SYSTEM TIME: interval value "${text}" must be negative`);
  }
  return total;
}
