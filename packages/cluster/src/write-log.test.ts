import type { NatsConnection } from 'nats';
import { CairnError, ErrorCode } from '@cairn/errors';
import { LogEntry } from '@cairn/proto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServerHandle } from '@cairn/testing';
import { connectNats } from './nats-connection.js';
import { ClusterState, LOG_STREAM } from './state-buckets.js';
import { LogWriter, readLogTail, tailLog, type SequencedEntry } from './write-log.js';

let server: NatsServerHandle;
let nc: NatsConnection;
let state: ClusterState;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectNats(server.url, 'write-log-test');
});
beforeEach(async () => {
  // Every test starts from an empty log.
  const jsm = await nc.jetstreamManager();
  await jsm.streams.delete(LOG_STREAM).catch(() => undefined);
  state = await ClusterState.open(nc);
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

/** A write entry carrying one key, `marker`, so entries can be told apart when read back. */
function entry(marker: string): (ts: bigint) => LogEntry {
  return (timestamp) => ({
    timestamp,
    kind: { $case: 'write', value: { ops: [{ key: new TextEncoder().encode(marker) }] } },
  });
}

function markerOf(e: LogEntry): string {
  if (e.kind?.$case !== 'write') throw new Error(`not a write entry: ${e.kind?.$case}`);
  return new TextDecoder().decode(e.kind.value.ops[0]?.key);
}

async function readStored(seq: number): Promise<LogEntry> {
  const m = await state.jsm.streams.getMessage(LOG_STREAM, { seq });
  return LogEntry.decode(m.data);
}

/** Collects `n` entries from `tailLog`, then stops it. */
async function take(fromSeq: number, n: number): Promise<SequencedEntry[]> {
  const abort = new AbortController();
  const out: SequencedEntry[] = [];
  for await (const e of tailLog(state.nc, state.js, fromSeq, abort.signal)) {
    out.push(e);
    if (out.length === n) abort.abort();
  }
  return out;
}

describe('readLogTail', () => {
  it('is zero on an empty log and the last entry after appends', async () => {
    expect(await readLogTail(state.jsm)).toEqual({ seq: 0, timestamp: 0n });
    const w = await LogWriter.open(state.js, state.jsm);
    const a = w.append(entry('a'));
    const b = w.append(entry('b'));
    await Promise.all([a.stored, b.stored]);
    expect(await readLogTail(state.jsm)).toEqual({ seq: 2, timestamp: b.timestamp });
  });
});

describe('LogWriter', () => {
  it('refuses an entry above max_payload with a clear error, and keeps writing after it', async () => {
    const w = await LogWriter.open(state.js, state.jsm, state.nc.info!.max_payload);
    const big = w.append(entry('x'.repeat(state.nc.info!.max_payload + 10)));
    await expect(big.stored).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('write fewer rows per statement') });
    const next = w.append(entry('small'));
    await next.stored;
    expect(w.broken).toBeUndefined();
    expect(next.seq).toBe((await readLogTail(state.jsm)).seq);
  });

  it('stamps strictly increasing timestamps along the log', async () => {
    const w = await LogWriter.open(state.js, state.jsm);
    // Far more appends than milliseconds pass, so many share a wall-clock millisecond.
    const appended = Array.from({ length: 200 }, (_, i) => w.append(entry(`k${i}`)));
    await Promise.all(appended.map((a) => a.stored));
    for (let i = 1; i < appended.length; i++) {
      expect(appended[i]!.timestamp).toBeGreaterThan(appended[i - 1]!.timestamp);
    }
    // What is stored carries the same timestamps, in the same order.
    const stored = await take(1, appended.length);
    expect(stored.map((s) => s.entry.timestamp)).toEqual(appended.map((a) => a.timestamp));
    // now() stays above every assigned timestamp.
    expect(w.now()).toBeGreaterThan(appended.at(-1)!.timestamp);
  });

  it('lands pipelined appends in call order at the predicted sequences', async () => {
    const w = await LogWriter.open(state.js, state.jsm);
    const appended = Array.from({ length: 100 }, (_, i) => w.append(entry(`p${i}`)));
    expect(appended.map((a) => a.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(w.assignedSeq).toBe(100);
    await Promise.all(appended.map((a) => a.stored));
    expect(w.broken).toBeUndefined();
    for (const i of [0, 1, 49, 98, 99]) {
      const e = await readStored(appended[i]!.seq);
      expect(markerOf(e)).toBe(`p${i}`);
      expect(e.timestamp).toBe(appended[i]!.timestamp);
    }
    expect((await readLogTail(state.jsm)).seq).toBe(100);
  });

  it('continues after the existing tail when reopened', async () => {
    const first = await LogWriter.open(state.js, state.jsm);
    const last = first.append(entry('x'));
    await last.stored;
    const second = await LogWriter.open(state.js, state.jsm);
    expect(second.assignedSeq).toBe(1);
    const next = second.append(entry('y'));
    await next.stored;
    expect(next.seq).toBe(2);
    expect(next.timestamp).toBeGreaterThan(last.timestamp);
  });

  it('fences a deposed writer once a second writer has appended', async () => {
    const a = await LogWriter.open(state.js, state.jsm);
    await a.append(entry('a1')).stored;
    const b = await LogWriter.open(state.js, state.jsm);
    const b1 = b.append(entry('b1'));
    await b1.stored;
    expect(b1.seq).toBe(2);

    const stale = a.append(entry('a2'));
    const err = await stale.stored.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.NotLeader);
    expect((err as CairnError).retryable).toBe(true);
    expect(a.broken).toBe(err);
    // Every later append of the deposed writer fails at once, with the same error.
    const again = a.append(entry('a3'));
    await expect(again.stored).rejects.toBe(err);

    // The log holds only what the writers appended in turn; the new writer goes on.
    expect(markerOf(await readStored(2))).toBe('b1');
    await b.append(entry('b2')).stored;
    expect(b.broken).toBeUndefined();
    expect(await readLogTail(state.jsm)).toMatchObject({ seq: 3 });
  });
});

describe('LogWriter.close', () => {
  it('fails pending and later appends with NOT_LEADER and sends nothing more, so a successor writes after the tail it read', async () => {
    const old = await LogWriter.open(state.js, state.jsm);
    await old.append(entry('old-1')).stored;
    old.close();
    const late = old.append(entry('old-late'));
    await expect(late.stored).rejects.toMatchObject({ code: ErrorCode.NotLeader, retryable: true });
    const tail = await readLogTail(state.jsm);
    const successor = await LogWriter.open(state.js, state.jsm);
    const next = successor.append(entry('new-1'));
    await next.stored;
    expect(next.seq).toBe(tail.seq + 1);
    expect(markerOf(await readStored(next.seq))).toBe('new-1');
    expect(successor.broken).toBeUndefined();
  });
});

describe('tailLog', () => {
  it('delivers exactly the entries from the given sequence on, in order, including new ones', async () => {
    const w = await LogWriter.open(state.js, state.jsm);
    await Promise.all(Array.from({ length: 20 }, (_, i) => w.append(entry(`t${i + 1}`)).stored));

    const abort = new AbortController();
    const seen: SequencedEntry[] = [];
    const done = (async () => {
      for await (const e of tailLog(state.nc, state.js, 8, abort.signal)) {
        seen.push(e);
        if (seen.length === 13) {
          // Everything up to the tail arrived; later appends must follow live.
          await Promise.all(Array.from({ length: 5 }, (_, i) => w.append(entry(`t${21 + i}`)).stored));
        }
        if (seen.length === 18) abort.abort();
      }
    })();
    await done;
    expect(seen.map((e) => e.seq)).toEqual(Array.from({ length: 18 }, (_, i) => i + 8));
    expect(seen.map((e) => markerOf(e.entry))).toEqual(Array.from({ length: 18 }, (_, i) => `t${i + 8}`));
  });

  it('starts at the first entry for sequence 0', async () => {
    const w = await LogWriter.open(state.js, state.jsm);
    await Promise.all(['a', 'b', 'c'].map((m) => w.append(entry(m)).stored));
    const got = await take(0, 3);
    expect(got.map((e) => [e.seq, markerOf(e.entry)])).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ]);
  });
});
