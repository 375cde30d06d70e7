import { pino, type Logger } from 'pino';

/** Personal data and secrets never reach the logs, whatever a caller passes. (Top-level `name` is the logger's own.) */
const REDACT = [
  'email',
  '*.email',
  '*.name',
  'firstName',
  '*.firstName',
  'lastName',
  '*.lastName',
  'traits',
  '*.traits',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'apiKey',
  '*.apiKey',
];

export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: opts.name ?? 'lifecycle',
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
  });
}
