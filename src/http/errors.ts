/**
 * The HTTP edge's error mapping, shared by the API and the dashboard routes (and the KPI report's MongoDB
 * calls): bad input is a 400 with every problem, an outage a 503 with Retry-After, never a 500.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';

/** A refusal the caller can act on: 4xx with a machine-readable code and a human message. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Temporal or MongoDB could not be reached: the caller should retry; nothing was acknowledged. */
export class UpstreamUnavailable extends Error {
  constructor(
    readonly upstream: 'temporal' | 'mongodb',
    readonly reason: unknown,
    readonly retryAfterSeconds = 5,
  ) {
    super(`${upstream === 'temporal' ? 'Temporal' : 'MongoDB'} is unavailable; retry later`);
    this.name = 'UpstreamUnavailable';
  }
}

export function zodIssues(error: z.ZodError) {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message, code: i.code }));
}

export function invalid(error: z.ZodError, what = 'request'): HttpError {
  return new HttpError(400, 'invalid_request', `the ${what} is invalid`, zodIssues(error));
}

const MONGO_OUTAGE = /^Mongo(Network|ServerSelection|NotConnected|Topology|NetworkTimeout|PoolCleared)|^MongooseServerSelection/;
const MONGO_OUTAGE_TEXT = /buffering timed out|Client must be connected|connection .* (closed|timed out)|Topology is closed|before initial connection|ECONNREFUSED/i;
/** Socket errors the driver can pass through unwrapped when the server goes away mid-request (seen: EPIPE, "This socket has been ended by the other party"). */
const SOCKET_GONE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);
/**
 * FerretDB answers as a server (MongoServerError 1, InternalError) when its own backend is gone: PostgreSQL
 * refusing connections, shutting down or starting up (seen on the cluster: pgx's "failed to connect to ...
 * connect: connection refused"). Only with that code and name, so a real InternalError stays a bug.
 */
const FERRETDB_BACKEND_GONE = /failed to connect to|connect: connection refused|the database system is (shutting down|starting up|in recovery mode)|terminating connection due to administrator command|SQLSTATE 57P0[1-3]/;

export function isMongoOutage(err: unknown, depth = 0): boolean {
  const e = err as { name?: string; message?: string; code?: unknown; errorLabels?: string[]; cause?: unknown } | undefined;
  if (!e || typeof e !== 'object') return false;
  return (
    MONGO_OUTAGE.test(e.name ?? '') ||
    MONGO_OUTAGE_TEXT.test(e.message ?? '') ||
    (typeof e.code === 'string' && SOCKET_GONE.has(e.code)) ||
    (e.name === 'MongoServerError' && e.code === 1 && FERRETDB_BACKEND_GONE.test(e.message ?? '')) ||
    (e.errorLabels ?? []).includes('RetryableWriteError') ||
    (depth < 3 && e.cause !== undefined && isMongoOutage(e.cause, depth + 1))
  );
}

/** Run a MongoDB call; outages become UpstreamUnavailable, everything else passes through. */
export async function viaMongo<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isMongoOutage(err)) throw new UpstreamUnavailable('mongodb', err);
    throw err;
  }
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const requestId = res.getHeader('x-request-id');
    if (err instanceof HttpError) {
      // A refusal that says when to come back (429 rate_limited).
      const retryAfter = (err as HttpError & { retryAfterSeconds?: number }).retryAfterSeconds;
      if (retryAfter !== undefined) res.setHeader('Retry-After', String(retryAfter));
      res.status(err.status).json({ error: { code: err.code, message: err.message, ...(err.details ? { issues: err.details } : {}) }, requestId });
      return;
    }
    if (err instanceof UpstreamUnavailable) {
      logger.warn({ requestId, upstream: err.upstream, cause: String((err.reason as Error)?.message ?? err.reason) }, 'upstream unavailable');
      res.setHeader('Retry-After', String(err.retryAfterSeconds));
      res.status(503).json({ error: { code: 'upstream_unavailable', message: err.message, upstream: err.upstream }, requestId });
      return;
    }
    // Body parser errors: malformed JSON, too large, wrong charset.
    const status = (err as { status?: number; statusCode?: number }).status ?? (err as { statusCode?: number }).statusCode;
    const type = (err as { type?: string }).type;
    if (status && status >= 400 && status < 500) {
      const code = type === 'entity.too.large' ? 'payload_too_large' : type === 'entity.parse.failed' ? 'malformed_json' : 'bad_request';
      res.status(status).json({ error: { code, message: (err as Error).message }, requestId });
      return;
    }
    logger.error({ err, requestId, path: req.path }, 'unhandled error');
    res.status(500).json({ error: { code: 'internal', message: 'internal error' }, requestId });
  };
}

/**
 * Requests Node refuses before Express sees them (a request line and headers over 16 KB, bytes that are
 * not HTTP) get the Error object too, instead of Node's bare 431/400: `server.on('clientError', …)`.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const status = tooLarge ? 431 : 400;
  const requestId = randomUUID();
  const body = JSON.stringify({
    error: tooLarge
      ? { code: 'headers_too_large', message: 'the request line and headers are over 16 KB' }
      : { code: 'bad_request', message: 'the request is not valid HTTP' },
    requestId,
  });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `x-request-id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
  );
}
