import { CairnError, ErrorCode } from '@cairn/errors';

/**
 * The shortest retention accepted. Expiry runs after every successful full backup, so a
 * shorter period would delete each chain about as soon as the next full lands: almost
 * certainly a typo (`'30s'` for `'30d'`).
 */
export const MIN_RETENTION_MS = 60_000;

const UNIT_MS: Readonly<Record<string, number>> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const PART = /(\d+)([smhdw])/gy;

function invalid(text: string): CairnError {
  return new CairnError(
    ErrorCode.InvalidArgument,
    `invalid retention ${JSON.stringify(text)}: expected a duration such as '720h', '30d' or '2w' (units s, m, h, d, w)`,
  );
}

/**
 * Reads the `retention` schedule option: one or more `<integer><unit>` parts with units s, m,
 * h, d (24 h) and w (7 d), e.g. `'720h'`, `'30d'`, `'2w'`, `'1d12h'`; case and surrounding
 * blanks are ignored. Returns milliseconds. Throws InvalidArgument naming the option for
 * anything else, and for less than `MIN_RETENTION_MS`.
 */
export function parseRetention(text: string): number {
  const s = text.trim().toLowerCase();
  if (s === '') throw invalid(text);
  PART.lastIndex = 0;
  let total = 0;
  let at = 0;
  while (at < s.length) {
    const m = PART.exec(s);
    if (m === null) throw invalid(text);
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    at = PART.lastIndex;
  }
  if (!Number.isSafeInteger(total)) throw invalid(text);
  if (total < MIN_RETENTION_MS) {
    throw new CairnError(ErrorCode.InvalidArgument, `retention ${JSON.stringify(text)} is too short: it must be at least 1m`);
  }
  return total;
}

/** The form a valid retention is stored and shown in: as written, trimmed and lower-cased. */
export function normalizeRetention(text: string): string {
  parseRetention(text);
  return text.trim().toLowerCase();
}

/**
 * Expiry deletes the chains of the schedule's collection; incrementals written to an
 * `incremental_location` would outlive their full, so the two options are not combined.
 */
export function checkRetentionLocation(retention: string | null, incrementalLocation: readonly string[] | undefined): void {
  if (retention !== null && incrementalLocation !== undefined) {
    throw new CairnError(
      ErrorCode.InvalidArgument,
      'the retention schedule option expires the chains of the collection only: it cannot be combined with incremental_location',
    );
  }
}
