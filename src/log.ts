// One pino logger factory, so every part logs the same way: JSON lines on stderr,
// level from GPUSLICE_LOG_LEVEL (default info).
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, level = process.env.GPUSLICE_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}

/** A logger that drops everything, for library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
