import { MailError, type Mailer, type OutgoingEmail } from '../delivery/mailer.js';
import { renderMessage } from '../delivery/render-message.js';
import type { SentLookup } from '../delivery/sent-lookup.js';
import { withPreferenceFooter } from '../preferences/email-footer.js';
import { listUnsubscribeHeaders, type PreferenceLinks } from '../preferences/preference-links.js';
import { defineChannel, retryAnswer, type Channel, type SendAnswer } from './channel.js';

export interface EmailChannelDeps {
  /** SendGrid, or the local outbox without SENDGRID_API_KEY. */
  mailer: Mailer;
  /** EMAIL_FROM. */
  emailFrom: string;
  /** Looks at SendGrid before resending a message whose last attempt was cut off; without it, such a message is resent. */
  sentLookup?: SentLookup;
  /**
   * The signed unsubscribe and preference-page links (LINK_SECRETS, PUBLIC_URL): every marketing email
   * carries them, as RFC 8058 List-Unsubscribe headers and a footer. The worker always has them.
   */
  links?: PreferenceLinks;
}

/** A provider's error as the seam's answer; anything else (a bug, a killed worker) is thrown on. */
export function answerOfMailError(err: unknown): SendAnswer {
  if (!(err instanceof MailError)) throw err;
  if (err.kind === 'rejected') return { kind: 'failed', reason: err.message, ...(err.status !== undefined ? { status: err.status } : {}) };
  return retryAnswer(err);
}

/**
 * Email through SendGrid (or the outbox): the profile's `email`, the template's subject, HTML and text, our
 * delivery key in `custom_args` (SendGrid's events come back with it). SendGrid has no idempotency key, so
 * an attempt cut off after it left is looked up (sent-lookup.ts) before a resend.
 */
export function emailChannel(deps: EmailChannelDeps): Channel {
  const { mailer, sentLookup } = deps;
  return defineChannel<string, OutgoingEmail>({
    id: 'email',
    target: () => ({ provider: mailer.provider }),
    address: (profile) =>
      profile.email ? { kind: 'reachable', address: profile.email } : { kind: 'unreachable', reason: 'no email address on the profile', mayArrive: true },
    async render({ request, profile, address, definition }) {
      // Marketing: the one-click link turns off this campaign's topic (all marketing when it has none).
      const topic = definition.campaigns.find((c) => c.id === request.campaignId)?.topic;
      const links =
        request.kind === 'marketing' && deps.links
          ? { preferences: deps.links.preferencesUrl(request.userId), unsubscribe: deps.links.unsubscribeUrl({ userId: request.userId, ...(topic ? { topic } : {}) }) }
          : undefined;
      const template = await renderMessage(definition, request.template, profile, request.eventProperties, request.journey, links);
      const rendered = links ? withPreferenceFooter(template, links) : template;
      return {
        locale: rendered.locale,
        message: {
          key: request.key,
          userId: request.userId,
          campaignId: request.campaignId,
          to: address,
          from: deps.emailFrom,
          subject: rendered.subject,
          html: rendered.html,
          ...(rendered.text ? { text: rendered.text } : {}),
          locale: rendered.locale,
          categories: [request.campaignId, request.kind],
          customArgs: { delivery_key: request.key, user_id: request.userId, campaign_id: request.campaignId },
          ...(links ? { headers: listUnsubscribeHeaders(links.unsubscribe) } : {}),
        },
      };
    },
    async send(email) {
      try {
        const result = await mailer.send(email);
        return { kind: 'sent', provider: result.provider, ...(result.providerMessageId ? { providerMessageId: result.providerMessageId } : {}) };
      } catch (err) {
        return answerOfMailError(err);
      }
    },
    ...(sentLookup
      ? {
          async recoverCutOff(delivery) {
            // Only SendGrid can have a message we do not know about; the outbox writes under the key.
            if (delivery.provider !== 'sendgrid') return { kind: 'resend', reason: `sent through ${delivery.provider ?? 'an unknown provider'}` };
            return sentLookup.decide({ _id: delivery._id, sendingAt: delivery.sendingAt, events: delivery.events ?? null });
          },
        }
      : {}),
  });
}
