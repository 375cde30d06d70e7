import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Logger } from 'pino';
import type { DefinitionRef, JourneyPlan } from '../src/core/journey-definition.js';
import type { ComputedValue, DeliveryOutcome, DeliveryRequest } from '../src/core/journey-state.js';
import type { Models } from '../src/db/models.js';
import type { DefinitionStore } from '../src/definition-store/definition-store.js';
import { MailError, type Mailer } from '../src/delivery/mailer.js';
import { createWebhookChannel, webhookMessage, type WebhookChannel } from '../src/delivery/webhook-channel.js';
import { renderMessage } from '../src/delivery/render-message.js';
import type { SentLookup } from '../src/delivery/sent-lookup.js';
import { decideDelivery } from '../src/delivery/delivery-rules.js';
import { profileTest } from '../src/segments/segment-matcher.js';
import { withPreferenceFooter } from '../src/preferences/email-footer.js';
import { listUnsubscribeHeaders, type PreferenceLinks } from '../src/preferences/preference-links.js';

/** A send time less than this ahead is taken as "now" (the journey would only wake up again at once). */

/** How long a delivery waits for a profile that identify has not written yet: attempts x delay. */
const PROFILE_WAIT_ATTEMPTS = 6;
const PROFILE_WAIT_MS = 5_000;

/**
 * Now, for decisions about the customer's local time. Inside a worker, the server's clock at scheduling
 * counts too: under the time-skipping test server it runs ahead of this machine's, in production it lags.
 */
function activityNow(): number {
  try {
    return Math.max(Date.now(), Context.current().info.currentAttemptScheduledTimestampMs);
  } catch {
    return Date.now();
  }
}

/** The attempt number inside a worker; undefined when called outside one (then nothing is waited for). */
function currentAttempt(): number | undefined {
  try {
    return Context.current().info.attempt;
  } catch {
    return undefined;
  }
}

/**
 * Backends often send "Signed Up" and identify side by side: throw a retryable failure for the first few
 * attempts so the profile has a moment to arrive; after that the caller records the step as skipped.
 */
function waitForProfile(userId: string, what: string): void {
  const attempt = currentAttempt();
  if (attempt !== undefined && attempt < PROFILE_WAIT_ATTEMPTS) {
    throw ApplicationFailure.create({ message: `profile of ${userId}: ${what} (attempt ${attempt})`, type: 'ProfileNotReady', nextRetryDelay: PROFILE_WAIT_MS });
  }
}

export interface ActivityDeps {
  models: Models;
  definitions: DefinitionStore;
  mailer: Mailer;
  emailFrom: string;
  /** The webhook endpoints (WEBHOOK_ENDPOINTS); without it, a webhook message fails as unconfigured. */
  webhooks?: WebhookChannel;
  /**
   * The signed unsubscribe and preference-page links (LINK_SECRETS, PUBLIC_URL): every marketing email
   * carries them, in RFC 8058 headers and a footer. The worker always has them; a test may leave them out.
   */
  links?: PreferenceLinks;
  /** Looks at SendGrid before resending a message whose last attempt was cut off; without it, such a message is resent. */
  sentLookup?: SentLookup;
  logger: Logger;
}

export interface AudienceCheck {
  userId: string;
  definition: Required<DefinitionRef>;
  segments: string[];
}

/**
 * The journey's side effects. Built from their dependencies so tests hand in a real database and a local
 * SendGrid-compatible server rather than mocking modules.
 */
export function createJourneyActivities(deps: ActivityDeps) {
  const { models, definitions, mailer, logger } = deps;
  const webhooks = deps.webhooks ?? createWebhookChannel({ endpoints: [] });

  async function segmentFilters(ref: DefinitionRef, ids: string[]) {
    const plan = await definitions.plan(ref);
    return ids.map((id) => {
      const segment = plan.segments.find((s) => s.id === id);
      if (!segment) throw ApplicationFailure.nonRetryable(`segment "${id}" is not in ${ref.id}@${ref.version}`, 'UnknownSegment');
      return segment;
    });
  }

  /** The profile for segment matching: one read by primary key, whatever the number of segments or profiles. */
  async function profileOf(userId: string): Promise<Record<string, unknown> | null> {
    assertId(userId, 'userId');
    return (await models.Customer.findById(userId).lean()) as Record<string, unknown> | null;
  }

  return {
    /** The structure of a journey definition; a local activity, so it costs one marker per run. */
    async loadJourneyPlan(ref: DefinitionRef): Promise<JourneyPlan> {
      return definitions.plan(ref);
    },

    /** Support corrects the profile's time zone or locale (validated by the API before it gets here). */
    async correctProfile(input: { userId: string; timezone?: string; locale?: string }): Promise<void> {
      const set = { ...(input.timezone ? { timezone: input.timezone } : {}), ...(input.locale ? { locale: input.locale } : {}) };
      await models.Customer.updateOne({ _id: input.userId }, { $set: set, $setOnInsert: { traits: {} } }, { upsert: true });
    },

    /** Which of the definition's segments the customer is in now (for the Segments search attribute). */
    async evaluateSegments(input: { userId: string; definition: Required<DefinitionRef> }): Promise<string[]> {
      const plan = await definitions.plan(input.definition);
      const profile = await profileOf(input.userId);
      return profile ? plan.segments.filter((s) => profileTest(s.filter)(profile)).map((s) => s.id) : [];
    },

    /**
     * Keep the journey's computed traits on the profile (`computed.<id>`), as of the journey time `at`. A
     * write older than the one stored (a retry overtaken by a newer one) changes nothing; with no profile
     * yet nothing is written (an identify makes the journey write them again).
     */
    async syncComputedTraits(input: { userId: string; traits: Record<string, ComputedValue>; at: number }): Promise<void> {
      assertId(input.userId, 'userId');
      const at = new Date(input.at);
      await models.Customer.updateOne(
        { _id: input.userId, $or: [{ computedAt: { $exists: false } }, { computedAt: { $lte: at } }] },
        { $set: { computed: input.traits, computedAt: at } },
        { strict: false },
      );
    },

    /** Is the customer in every one of these segments? Looked up when the campaign step runs. */
    async checkAudience(input: AudienceCheck): Promise<{ inAudience: boolean; reason?: string }> {
      const profile = await profileOf(input.userId);
      if (!profile) {
        waitForProfile(input.userId, 'no profile yet');
        return { inAudience: false, reason: 'no profile for this customer (identify was never called)' };
      }
      for (const segment of await segmentFilters(input.definition, input.segments)) {
        if (!profileTest(segment.filter)(profile)) return { inAudience: false, reason: `not in segment ${segment.id}` };
      }
      return { inAudience: true };
    },

    /**
     * Deliver one message at most once: claim the delivery key, render, send, record. A retry after a crash
     * finds the claim; a message already sent is reported as sent, not sent again.
     */
    async deliverMessage(request: DeliveryRequest): Promise<DeliveryOutcome> {
      assertId(request.key, 'key');
      assertId(request.userId, 'userId');
      const log = logger.child({ userId: request.userId, deliveryKey: request.key, campaignId: request.campaignId });
      const existing = await models.Delivery.findById(request.key).lean();
      if (existing?.status === 'sent') {
        return { status: 'sent', provider: existing.provider ?? mailer.provider, providerMessageId: existing.providerMessageId, duplicate: true };
      }
      if (existing?.status === 'skipped') return { status: 'skipped', reason: existing.error ?? 'skipped' };
      if (existing?.status === 'failed') throw ApplicationFailure.nonRetryable(existing.error ?? 'delivery failed', 'DeliveryRejected');
      // The last attempt went to SendGrid and never came back (SendGrid has no idempotency key): look first.
      if (existing?.status === 'sending' && existing.sendingAt && existing.provider === 'sendgrid' && deps.sentLookup) {
        const known = await deps.sentLookup.decide({ _id: existing._id, sendingAt: new Date(existing.sendingAt), events: existing.events ?? null });
        if (known.kind === 'sent') {
          const providerMessageId = known.providerMessageId ?? existing.providerMessageId;
          await models.Delivery.updateOne({ _id: request.key, status: 'sending' }, { $set: { status: 'sent', sentAt: new Date(), recoveredVia: known.via, ...(providerMessageId ? { providerMessageId } : {}) } });
          log.info({ via: known.via }, 'message found at SendGrid after its attempt was cut off: not sent again');
          return { status: 'sent', provider: 'sendgrid', ...(providerMessageId ? { providerMessageId } : {}), duplicate: true };
        }
        if (known.kind === 'wait') {
          log.info({ reason: known.reason, retryInMs: known.ms }, 'outcome of the last attempt unknown: looking again before resending');
          throw ApplicationFailure.create({ message: `outcome of the last attempt unknown: ${known.reason}`, type: 'DeliveryOutcomeUnknown', nextRetryDelay: known.ms });
        }
        log.warn({ reason: known.reason }, 'resending a message whose last attempt was cut off');
      }

      const loaded = await definitions.get(request.definition);
      const profile = await models.Customer.findById(request.userId).lean();
      const skip = async (reason: string): Promise<DeliveryOutcome> => {
        await record('skipped', { error: reason });
        log.info({ reason }, 'delivery skipped');
        return { status: 'skipped', reason };
      };
      const record = async (status: 'sending' | 'sent' | 'failed' | 'skipped', fields: Record<string, unknown> = {}) => {
        await models.Delivery.updateOne(
          { _id: request.key },
          {
            $set: { status, ...fields },
            $setOnInsert: {
              userId: request.userId,
              campaignId: request.campaignId,
              occurrence: request.occurrence,
              kind: request.kind,
              template: request.template,
              definitionVersion: request.definition.version,
            },
            ...(status === 'sending' ? { $inc: { attempts: 1 } } : {}),
          },
          { upsert: true },
        );
      };

      // The campaign's topic as this version of the definition gives it: the customer may have turned it off.
      const topic = loaded.definition.campaigns.find((c) => c.id === request.campaignId)?.topic;
      const decision = decideDelivery(request, profile, activityNow(), { topic });
      if (decision.kind === 'skip') {
        if (decision.noAddress) waitForProfile(request.userId, 'no email address yet');
        return skip(decision.reason);
      }
      // Not now: hand the step back to the journey, which sleeps durably until then (no claim is made).
      if (decision.kind === 'defer') return decision.outcome;
      const { localTime, reason: sendTimeReason, profile: addressee } = decision;
      const links =
        request.kind === 'marketing' && deps.links
          ? { preferences: deps.links.preferencesUrl(request.userId), unsubscribe: deps.links.unsubscribeUrl({ userId: request.userId, ...(topic ? { topic } : {}) }) }
          : undefined;
      const template = await renderMessage(loaded.definition, request.template, addressee, request.eventProperties, request.journey, links);
      const rendered = links && decision.channel === 'email' ? withPreferenceFooter(template, links) : template;
      const channel =
        decision.channel === 'webhook'
          ? { provider: 'webhook' as const, endpoint: request.endpoint ?? '' }
          : { provider: mailer.provider };
      await record('sending', { locale: rendered.locale, ...channel, sendingAt: new Date() });
      try {
        const result =
          decision.channel === 'webhook'
            ? await webhooks.send(request.endpoint ?? '', webhookMessage(request, rendered, new Date()))
            : await mailer.send({
                key: request.key,
                userId: request.userId,
                campaignId: request.campaignId,
                to: decision.profile.email,
                from: deps.emailFrom,
                subject: rendered.subject,
                html: rendered.html,
                ...(rendered.text ? { text: rendered.text } : {}),
                locale: rendered.locale,
                categories: [request.campaignId, request.kind],
                customArgs: { delivery_key: request.key, user_id: request.userId, campaign_id: request.campaignId },
                ...(links ? { headers: listUnsubscribeHeaders(links.unsubscribe) } : {}),
              });
        await record('sent', { sentAt: new Date(), ...(result.providerMessageId ? { providerMessageId: result.providerMessageId } : {}) });
        log.info({ provider: result.provider }, 'message delivered');
        return {
          status: 'sent',
          provider: result.provider,
          ...(result.providerMessageId ? { providerMessageId: result.providerMessageId } : {}),
          ...(localTime ? { localTime } : {}),
          ...(sendTimeReason ? { reason: sendTimeReason } : {}),
        };
      } catch (err) {
        if (err instanceof MailError && err.kind === 'rejected') {
          await record('failed', { error: err.message });
          log.warn({ status: err.status, error: err.message }, 'delivery rejected by the provider');
          throw ApplicationFailure.nonRetryable(err.message, 'DeliveryRejected');
        }
        if (err instanceof MailError) {
          // SendGrid answered, or was never reached: it does not have the message, so the retry need not look.
          if (err.outcome === 'not-sent') await models.Delivery.updateOne({ _id: request.key }, { $unset: { sendingAt: 1 } });
          log.warn({ status: err.status, error: err.message, retryAfterMs: err.retryAfterMs }, 'delivery will be retried');
          throw ApplicationFailure.create({
            message: err.message,
            type: 'DeliveryDeferred',
            ...(err.retryAfterMs ? { nextRetryDelay: err.retryAfterMs } : {}),
          });
        }
        throw err;
      }
    },
  };
}

/**
 * Ids go into queries as `_id` values; anything but a string there (say `{ "$ne": null }` from a JSON body)
 * would be read as a query operator and match another customer's profile or delivery.
 */
function assertId(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw ApplicationFailure.nonRetryable(`${what} must be a non-empty string, got ${JSON.stringify(value)}`, 'InvalidInput');
  }
}

export type JourneyActivities = ReturnType<typeof createJourneyActivities>;
