import type { Client } from '@sendgrid/client';

/**
 * What SendGrid's Email Activity Feed says about one delivery key: `found` (SendGrid took a message carrying
 * it), `absent` (not listed, yet: the feed lags), `no-access` (401/403/404: the account has no Email
 * Activity add-on, or the key lacks its scope; asking again will not help) or `unavailable` (429, 5xx,
 * unreachable: ask again later, after `retryAfterMs` when SendGrid said).
 */
export type FeedAnswer =
  | { kind: 'found'; msgId?: string }
  | { kind: 'absent' }
  | { kind: 'no-access'; status: number }
  | { kind: 'unavailable'; reason: string; retryAfterMs?: number };

export interface ActivityFeed {
  findByDeliveryKey(deliveryKey: string): Promise<FeedAnswer>;
}

/**
 * The feed's query for messages whose custom arg `delivery_key` is `key` (custom args are `unique_args`
 * in the feed's query language). Quotes and backslashes in the key are escaped.
 */
export function deliveryKeyQuery(key: string): string {
  return `unique_args['delivery_key']="${key.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** Reads a 200 answer of `GET /v3/messages`: the first message's id, or absent. */
export function readFeedMessages(body: unknown): FeedAnswer {
  const messages = (body as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(messages)) return { kind: 'unavailable', reason: 'the activity feed answered without a messages list' };
  if (messages.length === 0) return { kind: 'absent' };
  const msgId = (messages[0] as { msg_id?: unknown } | null)?.msg_id;
  return typeof msgId === 'string' && msgId.length > 0 ? { kind: 'found', msgId } : { kind: 'found' };
}

/**
 * The X-Message-Id part of a feed `msg_id`: SendGrid's msg_id begins with the X-Message-Id the send was
 * answered with, then `.filter…`; the delivery record keeps the X-Message-Id either way.
 */
export function xMessageIdOf(msgId: string): string {
  const dot = msgId.indexOf('.');
  return dot > 0 ? msgId.slice(0, dot) : msgId;
}

interface ClientError {
  code?: number | string;
  message?: string;
  response?: { headers?: Record<string, string> };
}

/** The Email Activity Feed through the @sendgrid/client the mailer sends with (same key, base URL, timeout). */
export function createActivityFeed(client: Client): ActivityFeed {
  return {
    async findByDeliveryKey(deliveryKey) {
      try {
        const [response] = await client.request({ method: 'GET', url: '/v3/messages', qs: { query: deliveryKeyQuery(deliveryKey), limit: 1 } });
        return readFeedMessages(response.body);
      } catch (raw) {
        const err = raw as ClientError;
        const status = typeof err.code === 'number' ? err.code : undefined;
        if (status === 401 || status === 403 || status === 404) return { kind: 'no-access', status };
        if (status === 429) {
          const reset = Number(err.response?.headers?.['x-ratelimit-reset']);
          return {
            kind: 'unavailable',
            reason: 'activity feed rate limit (429)',
            ...(Number.isFinite(reset) && reset > 0 ? { retryAfterMs: Math.max(1_000, reset * 1_000 - Date.now()) } : {}),
          };
        }
        return { kind: 'unavailable', reason: status ? `activity feed answered ${status}` : `activity feed unreachable: ${err.message ?? String(raw)}` };
      }
    },
  };
}
