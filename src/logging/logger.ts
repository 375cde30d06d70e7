import { pino, type DestinationStream, type Logger } from 'pino';

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
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'apiKey',
  '*.apiKey',
];

export type LogFields = Record<string, unknown>;

export interface LoggerOptions {
  level?: string;
  name?: string;
  /** Where the lines go (stdout by default); tests pass a stream to read them back. */
  destination?: DestinationStream;
  /**
   * Fields of whatever is being handled right now (the HTTP request, the activity), added to every line
   * logged while it runs, so code deep inside need not pass ids around.
   */
  context?: () => LogFields | undefined;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const { context } = opts;
  const options = {
    name: opts.name ?? 'lifecycle',
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
    ...(context
      ? {
          // A field a child logger already binds is left to the child, so no line carries a key twice.
          mixin: (_obj: object, _level: number, logger: Logger) => {
            const fields = context();
            if (!fields) return {};
            const bound = logger.bindings();
            return Object.fromEntries(Object.entries(fields).filter(([key, value]) => value !== undefined && !(key in bound)));
          },
        }
      : {}),
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
