import { createWebhookChannel, webhookMessage, type WebhookChannel, type WebhookMessage } from '../delivery/webhook-channel.js';
import { renderMessage } from '../delivery/render-message.js';
import { defineChannel, type Channel } from './channel.js';
import { answerOfMailError } from './email.js';

export interface WebhookChannelDeps {
  /** The endpoints (WEBHOOK_ENDPOINTS with WEBHOOK_SECRETS); without it, a webhook message fails as unconfigured. */
  webhooks?: WebhookChannel;
}

/**
 * A signed JSON POST to an endpoint the worker configures (a push, SMS or in-app provider of your own).
 * The provider finds the customer by userId, so no address is needed; the delivery key is the
 * Idempotency-Key, so the receiver drops a second copy.
 */
export function webhookChannel(deps: WebhookChannelDeps): Channel {
  const webhooks = deps.webhooks ?? createWebhookChannel({ endpoints: [] });
  return defineChannel<string, WebhookMessage>({
    id: 'webhook',
    target: (request) => ({ provider: 'webhook', endpoint: request.endpoint ?? '' }),
    address: (profile) => ({ kind: 'reachable', address: profile._id }),
    async render({ request, profile, definition, now }) {
      const rendered = await renderMessage(definition, request.template, profile, request.eventProperties, request.journey);
      return { locale: rendered.locale, message: webhookMessage(request, rendered, now) };
    },
    async send(message, { request }) {
      try {
        return { kind: 'sent', ...(await webhooks.send(request.endpoint ?? '', message)) };
      } catch (err) {
        return answerOfMailError(err);
      }
    },
  });
}
