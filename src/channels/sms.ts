import { createHash } from 'node:crypto';
import type { CountryCode } from 'libphonenumber-js';
import type { Timing } from '../core/journey-definition.js';
import type { Models } from '../db/models.js';
import { readPhoneNumber } from '../delivery/phone-number.js';
import { renderMessage } from '../delivery/render-message.js';
import { SmsError, type OutgoingSms, type SmsProvider } from '../delivery/twilio-client.js';
import { defineChannel, retryAnswer, type Channel, type ChannelProfile, type SendAnswer } from './channel.js';

/** The route Twilio posts delivery receipts to (src/api/twilio-webhooks.ts); the delivery key rides in the query. */
export const TWILIO_STATUS_PATH = '/v1/webhooks/twilio/status';
/** The profile trait an SMS goes to. */
export const PHONE_TRAIT = 'phone';
/** How far Twilio's clock (and its second-granular creation times) may lie behind ours when a cut-off attempt is looked up. */
const LOOKUP_SLACK_MS = 5 * 60_000;
/** How long a retry waits when Twilio's message list cannot be read (the outcome stays unknown meanwhile). */
const LOOKUP_RETRY_MS = 30_000;

export interface SmsSettings {
  /** Twilio through its SDK (TWILIO_*). */
  provider: SmsProvider;
  /** PUBLIC_URL: Twilio posts each message's status callbacks to this API. */
  publicUrl: string;
  /** SMS_DEFAULT_COUNTRY: the country of profile numbers written without +<country code>. */
  defaultCountry?: CountryCode;
  /** SMS_QUIET_HOURS: when no text message goes, in the customer's time zone, whatever the campaign asks. */
  quietHours: { from: string; to: string };
}

export interface SmsChannelDeps {
  models: Models;
  /** Without it, a text message fails as unconfigured. */
  sms?: SmsSettings;
}

/** The digest a cut-off attempt's message is known by among the number's messages at Twilio. */
export function smsDigest(body: string): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 32);
}

/** The status callback URL of one message: PUBLIC_URL + the route, with our delivery key. */
export function statusCallbackUrl(publicUrl: string, deliveryKey: string): string {
  return `${publicUrl.replace(/\/+$/, '')}${TWILIO_STATUS_PATH}?key=${encodeURIComponent(deliveryKey)}`;
}

/** The campaign's timing with SMS quiet hours: the campaign's own quiet hours if it has them, else SMS_QUIET_HOURS. */
export function smsTiming(timing: Timing | undefined, quietHours: { from: string; to: string }, defaultTimezone: string): Timing {
  if (timing?.quietHours) return timing;
  return { ...(timing ?? { optimise: false, defaultTimezone }), quietHours };
}

/**
 * Text messages through Twilio: the profile's `phone` trait in E.164 (libphonenumber-js), the template's
 * text as the body, a status callback carrying our delivery key. Twilio has no idempotency key, so the
 * body's digest is kept on the delivery before the send, and a retry after an attempt that was cut off
 * looks for that message among the number's messages at Twilio before it sends again.
 */
export function smsChannel(deps: SmsChannelDeps): Channel {
  const { models, sms } = deps;
  const phoneOf = (profile: Pick<ChannelProfile, 'traits'>) => readPhoneNumber((profile.traits ?? {})[PHONE_TRAIT], sms?.defaultCountry);
  return defineChannel<string, OutgoingSms>({
    id: 'sms',
    target: () => ({ provider: 'twilio' }),
    address(profile) {
      if (profile.smsStoppedAt) return { kind: 'unreachable', reason: 'the customer replied STOP to text messages', mayArrive: false };
      const raw = (profile.traits ?? {})[PHONE_TRAIT];
      if (raw === undefined || raw === null || raw === '') return { kind: 'unreachable', reason: 'no phone number on the profile (trait phone)', mayArrive: true };
      const phone = phoneOf(profile);
      // A number that cannot exist stays so: not waited for, and the next channel in the campaign's order is tried.
      if (phone.kind === 'invalid') return { kind: 'unreachable', reason: `the profile's phone number cannot take text messages: ${phone.reason}`, mayArrive: false };
      return { kind: 'reachable', address: phone.e164 };
    },
    timing: (request, definition) => (sms ? smsTiming(request.timing, sms.quietHours, definition.timing?.defaultTimezone ?? 'UTC') : request.timing),
    async render({ request, profile, address, definition }) {
      const rendered = await renderMessage(definition, request.template, profile, request.eventProperties, request.journey);
      return {
        locale: rendered.locale,
        message: { to: address, body: (rendered.text ?? '').trim(), ...(sms ? { statusCallback: statusCallbackUrl(sms.publicUrl, request.key) } : {}) },
      };
    },
    async send(message, { request, now }): Promise<SendAnswer> {
      if (!sms) return { kind: 'failed', reason: 'SMS is not configured on this worker (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID)' };
      if (message.body === '') return { kind: 'failed', reason: `template ${request.template} has no text for a text message` };
      // Before Twilio has it: the retry of a cut-off attempt knows the message by this.
      await models.Delivery.updateOne({ _id: request.key }, { $set: { contentDigest: smsDigest(message.body) } });
      try {
        const { sid } = await sms.provider.send(message);
        return { kind: 'sent', provider: 'twilio', providerMessageId: sid };
      } catch (err) {
        if (!(err instanceof SmsError)) throw err;
        if (err.kind === 'opted-out') {
          // Twilio keeps the number's STOP itself; keep it here too, so later messages are skipped before Twilio refuses them.
          await models.Customer.updateOne({ _id: request.userId, smsStoppedAt: { $exists: false } }, { $set: { smsStoppedAt: now } });
          return { kind: 'failed', reason: `the customer replied STOP to text messages (${err.message})`, ...(err.status ? { status: err.status } : {}) };
        }
        if (err.kind === 'rejected') return { kind: 'failed', reason: err.message, ...(err.status ? { status: err.status } : {}) };
        return retryAnswer(err);
      }
    },
    async recoverCutOff(delivery) {
      if (!sms || delivery.provider !== 'twilio') return { kind: 'resend', reason: `sent through ${delivery.provider ?? 'an unknown provider'}` };
      const record = await models.Delivery.findById(delivery._id, { userId: 1, contentDigest: 1 }).lean();
      if (!record?.contentDigest) return { kind: 'resend', reason: 'the attempt stopped before the message went to Twilio' };
      const profile = await models.Customer.findById(record.userId, { traits: 1 }).lean();
      const phone = profile ? phoneOf(profile) : undefined;
      if (phone?.kind !== 'valid') return { kind: 'resend', reason: 'the profile has no valid phone number now' };
      let found;
      try {
        found = await sms.provider.sentTo(phone.e164, new Date(delivery.sendingAt.getTime() - LOOKUP_SLACK_MS));
      } catch (err) {
        if (!(err instanceof SmsError)) throw err;
        return { kind: 'wait', ms: err.retryAfterMs ?? LOOKUP_RETRY_MS, reason: `Twilio's message list could not be read: ${err.message}` };
      }
      for (const message of found) {
        if (smsDigest(message.body) !== record.contentDigest) continue;
        // The same text to the same number from another delivery (a repeat of the campaign) is not this one.
        if (await models.Delivery.exists({ providerMessageId: message.sid, _id: { $ne: delivery._id } })) continue;
        return { kind: 'sent', providerMessageId: message.sid, via: 'message-list' };
      }
      return { kind: 'resend', reason: 'Twilio has no such message to this number since the attempt' };
    },
  });
}
