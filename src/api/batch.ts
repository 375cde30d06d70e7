import { HttpError, UpstreamUnavailable } from '../http/errors.js';
import { RateLimited } from './rate-limit.js';
import type { Applied } from './segment-ingest.js';
import { normalizeCall, type CallType, type Identity, type Issue, type Receipt, type SegmentCall } from './segment-spec.js';

export type BatchResult =
  | { index: number; status: 'accepted'; type: CallType; messageId: string; warnings?: string[] }
  | { index: number; status: 'rejected'; issues: Issue[]; rejectedId?: string; warnings?: string[] }
  | { index: number; status: 'unavailable'; message: string }
  | { index: number; status: 'rate_limited'; message: string; retryAfterSeconds: number };

/** A refused item, for the rejected store: what was sent, why, and about whom. */
export interface Refusal {
  index: number;
  raw: unknown;
  type: string;
  issues: Issue[];
  identity: Identity;
  messageId?: string;
}

export interface BatchHandlers {
  apply(call: SegmentCall): Promise<Applied>;
  /** Keep a refused item; answers its id in the rejected store. */
  refused(refusal: Refusal): Promise<string | undefined>;
}

/**
 * Apply each item on its own. Items of one customer (or visitor) run in order, customers side by side;
 * after an outage or the customer's rate limit hits a customer's item, that customer's later items are
 * not attempted, so a retry keeps order.
 */
export async function applyBatch(items: unknown[], receipt: Receipt, handlers: BatchHandlers, concurrency = 16): Promise<BatchResult[]> {
  const results: BatchResult[] = new Array(items.length);
  const refusals: Refusal[] = [];
  const byUser = new Map<string, Array<{ index: number; call: SegmentCall; warnings: string[] }>>();
  items.forEach((raw, index) => {
    const normalized = normalizeCall(raw, undefined, receipt);
    if (!normalized.ok) {
      refusals.push({ index, raw, type: normalized.type, issues: normalized.issues, identity: normalized.identity, ...(normalized.messageId ? { messageId: normalized.messageId } : {}) });
      results[index] = { index, status: 'rejected', issues: normalized.issues, ...(normalized.warnings.length ? { warnings: normalized.warnings } : {}) };
      return;
    }
    const { call } = normalized;
    // An alias orders with its customer; a visitor's calls with each other.
    const who = call.userId !== undefined ? `u:${call.userId}` : `a:${call.anonymousId}`;
    const queue = byUser.get(who) ?? [];
    queue.push({ index, call, warnings: normalized.warnings });
    byUser.set(who, queue);
  });

  const queues = [...byUser.values()];
  const runQueue = async (queue: Array<{ index: number; call: SegmentCall; warnings: string[] }>) => {
    let blocked: string | undefined;
    let limited: RateLimited | undefined;
    for (const { index, call, warnings } of queue) {
      if (limited) {
        results[index] = { index, status: 'rate_limited', message: `not attempted: an earlier item of this customer was rate limited (${limited.message})`, retryAfterSeconds: limited.retryAfterSeconds };
        continue;
      }
      if (blocked) {
        results[index] = { index, status: 'unavailable', message: `not attempted: an earlier item of this customer failed (${blocked})` };
        continue;
      }
      try {
        await handlers.apply(call);
        results[index] = { index, status: 'accepted', type: call.type, messageId: call.messageId, ...(warnings.length ? { warnings } : {}) };
      } catch (err) {
        if (err instanceof RateLimited) {
          limited = err;
          results[index] = { index, status: 'rate_limited', message: err.message, retryAfterSeconds: err.retryAfterSeconds };
        } else if (err instanceof UpstreamUnavailable) {
          blocked = err.message;
          results[index] = { index, status: 'unavailable', message: err.message };
        } else if (err instanceof HttpError) {
          const issues = [{ path: '', message: err.message, code: err.code }];
          refusals.push({ index, raw: items[index], type: call.type, issues, identity: call, messageId: call.messageId });
          results[index] = { index, status: 'rejected', issues, ...(warnings.length ? { warnings } : {}) };
        } else {
          throw err;
        }
      }
    }
  };
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, queues.length) }, async () => {
      while (next < queues.length) await runQueue(queues[next++]!);
    }),
  );
  // Refused items are kept before the answer: a 200 never hides an item that is nowhere.
  for (const refusal of refusals) {
    try {
      const rejectedId = await handlers.refused(refusal);
      const result = results[refusal.index];
      if (result?.status === 'rejected' && rejectedId) result.rejectedId = rejectedId;
    } catch (err) {
      if (!(err instanceof UpstreamUnavailable)) throw err;
      results[refusal.index] = { index: refusal.index, status: 'unavailable', message: `refused, and could not be kept in the rejected store: ${err.message}` };
    }
  }
  return results;
}
