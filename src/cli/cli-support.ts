import { randomUUID } from 'node:crypto';

/**
 * What the `lifecycle` commands share: the API call with the caller's key, tables, and JSON or text out.
 * LIFECYCLE_API_URL (default http://localhost:3000) and LIFECYCLE_API_KEY say where and who.
 */
export interface Options {
  json?: boolean;
}

const apiUrl = () => (process.env.LIFECYCLE_API_URL ?? 'http://localhost:3000').replace(/\/$/, '');

/** An answer other than 2xx: its status, and Retry-After in seconds where the API gave one. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** The API could not be reached (refused, reset, no answer): the request may or may not have arrived. */
export class ApiUnreachable extends Error {}

export async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<unknown> {
  const key = process.env.LIFECYCLE_API_KEY;
  if (!key) throw new Error('set LIFECYCLE_API_KEY to an API key (npm start prints a development key)');
  let res: Response;
  try {
    res = await fetch(`${apiUrl()}${path}`, {
      method,
      headers: { ...headers, authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new ApiUnreachable(`cannot reach the API at ${apiUrl()}: ${(err as Error).message}`, { cause: err });
  }
  const text = await res.text();
  const parsed = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const error = (parsed as { error?: { message?: string; issues?: Array<{ path: string; message: string }> } } | undefined)?.error;
    const issues = error?.issues?.map((i) => `\n  ${i.path || '(body)'}: ${i.message}`).join('') ?? '';
    const retryAfter = Number(res.headers.get('retry-after'));
    throw new ApiError(`${res.status}: ${error?.message ?? text}${issues}`, res.status, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
  }
  return parsed;
}

/** Attempts at a support action before the command gives up (the first and two retries). */
const SUPPORT_ATTEMPTS = 3;
/** The longest wait between attempts, whatever Retry-After says. */
const MAX_RETRY_WAIT_SECONDS = 10;

/**
 * A support action (a Temporal Update on the journey): sent with an Idempotency-Key, and sent again with the
 * same key after a 503 (as Retry-After says) or a lost connection, so an action the API stopped waiting for
 * is answered once it is taken, never taken twice. When the attempts run out the error gives the key, for
 * running the command again with --idempotency-key.
 */
export async function supportAction(path: string, body: unknown, idempotencyKey: string = randomUUID(), wait = (seconds: number) => new Promise((r) => setTimeout(r, seconds * 1000))): Promise<unknown> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await api('POST', path, body, { 'idempotency-key': idempotencyKey });
    } catch (err) {
      const retryable = err instanceof ApiUnreachable || (err instanceof ApiError && err.status === 503);
      if (!retryable) throw err;
      if (attempt >= SUPPORT_ATTEMPTS) {
        throw new Error(`${(err as Error).message}\nnot answered after ${attempt} attempts; the action may still be taken: run the command again with --idempotency-key ${idempotencyKey} to get its answer without taking it twice`, { cause: err });
      }
      await wait(Math.min(MAX_RETRY_WAIT_SECONDS, err instanceof ApiError ? (err.retryAfterSeconds ?? 1) : 1));
    }
  }
}

export function table(rows: Array<Record<string, unknown>>, columns: string[]): string {
  const cell = (v: unknown) => (v === null || v === undefined ? '' : Array.isArray(v) ? v.join(',') : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

export function print(opts: Options, value: unknown, human: () => string): void {
  process.stdout.write(`${opts.json ? JSON.stringify(value, null, 2) : human()}\n`);
}

