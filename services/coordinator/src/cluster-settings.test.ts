import { randomUUID } from 'node:crypto';
import type { KV, NatsConnection } from 'nats';
import { connectNats } from '@cairn/cluster';
import { CairnError, ErrorCode } from '@cairn/errors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, waitFor, type NatsServerHandle } from '@cairn/testing';
import { ClusterSettings, durationMs, SETTINGS } from './cluster-settings.js';

let server: NatsServerHandle;
let nc1: NatsConnection;
let nc2: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc1 = await connectNats(server.url, 'settings-1');
  nc2 = await connectNats(server.url, 'settings-2');
});
afterAll(async () => {
  await nc1?.close();
  await nc2?.close();
  await server?.stop();
});

/** One fresh settings bucket seen from two connections, as by two coordinators. */
async function twoViews(): Promise<[KV, KV]> {
  const name = `settings_${randomUUID().slice(0, 8)}`;
  const a = await nc1.jetstream().views.kv(name, { history: 1 });
  const b = await nc2.jetstream().views.kv(name, { bindOnly: true });
  return [a, b];
}

async function settings(): Promise<ClusterSettings> {
  const [kv] = await twoViews();
  return ClusterSettings.open(nc1, kv);
}

function syncError(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('did not throw');
}

describe('ClusterSettings', () => {
  it('returns defaults and lists every known setting in name order', async () => {
    const s = await settings();
    expect(s.get('kv.replication_factor')).toBe('3');
    expect(s.getNumber('kv.range.max_bytes')).toBe(64 * 1024 * 1024);
    const list = s.list();
    expect(list.map((e) => e.variable)).toEqual(Object.keys(SETTINGS).sort());
    expect(list.find((e) => e.variable === 'gc.ttlseconds')).toMatchObject({ value: '14400', type: 'int' });
  });

  it('refuses an unknown setting', async () => {
    const s = await settings();
    const err = syncError(() => s.get('kv.no_such_thing'));
    expect(err.code).toBe(ErrorCode.InvalidArgument);
    expect(err.message).toBe('unknown cluster setting "kv.no_such_thing"');
    await expect(s.set('kv.no_such_thing', '1')).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
    await expect(s.set('kv.no_such_thing', undefined)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
  });

  it.each([
    ['64MiB', '67108864'],
    ['64 mib', '67108864'],
    ['1.5KiB', '1536'],
    ['10MB', '10000000'],
    ['2GiB', String(2 * 1024 ** 3)],
    ['1gb', '1000000000'],
    ['512', '512'],
    ['512b', '512'],
    [' 8kb ', '8000'],
  ])('normalizes the byte size %j to %s', async (raw, bytes) => {
    const s = await settings();
    await s.set('kv.range.max_bytes', raw);
    expect(s.get('kv.range.max_bytes')).toBe(bytes);
  });

  it.each([
    ['kv.range.max_bytes', '64XB'],
    ['kv.range.max_bytes', 'MiB'],
    ['kv.range.max_bytes', '-1MiB'],
    ['kv.range.max_bytes', ''],
    ['kv.replication_factor', 'three'],
    ['kv.replication_factor', '-1'],
    ['kv.replication_factor', '1.5'],
    ['jobs.scheduler.poll_interval', '1d'],
    ['jobs.scheduler.poll_interval', '10'],
    ['jobs.scheduler.poll_interval', '1.5s'],
  ])('rejects %s = %j and keeps the old value', async (name, raw) => {
    const s = await settings();
    const before = s.get(name);
    const err = await s.set(name, raw).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CairnError);
    expect((err as CairnError).code).toBe(ErrorCode.InvalidArgument);
    expect((err as CairnError).message).toBe(`invalid value "${raw}" for cluster setting "${name}" (${SETTINGS[name]!.type})`);
    expect(s.get(name)).toBe(before);
  });

  it('accepts durations and integers in their canonical forms', async () => {
    const s = await settings();
    await s.set('jobs.scheduler.poll_interval', '250MS');
    expect(s.get('jobs.scheduler.poll_interval')).toBe('250ms');
    await s.set('kv.replication_factor', ' 5 ');
    expect(s.getNumber('kv.replication_factor')).toBe(5);
  });

  it('persists values that a second instance sees as soon as it is open', async () => {
    const [kv1, kv2] = await twoViews();
    const first = await ClusterSettings.open(nc1, kv1);
    await first.set('kv.replication_factor', '5');
    await first.set('bulkio.backup.file_size', '16MiB');

    const second = await ClusterSettings.open(nc2, kv2);
    // No waiting: a coordinator reads settings right after opening them.
    expect(second.get('kv.replication_factor')).toBe('5');
    expect(second.get('bulkio.backup.file_size')).toBe(String(16 * 1024 * 1024));
  });

  it('follows changes made by another instance, including resets to the default', async () => {
    const [kv1, kv2] = await twoViews();
    const first = await ClusterSettings.open(nc1, kv1);
    const second = await ClusterSettings.open(nc2, kv2);
    await first.set('gc.ttlseconds', '600');
    await waitFor(async () => second.get('gc.ttlseconds') === '600', { what: 'the new value on the second instance' });
    await first.set('gc.ttlseconds', undefined);
    expect(first.get('gc.ttlseconds')).toBe('14400');
    await waitFor(async () => second.get('gc.ttlseconds') === '14400', { what: 'the reset on the second instance' });
  });
});

describe('durationMs', () => {
  it.each([
    ['250ms', 250],
    ['2s', 2000],
    ['3m', 180_000],
    ['1h', 3_600_000],
  ])('reads %s as %d ms', (text, ms) => {
    expect(durationMs(text)).toBe(ms);
  });
});
