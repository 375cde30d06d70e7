import type { Logger } from 'pino';
import type { Models } from '../db/models.js';
import { xMessageIdOf, type ActivityFeed, type FeedAnswer } from './activity-feed.js';

/**
 * What to do about a delivery whose last attempt went to SendGrid and never came back (the worker died, or
 * the connection broke, after the request left): SendGrid has no idempotency key, so a blind resend could
 * be a second copy. Look first:
 * - `sent`: SendGrid took it (an Event Webhook event for the key, or the Email Activity Feed lists it);
 * - `wait`: no proof either way yet, and a source that could still show it (both lag): ask again in `ms`;
 * - `resend`: the attempt is older than the settle time and nothing shows it, or nothing can show it.
 */
export type UnknownOutcomeDecision =
  | { kind: 'sent'; via: 'event-webhook' | 'activity-feed'; providerMessageId?: string }
  | { kind: 'wait'; ms: number; reason: string }
  | { kind: 'resend'; reason: string };

/** Shortest wait between two looks, so a retry storm cannot hammer the feed (6 requests a minute at SendGrid). */
export const MIN_LOOKUP_WAIT_MS = 1_000;
/** When the feed is down or rate-limited and gave no reset time. */
export const FEED_UNAVAILABLE_WAIT_MS = 15_000;

export interface UnknownOutcomeFacts {
  /** An Event Webhook event (processed or later) names the delivery key. */
  eventSeen: boolean;
  /** The activity feed's answer; 'off' when not asked (SENDGRID_ACTIVITY_LOOKUP=off). */
  feed: FeedAnswer | 'off';
  /** The Event Webhook is configured, so an event could still arrive. */
  webhookConfigured: boolean;
  /** When the attempt whose outcome is unknown went to SendGrid. */
  sendingAt: number;
  now: number;
  settleMs: number;
}

/** The rules, pure: proof wins; no proof waits out the settle time while a source could still show it. */
export function decideUnknownOutcome(facts: UnknownOutcomeFacts): UnknownOutcomeDecision {
  const { feed } = facts;
  if (facts.eventSeen) return { kind: 'sent', via: 'event-webhook' };
  if (feed !== 'off' && feed.kind === 'found') {
    return { kind: 'sent', via: 'activity-feed', ...(feed.msgId ? { providerMessageId: xMessageIdOf(feed.msgId) } : {}) };
  }
  if (feed !== 'off' && feed.kind === 'unavailable') {
    return { kind: 'wait', ms: Math.max(MIN_LOOKUP_WAIT_MS, feed.retryAfterMs ?? FEED_UNAVAILABLE_WAIT_MS), reason: feed.reason };
  }
  const noAccess = feed !== 'off' && feed.kind === 'no-access' ? feed.status : undefined;
  if ((feed === 'off' || noAccess !== undefined) && !facts.webhookConfigured) {
    return { kind: 'resend', reason: noAccess === undefined ? 'no activity lookup and no event webhook: nothing can tell' : `activity feed not available to this key (${noAccess}), no event webhook` };
  }
  const age = facts.now - facts.sendingAt;
  if (age < facts.settleMs) {
    return { kind: 'wait', ms: Math.max(MIN_LOOKUP_WAIT_MS, facts.settleMs - age), reason: `not seen yet; the attempt is ${Math.round(age / 1000)} s old, settle time ${Math.round(facts.settleMs / 1000)} s` };
  }
  return { kind: 'resend', reason: `not seen ${Math.round(age / 1000)} s after the attempt` };
}

export interface SentLookupOptions {
  models: Models;
  /** The Email Activity Feed; undefined when SENDGRID_ACTIVITY_LOOKUP=off. */
  feed?: ActivityFeed;
  /** SENDGRID_WEBHOOK_PUBLIC_KEY is set: SendGrid's events reach `email_events`. */
  webhookConfigured: boolean;
  /** SENDGRID_LOOKUP_SETTLE_MS. */
  settleMs: number;
  logger: Logger;
  now?: () => number;
}

export interface SentLookup {
  /** Look before resending a delivery whose attempt at `sendingAt` has an unknown outcome. */
  decide(delivery: { _id: string; sendingAt: Date; events?: readonly string[] | null }): Promise<UnknownOutcomeDecision>;
}

/** The imperative half: reads `email_events` (and the delivery's own event list), asks the feed. */
export function createSentLookup(opts: SentLookupOptions): SentLookup {
  const now = opts.now ?? Date.now;
  let warnedNoAccess = false;
  return {
    async decide(delivery) {
      const eventSeen = (delivery.events?.length ?? 0) > 0 || (await opts.models.EmailEvent.exists({ deliveryKey: delivery._id })) !== null;
      const feed: FeedAnswer | 'off' = eventSeen || !opts.feed ? 'off' : await opts.feed.findByDeliveryKey(delivery._id);
      if (feed !== 'off' && feed.kind === 'no-access' && !warnedNoAccess) {
        warnedNoAccess = true;
        opts.logger.warn(
          { status: feed.status },
          'the SendGrid Email Activity Feed is not available to this API key (no Email Activity add-on, or the key lacks its scope): a delivery cut off after SendGrid took it may be sent twice (set SENDGRID_ACTIVITY_LOOKUP=off to stop asking)',
        );
      }
      return decideUnknownOutcome({
        eventSeen,
        feed,
        webhookConfigured: opts.webhookConfigured,
        sendingAt: delivery.sendingAt.getTime(),
        now: now(),
        settleMs: opts.settleMs,
      });
    },
  };
}
