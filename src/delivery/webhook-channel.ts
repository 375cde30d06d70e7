import type { DeliveryRequest } from '../core/journey-state.js';
import { MailError } from './mailer.js';
import type { RenderedMessage } from './render-message.js';
import { SIGNATURE_HEADER, signWebhook } from './webhook-signature.js';

/** A configured endpoint (WEBHOOK_ENDPOINTS with its WEBHOOK_SECRETS entry). */
export interface WebhookEndpoint {
  id: string;
  url: string;
  secret: string;
}

/**
 * The JSON a webhook endpoint receives. The provider finds the customer by `userId` (no address or other
 * profile data is sent); `deliveryKey` is also the Idempotency-Key header: a retried message carries the
 * same key, so the receiver can drop a second copy.
 */
export interface WebhookMessage {
  deliveryKey: string;
  userId: string;
  campaignId: string;
  variant: string | null;
  kind: 'transactional' | 'marketing';
  locale: string;
  /** The template's subject, rendered. */
  title: string;
  /** The template's `text`, rendered. */
  body: string;
  /** When this attempt was made (ISO 8601). */
  sentAt: string;
}

export interface WebhookResult {
  provider: 'webhook';
  providerMessageId: string;
}

export interface WebhookChannel {
  /** Names of the configured endpoints. */
  readonly endpoints: string[];
  /** POST one message; throws MailError: 'rejected' when retrying cannot help, 'retry' otherwise. */
  send(endpoint: string, message: WebhookMessage): Promise<WebhookResult>;
}

export function webhookMessage(request: DeliveryRequest, rendered: RenderedMessage, sentAt: Date): WebhookMessage {
  return {
    deliveryKey: request.key,
    userId: request.userId,
    campaignId: request.campaignId,
    variant: request.variant ?? null,
    kind: request.kind,
    locale: rendered.locale,
    title: rendered.subject,
    // The definition's validator makes every webhook template carry `text`.
    body: rendered.text ?? '',
    sentAt: sentAt.toISOString(),
  };
}

/** Retry-After as delta-seconds or an HTTP date, in milliseconds from `now`; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null | undefined, now: number): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1_000;
  // An HTTP date names its day and month ("Wed, 21 Oct 2015 07:28:00 GMT"); Date.parse would take "-5" too.
  if (!/^[A-Za-z]{3}/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * What an endpoint's answer means for the delivery. 2xx: taken. 408, 429 and 5xx: try again (after
 * Retry-After when given). 401 and 403: try again too, as for SendGrid: a wrong secret or a revoked
 * permission is the operator's to fix, and the messages should go out once it is fixed. Any other 4xx,
 * and a redirect (a signed message is not forwarded to a URL nobody configured): rejected for good.
 */
export function answerKind(status: number): 'sent' | 'retry' | 'rejected' {
  if (status >= 200 && status < 300) return 'sent';
  if (status === 408 || status === 429 || status >= 500 || status === 401 || status === 403) return 'retry';
  return 'rejected';
}

/** The provider's id for the message: a JSON `id`, else an X-Message-Id header, else our delivery key. */
function messageIdOf(body: string, headers: Headers, fallback: string): string {
  try {
    const id = (JSON.parse(body) as { id?: unknown } | null)?.id;
    if ((typeof id === 'string' && id.length > 0) || typeof id === 'number') return String(id);
  } catch {
    // Not JSON: the header or the key will do.
  }
  return headers.get('x-message-id') || fallback;
}

const MAX_ERROR_TEXT = 200;

/**
 * Webhook delivery with Node's fetch: one signed POST per attempt, no redirects followed, bounded in time.
 * An endpoint name the worker has not configured is a permanent failure (the campaign names an endpoint
 * this deployment does not have); retrying would not configure it.
 */
export function createWebhookChannel(opts: { endpoints: WebhookEndpoint[]; timeoutMs?: number; now?: () => number }): WebhookChannel {
  const byId = new Map(opts.endpoints.map((e) => [e.id, e]));
  const now = opts.now ?? Date.now;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return {
    endpoints: [...byId.keys()],
    async send(endpointId, message) {
      const endpoint = byId.get(endpointId);
      if (!endpoint) {
        const configured = byId.size > 0 ? `configured: ${[...byId.keys()].join(', ')}` : 'none is configured';
        throw new MailError(`webhook endpoint "${endpointId}" is not configured on this worker (WEBHOOK_ENDPOINTS; ${configured})`, 'rejected');
      }
      const body = JSON.stringify(message);
      const signature = signWebhook(endpoint.secret, body, Math.floor(now() / 1_000));
      let response: Response;
      let text: string;
      try {
        response = await fetch(endpoint.url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'Idempotency-Key': message.deliveryKey, [SIGNATURE_HEADER]: signature },
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
        text = await response.text();
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code;
        const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (cause ?? (err as Error).message);
        throw new MailError(`webhook ${endpointId} unreachable: ${reason}`, 'retry');
      }
      const kind = answerKind(response.status);
      if (kind === 'sent') return { provider: 'webhook', providerMessageId: messageIdOf(text, response.headers, message.deliveryKey) };
      const detail = text.trim().replace(/\s+/g, ' ').slice(0, MAX_ERROR_TEXT);
      const description = `webhook ${endpointId} answered ${response.status}${detail ? `: ${detail}` : ''}`;
      if (kind === 'rejected') throw new MailError(description, 'rejected', response.status);
      throw new MailError(description, 'retry', response.status, retryAfterMs(response.headers.get('retry-after'), now()));
    },
  };
}
