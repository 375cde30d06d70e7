import type { Logger } from 'pino';
import { linkSecrets, publicUrl, vapidKeys, webhookEndpoints, type Config } from '../config/config.js';
import { LinkSigner, preferenceLinks } from '../preferences/preference-links.js';
import type { Models } from '../db/models.js';
import { createOutboxMailer, createSendgridMailer } from '../delivery/mailer.js';
import { createSentLookup } from '../delivery/sent-lookup.js';
import { createWebhookChannel } from '../delivery/webhook-channel.js';
import { createTwilioSender } from '../delivery/twilio-client.js';
import { createWebPushSender } from '../delivery/web-push-sender.js';
import type { ChannelDeps } from './registry.js';

/**
 * Every channel's provider client and settings, built from the worker's config (src/config/config.ts).
 * A new channel adds its settings to the config schema and its client here; `summary` goes into the
 * worker's "worker running" line.
 */
export function channelDepsFromConfig(config: Config, models: Models, logger: Logger): { deps: ChannelDeps; summary: Record<string, unknown> } {
  const mailer = config.SENDGRID_API_KEY
    ? createSendgridMailer({ apiKey: config.SENDGRID_API_KEY, ...(config.SENDGRID_BASE_URL ? { baseUrl: config.SENDGRID_BASE_URL } : {}) })
    : createOutboxMailer(models);
  // Looks before resending a message whose attempt was cut off after it went to SendGrid (docs/reliability.md).
  const sentLookup =
    mailer.provider === 'sendgrid'
      ? createSentLookup({
          models,
          ...(config.SENDGRID_ACTIVITY_LOOKUP === 'on' && mailer.activityFeed ? { feed: mailer.activityFeed } : {}),
          webhookConfigured: config.SENDGRID_WEBHOOK_PUBLIC_KEY !== undefined,
          settleMs: config.SENDGRID_LOOKUP_SETTLE_MS,
          logger,
        })
      : undefined;
  const webhooks = createWebhookChannel({ endpoints: webhookEndpoints(config), timeoutMs: config.WEBHOOK_TIMEOUT_MS });
  const vapid = vapidKeys(config);
  const webPush = vapid
    ? { sender: createWebPushSender({ vapid, timeoutMs: config.PUSH_TIMEOUT_MS }), ttlSeconds: config.PUSH_TTL_SECONDS, services: config.WEB_PUSH_SERVICES }
    : undefined;
  // Every marketing email carries signed unsubscribe and preference links to the API (docs/channels.md).
  const links = preferenceLinks(new LinkSigner(linkSecrets(config)), publicUrl(config));
  // Text messages through Twilio; its status callbacks come back to PUBLIC_URL (docs/channels.md).
  const sms = config.TWILIO_ACCOUNT_SID
    ? {
        provider: createTwilioSender({
          accountSid: config.TWILIO_ACCOUNT_SID,
          authToken: config.TWILIO_AUTH_TOKEN!,
          ...(config.TWILIO_FROM ? { from: config.TWILIO_FROM } : {}),
          ...(config.TWILIO_MESSAGING_SERVICE_SID ? { messagingServiceSid: config.TWILIO_MESSAGING_SERVICE_SID } : {}),
          ...(config.TWILIO_API_BASE ? { apiBase: config.TWILIO_API_BASE } : {}),
        }),
        publicUrl: publicUrl(config),
        quietHours: config.SMS_QUIET_HOURS,
        ...(config.SMS_DEFAULT_COUNTRY ? { defaultCountry: config.SMS_DEFAULT_COUNTRY } : {}),
      }
    : undefined;
  return {
    deps: { models, logger, mailer, emailFrom: config.EMAIL_FROM, webhooks, links, ...(sentLookup ? { sentLookup } : {}), ...(sms ? { sms } : {}), ...(webPush ? { webPush } : {}) },
    summary: {
      mail: mailer.provider,
      ...(mailer.provider === 'sendgrid'
        ? { sentLookup: { activityFeed: config.SENDGRID_ACTIVITY_LOOKUP, eventWebhook: config.SENDGRID_WEBHOOK_PUBLIC_KEY !== undefined, settleMs: config.SENDGRID_LOOKUP_SETTLE_MS } }
        : {}),
      webhooks: webhooks.endpoints.length > 0 ? webhooks.endpoints : 'none (WEBHOOK_ENDPOINTS)',
      sms: sms ? { provider: 'twilio', api: config.TWILIO_API_BASE ?? 'https://api.twilio.com', quietHours: config.SMS_QUIET_HOURS } : 'off (TWILIO_ACCOUNT_SID)',
      webPush: webPush ? { services: webPush.services, ttlSeconds: webPush.ttlSeconds } : 'not configured (VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY, VAPID_SUBJECT)',
      preferenceLinks: `${publicUrl(config)} (${config.LINK_SECRETS ? 'LINK_SECRETS' : 'key derived from PAYLOAD_KEYS'})`,
    },
  };
}
