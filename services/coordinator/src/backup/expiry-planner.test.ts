import { fullBackupSubdir } from '@cairn/backup-format';
import { describe, expect, it } from 'vitest';
import type { ChainSummary } from './backup-collection.js';
import { chooseExpiredChains, expiryJobDescription } from './expiry-planner.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2024, 2, 31, 12);
const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;

/** A chain whose full ended `fullAgo` before NOW and whose newest incremental `newestAgo` before it. */
function chain(fullAgo: number, newestAgo = fullAgo, incrementals = fullAgo === newestAgo ? 0 : 1): ChainSummary {
  const fullEnd = NOW - fullAgo;
  return { fullSubdir: fullBackupSubdir(new Date(fullEnd)), fullEndTime: ns(fullEnd), newestEndTime: ns(NOW - newestAgo), incrementals };
}

function choose(chains: ChainSummary[], retentionMs: number, latestFull?: string) {
  const plan = chooseExpiredChains({ chains, latestFull, nowMs: NOW, retentionMs });
  return { expire: plan.expire.map((c) => c.fullSubdir), keep: plan.keep.map((c) => c.fullSubdir), cutoff: plan.cutoff };
}

describe('chooseExpiredChains', () => {
  it('expires whole chains whose newest layer ended before now - retention, oldest first', () => {
    const old = chain(40 * DAY, 35 * DAY);
    const older = chain(50 * DAY);
    const recent = chain(10 * DAY, 1 * DAY);
    const latest = chain(1 * HOUR);
    const r = choose([latest, old, recent, older], 30 * DAY, latest.fullSubdir);
    expect(r.expire).toEqual([older.fullSubdir, old.fullSubdir]);
    expect(r.keep).toEqual([recent.fullSubdir, latest.fullSubdir]);
    expect(r.cutoff).toBe(ns(NOW - 30 * DAY));
  });

  it('keeps a full older than the retention while an incremental on it is within it', () => {
    const straddling = chain(45 * DAY, 29 * DAY, 20);
    const latest = chain(2 * DAY);
    expect(choose([straddling, latest], 30 * DAY, latest.fullSubdir).expire).toEqual([]);
    // Once its newest incremental is past the retention too, the full goes with all 20.
    const past = chain(45 * DAY, 31 * DAY, 20);
    expect(choose([past, latest], 30 * DAY, latest.fullSubdir).expire).toEqual([past.fullSubdir]);
  });

  it('never expires LATEST\'s chain or the newest full, however old', () => {
    const a = chain(90 * DAY);
    const b = chain(60 * DAY);
    // Nothing has been backed up for 60 days: the newest chain stays, it is all there is.
    expect(choose([a, b], 30 * DAY, b.fullSubdir)).toMatchObject({ expire: [a.fullSubdir], keep: [b.fullSubdir] });
    // LATEST names another chain (written by hand, or a slash-less legacy LATEST): both kept.
    expect(choose([a, b], 30 * DAY, a.fullSubdir.slice(1)).expire).toEqual([]);
    // No LATEST file at all: the newest full is still kept.
    expect(choose([a, b], 30 * DAY, undefined)).toMatchObject({ expire: [a.fullSubdir], keep: [b.fullSubdir] });
  });

  it('keeps a chain ending exactly at the cutoff, and handles an empty collection', () => {
    const atCutoff = chain(30 * DAY);
    const latest = chain(HOUR);
    expect(choose([atCutoff, latest], 30 * DAY, latest.fullSubdir).expire).toEqual([]);
    expect(choose([], 30 * DAY, undefined)).toMatchObject({ expire: [], keep: [] });
  });

  it('with a one-minute retention expires every chain but the newest', () => {
    const chains = [chain(10 * HOUR), chain(5 * HOUR, 2 * HOUR), chain(3 * HOUR), chain(2 * 60_000)];
    const r = choose(chains, 60_000, chains[3]?.fullSubdir);
    expect(r.expire).toEqual(chains.slice(0, 3).map((c) => c.fullSubdir));
    expect(r.keep).toEqual([chains[3]?.fullSubdir]);
  });
});

describe('expiryJobDescription', () => {
  it('names the collection with secrets redacted, and the retention', () => {
    expect(expiryJobDescription(['s3://b/p?AWS_ACCESS_KEY_ID=AKIA1&AWS_SECRET_ACCESS_KEY=s3cret&AWS_REGION=x'], '720h')).toBe(
      "EXPIRE BACKUPS IN 's3://b/p?AWS_ACCESS_KEY_ID=redacted&AWS_SECRET_ACCESS_KEY=redacted&AWS_REGION=x' OLDER THAN '720h'",
    );
    const d = expiryJobDescription(
      ['s3://b/p?AWS_SECRET_ACCESS_KEY=s3cret&COCKROACH_LOCALITY=default', "nodelocal://2/it's?COCKROACH_LOCALITY=region%3Dwest"],
      '30d',
    );
    expect(d).toBe(
      "EXPIRE BACKUPS IN ('s3://b/p?AWS_SECRET_ACCESS_KEY=redacted&COCKROACH_LOCALITY=default', 'nodelocal://2/it''s?COCKROACH_LOCALITY=region%3Dwest') OLDER THAN '30d'",
    );
    expect(d).not.toContain('s3cret');
  });
});
