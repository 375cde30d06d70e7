import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { ChannelFeedback } from '../core/channel-feedback.js';
import { feedbackMatters } from '../core/email-events.js';
import type { ChannelEventDoc, Models } from '../db/models.js';
import { parseDeliveryKey } from '../core/ids.js';
import { localHourOf } from '../timing/send-time.js';
import { markDeliveryEvent, signalJourney } from '../delivery/delivery-events.js';
import { viaMongo } from '../http/errors.js';
import { channelFeedbackSignal } from '../temporal/contract.js';

/** What became of one feedback. */
export type FeedbackOutcome = 'applied' | 'duplicate' | 'ignored' | 'orphaned';

export interface FeedbackSinkDeps {
  client: Client;
  models: Models;
  logger: Logger;
  upstreamTimeoutMs: number;
  /** The zone for opened/clicked hours of customers whose profile has none (the definition's default timing zone); UTC when left out. */
  defaultTimezone?: string;
}

/**
 * Where a channel's provider callbacks (an SMS status callback, a push service's 410, an inbox read) hand
 * what they learned, once they verified it came from the provider. Each feedback is applied once (by
 * channel and the provider's event id, in `channel_events`), marked on its delivery record, and told to
 * the customer's journey as a `channelFeedback` signal when it can change anything there. A MongoDB or
 * Temporal outage throws UpstreamUnavailable (the route answers 503 and the provider retries); a feedback
 * stored but not yet signalled is signalled on that retry, so nothing is lost.
 */
export class FeedbackSink {
  constructor(private readonly deps: FeedbackSinkDeps) {}

  async apply(feedback: ChannelFeedback): Promise<FeedbackOutcome> {
    const { ChannelEvent, Delivery, Customer } = this.deps.models;
    const key = parseDeliveryKey(feedback.deliveryKey);
    if (!key) return 'ignored';
    const id = `${feedback.channel}:${feedback.id}`;
    const found = await viaMongo(() => ChannelEvent.findById(id).lean<ChannelEventDoc>());
    if (found && found.status !== 'received') return 'duplicate';
    let stored: ChannelEventDoc;
    if (found) stored = found;
    else {
      // Only messages we sent: a key without its delivery record (an erased customer's, another environment's) is not ours.
      const delivery = await viaMongo(() => Delivery.findById(feedback.deliveryKey, { userId: 1 }).lean());
      if (!delivery || delivery.userId !== key.userId) return 'ignored';
      let localHour = feedback.localHour;
      if (localHour === undefined && (feedback.type === 'opened' || feedback.type === 'clicked')) {
        const zone = (await viaMongo(() => Customer.findById(key.userId, { timezone: 1 }).lean()))?.timezone;
        localHour = localHourOf(feedback.at, zone) ?? localHourOf(feedback.at, this.deps.defaultTimezone) ?? localHourOf(feedback.at, 'UTC');
      }
      stored = {
        _id: id,
        channel: feedback.channel,
        userId: key.userId,
        deliveryKey: feedback.deliveryKey,
        type: feedback.type,
        at: new Date(feedback.at),
        ...(localHour !== undefined ? { localHour } : {}),
        status: feedbackMatters(feedback) ? 'received' : 'recorded',
        receivedAt: new Date(),
      };
      try {
        await viaMongo(() => ChannelEvent.create(stored));
      } catch (err) {
        if ((err as { code?: number }).code !== 11000) throw err;
        return 'duplicate';
      }
    }
    await markDeliveryEvent(this.deps.models, stored);
    if (stored.status === 'recorded') return 'applied';

    const signalled: ChannelFeedback = {
      id: feedback.id,
      channel: stored.channel,
      type: stored.type,
      deliveryKey: stored.deliveryKey,
      at: new Date(stored.at).getTime(),
      ...(stored.localHour !== undefined && stored.localHour !== null ? { localHour: stored.localHour } : {}),
    };
    const status = await signalJourney(this.deps.client, this.deps.upstreamTimeoutMs, key.userId, channelFeedbackSignal, signalled);
    await viaMongo(() => ChannelEvent.updateOne({ _id: id }, { $set: { status, ...(status === 'signalled' ? { signalledAt: new Date() } : {}) } }));
    this.deps.logger.info({ channel: feedback.channel, type: feedback.type, deliveryKey: feedback.deliveryKey, status }, 'channel feedback applied');
    return status === 'signalled' ? 'applied' : 'orphaned';
  }
}
