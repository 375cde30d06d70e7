import type { Logger as TemporalLogger, LogLevel, LogMetadata } from '@temporalio/common';
import type { Logger } from 'pino';
import { userIdOfWorkflow } from './activity-context.js';

const LEVELS = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;

/**
 * The Temporal SDK's logger (worker lifecycle, activity and workflow logs, and Core's own lines when
 * forwarded) written through pino, so the worker has one log stream with one redaction policy. The SDK
 * already attaches workflowId, runId, activityType and friends; the customer's id is added from the
 * journey's workflow id.
 */
export function pinoRuntimeLogger(logger: Logger): TemporalLogger {
  const log = (level: LogLevel, message: string, meta: LogMetadata = {}) => {
    const method = LEVELS[level] ?? 'info';
    if (!logger.isLevelEnabled(method)) return;
    const { error, ...rest } = meta as Record<string, unknown>;
    const userId = typeof rest.workflowId === 'string' ? userIdOfWorkflow(rest.workflowId) : undefined;
    logger[method](
      {
        ...rest,
        ...(userId && rest.userId === undefined ? { userId } : {}),
        ...(error instanceof Error ? { err: error } : error !== undefined ? { error } : {}),
      },
      message,
    );
  };
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}
