import { CairnError, ErrorCode } from '@cairn/errors';
import { describe, expect, it } from 'vitest';
import { EMPTY_PROGRESS, type Job, type RevertOutcome } from './job.js';
import { JOB_STATUSES, type JobStatus } from './job-status.js';
import { transition, type JobEvent, type JobEventType } from './state-machine.js';

const T0 = Date.UTC(2024, 2, 1, 10, 0, 0);
const T1 = T0 + 1000;

function job(status: JobStatus, revertOutcome: RevertOutcome | null = status === 'reverting' ? 'failed' : null): Job {
  return {
    id: '590205481558802434',
    spec: {
      type: 'BACKUP',
      description: 'BACKUP INTO s3://b',
      statement: '',
      userName: 'root',
      createdAtMs: T0,
      scheduleId: null,
      payload: new Uint8Array(0),
    },
    progress: EMPTY_PROGRESS,
    status,
    error: revertOutcome === 'failed' ? 'boom' : null,
    revertOutcome,
    startedAtMs: status === 'pending' ? null : T0,
    finishedAtMs: null,
    modifiedAtMs: T0,
    coordinatorId: 'coordinator-1',
    claimSessionId: 's1',
    retryCount: 0,
    nextRetryAtMs: null,
    lastRetryError: null,
  };
}

const EVENTS: Record<JobEventType, JobEvent> = {
  'request-pause': { type: 'request-pause' },
  'request-resume': { type: 'request-resume' },
  'request-cancel': { type: 'request-cancel' },
  adopted: { type: 'adopted', coordinatorId: 'coordinator-2', sessionId: 's2' },
  started: { type: 'started' },
  progressed: { type: 'progressed', fraction: 0.5 },
  succeeded: { type: 'succeeded' },
  failed: { type: 'failed', error: 'disk on fire' },
  retry: { type: 'retry', error: 'node gone', nextRetryAtMs: T1 + 30_000 },
  paused: { type: 'paused' },
  'cancel-started': { type: 'cancel-started' },
  reverted: { type: 'reverted' },
  'revert-failed': { type: 'revert-failed', error: 'cannot delete files' },
};

/** Resulting status, 'noop' (the same object back), or the error message. */
type Outcome = JobStatus | 'noop' | { error: string };
const E = (error: string): Outcome => ({ error });
const NONTERMINAL: JobStatus[] = ['pending', 'running', 'paused', 'pause-requested', 'cancel-requested', 'reverting'];

/**
 * The full table: every event against every status. Missing cells are illegal with the
 * generic message; `request-*` cells that are illegal carry CockroachDB's wording.
 */
const TABLE: Record<JobEventType, Partial<Record<JobStatus, Outcome>>> = {
  'request-pause': {
    pending: 'pause-requested',
    running: 'pause-requested',
    reverting: 'pause-requested',
    paused: 'noop',
    'pause-requested': 'noop',
  },
  'request-resume': { paused: 'running' },
  'request-cancel': {
    pending: 'cancel-requested',
    running: 'cancel-requested',
    paused: 'cancel-requested',
    'cancel-requested': 'noop',
  },
  adopted: Object.fromEntries(NONTERMINAL.map((s) => [s, s])),
  started: { pending: 'running' },
  progressed: { running: 'running', 'pause-requested': 'pause-requested', reverting: 'reverting' },
  succeeded: { running: 'succeeded', 'pause-requested': 'succeeded' },
  failed: { running: 'reverting', 'pause-requested': 'reverting' },
  retry: { running: 'running', reverting: 'reverting' },
  paused: { 'pause-requested': 'paused' },
  'cancel-started': { 'cancel-requested': 'reverting' },
  reverted: { reverting: 'failed' },
  'revert-failed': { reverting: 'revert-failed' },
};

const REQUEST_WORD: Partial<Record<JobEventType, string>> = {
  'request-pause': 'paused',
  'request-resume': 'resumed',
  'request-cancel': 'canceled',
};

const cases = Object.keys(EVENTS).flatMap((e) =>
  JOB_STATUSES.map((s) => {
    const ev = e as JobEventType;
    const word = REQUEST_WORD[ev];
    const outcome: Outcome =
      TABLE[ev][s] ??
      E(word ? `job with status ${s} cannot be requested to be ${word}` : `job 590205481558802434 with status ${s} cannot apply event ${ev}`);
    return { event: ev, from: s, outcome };
  }),
);

describe('transition: the full table', () => {
  it('covers every status for every event', () => {
    expect(cases).toHaveLength(Object.keys(EVENTS).length * JOB_STATUSES.length);
  });

  it.each(cases)('$event from $from', ({ event, from, outcome }) => {
    const before = job(from);
    if (typeof outcome === 'object') {
      let err: unknown;
      try {
        transition(before, EVENTS[event], T1);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CairnError);
      expect((err as CairnError).code).toBe(ErrorCode.FailedPrecondition);
      expect((err as CairnError).message).toBe(outcome.error);
      return;
    }
    const after = transition(before, EVENTS[event], T1);
    if (outcome === 'noop') {
      expect(after).toBe(before);
      return;
    }
    expect(after.status).toBe(outcome);
    expect(after.modifiedAtMs).toBe(T1);
    expect(after).not.toBe(before);
    expect(before.status).toBe(from); // inputs are never mutated
  });
});

describe('transition: details', () => {
  it('started stamps the start time once', () => {
    const running = transition(job('pending'), { type: 'started' }, T1);
    expect(running.startedAtMs).toBe(T1);
  });

  it('succeeded completes the fraction, stamps finished, and releases the claim', () => {
    const done = transition(job('running'), { type: 'succeeded' }, T1);
    expect(done).toMatchObject({ status: 'succeeded', finishedAtMs: T1, claimSessionId: null });
    expect(done.progress.fractionCompleted).toBe(1);
  });

  it('failed records the error and reverts towards failed', () => {
    const reverting = transition(job('running'), { type: 'failed', error: 'bad manifest' }, T1);
    expect(reverting).toMatchObject({ status: 'reverting', error: 'bad manifest', revertOutcome: 'failed' });
    const failed = transition(reverting, { type: 'reverted' }, T1 + 1);
    expect(failed).toMatchObject({ status: 'failed', error: 'bad manifest', finishedAtMs: T1 + 1, revertOutcome: null });
  });

  it('cancel goes cancel-requested → reverting → canceled', () => {
    let j = transition(job('running'), { type: 'request-cancel' }, T1);
    j = transition(j, { type: 'cancel-started' }, T1);
    expect(j).toMatchObject({ status: 'reverting', revertOutcome: 'canceled' });
    j = transition(j, { type: 'reverted' }, T1);
    expect(j).toMatchObject({ status: 'canceled', error: null });
  });

  it('revert-failed keeps the original error', () => {
    const j = transition(job('reverting'), { type: 'revert-failed', error: 'cannot delete' }, T1);
    expect(j).toMatchObject({ status: 'revert-failed', error: 'boom; revert failed: cannot delete' });
  });

  it('a job paused while reverting resumes reverting, cannot be canceled, and can only revert', () => {
    const pr = transition(job('reverting'), { type: 'request-pause' }, T1);
    expect(pr).toMatchObject({ status: 'pause-requested', revertOutcome: 'failed' });
    expect(() => transition(pr, { type: 'succeeded' }, T1)).toThrow(/cannot apply event succeeded/);
    expect(() => transition(pr, { type: 'failed', error: 'x' }, T1)).toThrow(/cannot apply event failed/);
    expect(transition(pr, { type: 'reverted' }, T1).status).toBe('failed');
    const paused = transition(pr, { type: 'paused' }, T1);
    expect(() => transition(paused, { type: 'request-cancel' }, T1)).toThrow(/paused while reverting/);
    expect(transition(paused, { type: 'request-resume' }, T1).status).toBe('reverting');
  });

  it('retry counts and schedules; progress that advances resets the count', () => {
    let j = transition(job('running'), { type: 'retry', error: 'e1', nextRetryAtMs: T1 + 30_000 }, T1);
    j = transition(j, { type: 'retry', error: 'e2', nextRetryAtMs: T1 + 60_000 }, T1);
    expect(j).toMatchObject({ status: 'running', retryCount: 2, nextRetryAtMs: T1 + 60_000, lastRetryError: 'e2' });
    const same = transition(j, { type: 'progressed', runningStatus: 'still stuck' }, T1);
    expect(same.retryCount).toBe(2);
    const moved = transition(j, { type: 'progressed', fraction: 0.25, checkpoint: new Uint8Array([1]) }, T1);
    expect(moved.retryCount).toBe(0);
    expect(moved.progress).toMatchObject({ fractionCompleted: 0.25, runningStatus: null });
    expect(moved.progress.checkpoint).toEqual(new Uint8Array([1]));
  });

  it('progress fractions are clamped to [0, 1] and unspecified fields are kept', () => {
    let j = transition(job('running'), { type: 'progressed', fraction: 1.7, runningStatus: 'exporting', highWater: 42n }, T1);
    expect(j.progress).toMatchObject({ fractionCompleted: 1, runningStatus: 'exporting', highWater: 42n });
    j = transition(j, { type: 'progressed', fraction: -1 }, T1);
    expect(j.progress).toMatchObject({ fractionCompleted: 0, runningStatus: 'exporting', highWater: 42n });
  });

  it('paused releases the claim and adoption takes it', () => {
    const paused = transition(job('pause-requested'), { type: 'paused' }, T1);
    expect(paused.claimSessionId).toBeNull();
    const adopted = transition(job('running'), EVENTS.adopted, T1);
    expect(adopted).toMatchObject({ status: 'running', coordinatorId: 'coordinator-2', claimSessionId: 's2' });
  });
});
