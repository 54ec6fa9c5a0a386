import { connect, type NatsConnection } from 'nats';
import { CairnError, ErrorCode } from '@cairn/errors';

/**
 * Connects to NATS, failing fast with one clear line when nothing answers (a wrong --nats
 * flag is the most common start-up mistake). After the first connection, the client keeps
 * reconnecting forever: a restarted nats-server must not take the cluster down with it.
 */
export async function connectNats(url: string, name: string, timeoutMs = 5000): Promise<NatsConnection> {
  const servers = url
    .split(',')
    .map((s) => s.trim().replace(/^nats:\/\//, ''))
    .filter((s) => s.length > 0);
  if (servers.length === 0) {
    throw new CairnError(ErrorCode.InvalidArgument, `invalid NATS URL "${url}"`);
  }
  try {
    return await connect({
      servers,
      name,
      timeout: timeoutMs,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 5000,
    });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new CairnError(ErrorCode.Unavailable, `cannot reach NATS at ${url}: ${reason}`, {
      cause: err,
      retryable: true,
    });
  }
}
