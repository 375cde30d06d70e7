import type { z } from 'zod';
import { HttpError, UpstreamUnavailable, zodIssues } from './errors.js';
import { RateLimited } from './rate-limit.js';
import { BatchItem, type IdentifyBody, type TrackBody } from './schemas.js';

export type BatchResult =
  | { index: number; status: 'accepted'; type: 'track' | 'identify' }
  | { index: number; status: 'rejected'; issues: Array<{ path: string; message: string; code: string }> }
  | { index: number; status: 'unavailable'; message: string }
  | { index: number; status: 'rate_limited'; message: string; retryAfterSeconds: number };

export interface BatchHandlers {
  track(body: TrackBody): Promise<unknown>;
  identify(body: IdentifyBody): Promise<unknown>;
}

/**
 * Apply each item on its own. Items of one customer run in order, customers run side by side; after an
 * outage or the customer's rate limit hits a customer's item, that customer's later items are not
 * attempted, so a retry keeps order.
 */
export async function applyBatch(items: unknown[], handlers: BatchHandlers, concurrency = 16): Promise<BatchResult[]> {
  const results: BatchResult[] = new Array(items.length);
  const byUser = new Map<string, Array<{ index: number; item: z.infer<typeof BatchItem> }>>();
  items.forEach((raw, index) => {
    const parsed = BatchItem.safeParse(raw);
    if (!parsed.success) {
      results[index] = { index, status: 'rejected', issues: zodIssues(parsed.error) };
      return;
    }
    const queue = byUser.get(parsed.data.userId) ?? [];
    queue.push({ index, item: parsed.data });
    byUser.set(parsed.data.userId, queue);
  });

  const queues = [...byUser.values()];
  const runQueue = async (queue: Array<{ index: number; item: z.infer<typeof BatchItem> }>) => {
    let blocked: string | undefined;
    let limited: RateLimited | undefined;
    for (const { index, item } of queue) {
      if (limited) {
        results[index] = { index, status: 'rate_limited', message: `not attempted: an earlier item of this customer was rate limited (${limited.message})`, retryAfterSeconds: limited.retryAfterSeconds };
        continue;
      }
      if (blocked) {
        results[index] = { index, status: 'unavailable', message: `not attempted: an earlier item of this customer failed (${blocked})` };
        continue;
      }
      try {
        if (item.type === 'track') {
          const { type: _t, ...body } = item;
          await handlers.track(body);
        } else {
          const { type: _t, ...body } = item;
          await handlers.identify(body);
        }
        results[index] = { index, status: 'accepted', type: item.type };
      } catch (err) {
        if (err instanceof RateLimited) {
          limited = err;
          results[index] = { index, status: 'rate_limited', message: err.message, retryAfterSeconds: err.retryAfterSeconds };
        } else if (err instanceof UpstreamUnavailable) {
          blocked = err.message;
          results[index] = { index, status: 'unavailable', message: err.message };
        } else if (err instanceof HttpError) {
          results[index] = { index, status: 'rejected', issues: [{ path: '', message: err.message, code: err.code }] };
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
  return results;
}
