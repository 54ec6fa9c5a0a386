import { redactDeep } from '@cairn/errors';
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/**
 * Structured JSON logs on stderr (stdout is kept for the machine-readable ready line that
 * supervisors and the test harness wait for). `component` tags every line. Every argument of
 * every log call passes through the cluster's one redactor first, so a URI with credentials or
 * a passphrase logged by any component (an error's message, a statement) never reaches a line.
 */
export function createLogger(component: string, level = process.env['CAIRN_LOG_LEVEL'] ?? 'info', destination: pino.DestinationStream = pino.destination(2)): Logger {
  return pino(
    {
      level,
      base: { component, pid: process.pid },
      hooks: {
        logMethod(args, method) {
          return method.apply(this, redactDeep(args) as Parameters<typeof method>);
        },
      },
    },
    destination,
  );
}
