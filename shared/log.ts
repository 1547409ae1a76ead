import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The root logger: JSON lines on stderr, so that stdout stays free for command output.
 * Log IDs and counts, never whole events: audit bodies can hold secrets.
 */
export function createLogger(level: string = process.env.KUBETRAIL_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { app: 'kubetrail' } }, pino.destination(2));
}
