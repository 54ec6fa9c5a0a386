import type { NatsConnection } from 'nats';

/**
 * Publishes to `subject` and reports the server's answer: the permissions error it sends
 * back asynchronously (e.g. `PERMISSIONS_VIOLATION ...`), or `'no error'` when none came
 * within `timeoutMs`. A publish the account may not make is not refused synchronously.
 */
export async function publishOutcome(nc: NatsConnection, subject: string, timeoutMs = 3_000): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const status = (async () => {
    for await (const s of nc.status()) if (s.type === 'error') return String(s.data);
    return 'connection closed';
  })();
  nc.publish(subject, new Uint8Array(1));
  await nc.flush();
  try {
    return await Promise.race([status, new Promise<string>((r) => (timer = setTimeout(() => r('no error'), timeoutMs)))]);
  } finally {
    clearTimeout(timer);
  }
}
