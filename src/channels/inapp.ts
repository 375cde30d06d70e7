import type { Models } from '../db/models.js';
import { renderMessage } from '../delivery/render-message.js';
import { isMongoOutage } from '../http/errors.js';
import { defineChannel, type Channel } from './channel.js';

/** How long an in-app message stays in the inbox when its campaign's message names no `expiresAfter`. */
export const DEFAULT_INBOX_EXPIRY_MS = 30 * 86_400_000;

/** An in-app message as it goes into the inbox. */
export interface InboxMessage {
  locale: string;
  title: string;
  body: string;
  url?: string;
  expiresAt: Date;
}

/**
 * The customer's in-app inbox: our own MongoDB collection `inbox` is the provider, and the customer's app
 * reads it through GET /v1/inbox (src/api/inbox-routes.ts). The entry's `_id` is the delivery key and the
 * write is an upsert that sets nothing on an entry already there, so a resend after a crash between the
 * write and the delivery record is the same message, not a second one. Every customer with a profile is
 * reachable: the message waits in the inbox until the app next opens (or it expires).
 */
export function inappChannel(deps: { models: Models }): Channel {
  const { InboxEntry } = deps.models;
  return defineChannel<string, InboxMessage>({
    id: 'inapp',
    target: () => ({ provider: 'inbox' }),
    address: (profile) => ({ kind: 'reachable', address: profile._id }),
    async render({ request, profile, definition, now }) {
      const rendered = await renderMessage(definition, request.template, profile, request.eventProperties, request.journey);
      const expiresAfter = typeof request.options?.expiresAfter === 'number' ? request.options.expiresAfter : DEFAULT_INBOX_EXPIRY_MS;
      const url = typeof request.options?.url === 'string' ? request.options.url : undefined;
      return {
        locale: rendered.locale,
        // The validator makes every in-app template carry `text` in every locale.
        message: { locale: rendered.locale, title: rendered.subject, body: rendered.text ?? '', ...(url ? { url } : {}), expiresAt: new Date(now.getTime() + expiresAfter) },
      };
    },
    async send(message, { request, now }) {
      try {
        await InboxEntry.updateOne(
          { _id: request.key },
          {
            $setOnInsert: {
              userId: request.userId,
              campaignId: request.campaignId,
              kind: request.kind,
              ...message,
              createdAt: now,
            },
          },
          { upsert: true },
        );
        return { kind: 'sent', provider: 'inbox', providerMessageId: request.key };
      } catch (err) {
        // The write may or may not have landed: the retry writes again, which is the same entry either way.
        if (isMongoOutage(err)) return { kind: 'retry', reason: `inbox (MongoDB) unavailable: ${(err as Error).message}`, reached: 'unknown' };
        throw err;
      }
    },
  });
}
