import { describe, expect, it } from 'vitest';
import { EMPTY_PROGRESS, type Job } from './job.js';
import { JobIdGenerator, jobIdTimestampMs, parseJobId } from './job-id.js';
import { formatJobTimestamp, SHOW_JOBS_COLUMNS, showJobsRow } from './show-jobs.js';
import { retryDelayMs } from './retry-backoff.js';

describe('showJobsRow', () => {
  const created = Date.UTC(2020, 8, 15, 16, 20, 18, 347);
  const job: Job = {
    id: '590205481558802434',
    spec: {
      type: 'BACKUP',
      description: "BACKUP INTO 's3://test/x?AWS_SECRET_ACCESS_KEY=redacted' WITH detached",
      statement: '',
      userName: 'root',
      createdAtMs: created,
      scheduleId: '590204387299262465',
      payload: new Uint8Array(0),
    },
    progress: { ...EMPTY_PROGRESS, fractionCompleted: 0.5 },
    status: 'running',
    error: null,
    revertOutcome: null,
    startedAtMs: null,
    finishedAtMs: null,
    modifiedAtMs: created,
    coordinatorId: 'coordinator-1',
    claimSessionId: 's',
    retryCount: 0,
    nextRetryAtMs: null,
    lastRetryError: null,
  };

  it("gives SHOW JOBS's columns in order, as strings and NULLs", () => {
    expect(SHOW_JOBS_COLUMNS).toEqual([
      'job_id',
      'job_type',
      'description',
      'statement',
      'user_name',
      'status',
      'running_status',
      'created',
      'started',
      'finished',
      'modified',
      'fraction_completed',
      'error',
      'coordinator_id',
    ]);
    const row = showJobsRow(job);
    expect(Object.keys(row)).toEqual([...SHOW_JOBS_COLUMNS]);
    expect(row).toEqual({
      job_id: '590205481558802434',
      job_type: 'BACKUP',
      description: job.spec.description,
      statement: '',
      user_name: 'root',
      status: 'running',
      running_status: null,
      created: '2020-09-15 16:20:18.347+00:00',
      started: null,
      finished: null,
      modified: '2020-09-15 16:20:18.347+00:00',
      fraction_completed: '0.5',
      error: '',
      coordinator_id: 'coordinator-1',
    });
  });

  it('formats timestamps like CockroachDB (microseconds, trailing zeros trimmed)', () => {
    expect(formatJobTimestamp(Date.UTC(2024, 2, 1, 10, 0, 0, 123), 456)).toBe('2024-03-01 10:00:00.123456+00:00');
    expect(formatJobTimestamp(Date.UTC(2020, 8, 15, 16, 20, 48, 370))).toBe('2020-09-15 16:20:48.37+00:00');
    expect(formatJobTimestamp(Date.UTC(2020, 8, 15, 16, 20, 0))).toBe('2020-09-15 16:20:00+00:00');
  });

  it('shows the final error and finish time of a failed job', () => {
    const row = showJobsRow({ ...job, status: 'failed', error: 'boom', finishedAtMs: created + 1000, startedAtMs: created });
    expect(row).toMatchObject({ status: 'failed', error: 'boom', finished: '2020-09-15 16:20:19.347+00:00' });
  });
});

describe('job ids', () => {
  it('are (unix ms << 15) | counter, strictly increasing', () => {
    let now = 1_600_186_818_347;
    const gen = new JobIdGenerator(() => now);
    const a = gen.next();
    const b = gen.next();
    now -= 5; // clock stepped back
    const c = gen.next();
    now += 100;
    const d = gen.next();
    expect(BigInt(a)).toBe(BigInt(1_600_186_818_347) << 15n);
    expect(BigInt(b)).toBe(BigInt(a) + 1n);
    expect(BigInt(c)).toBe(BigInt(b) + 1n);
    expect(BigInt(d)).toBe(BigInt(1_600_186_818_442) << 15n);
    expect(jobIdTimestampMs(a)).toBe(1_600_186_818_347);
    expect(a).toMatch(/^\d{17}$/);
  });

  it('rolls to the next millisecond after 32768 ids in one', () => {
    const gen = new JobIdGenerator(() => 1000);
    let last = 0n;
    for (let i = 0; i < 32_769; i++) {
      const id = BigInt(gen.next());
      expect(id > last).toBe(true);
      last = id;
    }
    expect(jobIdTimestampMs(last.toString())).toBe(1001);
  });

  it('parses user-given ids', () => {
    expect(parseJobId(' 590205481558802434 ')).toBe('590205481558802434');
    expect(parseJobId('007')).toBe('7');
    expect(() => parseJobId('abc')).toThrow(/invalid job id/);
    expect(() => parseJobId('9223372036854775808')).toThrow(/invalid job id/);
    expect(() => parseJobId('0')).toThrow(/invalid job id/);
  });
});

describe('retryDelayMs', () => {
  it('starts at 30 s and doubles up to 24 h', () => {
    expect(retryDelayMs(0)).toBe(30_000);
    expect(retryDelayMs(1)).toBe(60_000);
    expect(retryDelayMs(5)).toBe(960_000);
    expect(retryDelayMs(20)).toBe(86_400_000);
    expect(retryDelayMs(10_000)).toBe(86_400_000);
  });

  it('honours a longer retryAfterMs from the error', () => {
    expect(retryDelayMs(0, 10, 1000, 250)).toBe(250);
    expect(retryDelayMs(0, 10, 1000, 5)).toBe(10);
  });
});
