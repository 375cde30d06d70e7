import { AsyncLocalStorage } from 'node:async_hooks';
import { workflowIdFor } from '../temporal/contract.js';
import type { LogFields } from './logger.js';

/** What an API log line says about the request it belongs to. */
interface RequestContext {
  requestId: string;
  /** From the path (`/v1/customers/:userId`); set as soon as the route matches. */
  userId?: string;
  /** The parsed body, read when a line is logged: a track or identify call names its customer there. */
  body: () => unknown;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Ids are logged, not trusted: a long or odd one is cut, so a caller cannot flood a line. */
const asId = (value: unknown) => (typeof value === 'string' && value.trim().length > 0 ? value.trim().slice(0, 200) : undefined);

/** Run the rest of a request with its id, so every line logged while it is handled carries it. */
export function runWithRequestContext(requestId: string, body: () => unknown, next: () => void): void {
  storage.run({ requestId, body }, next);
}

export function setRequestUserId(userId: string): void {
  const context = storage.getStore();
  if (context) context.userId = userId;
}

/**
 * The request id, the customer id (path or body) and the customer's journey workflow id, for the
 * request being handled now; undefined outside a request.
 */
export function requestLogFields(): LogFields | undefined {
  const context = storage.getStore();
  if (!context) return undefined;
  const body = context.body();
  const userId = asId(context.userId) ?? asId(body && typeof body === 'object' ? (body as { userId?: unknown }).userId : undefined);
  return { requestId: context.requestId, userId, workflowId: userId ? workflowIdFor(userId) : undefined };
}
