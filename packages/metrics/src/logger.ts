import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/**
 * Structured JSON logs on stderr (stdout is kept for the machine-readable ready line that
 * supervisors and the test harness wait for). `component` tags every line.
 */
export function createLogger(component: string, level = process.env['CAIRN_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ level, base: { component, pid: process.pid } }, pino.destination(2));
}
