import { z } from 'zod';
import { CHANNEL_MESSAGE_OPTIONS } from '../core/channel-ids.js';
import type { DeliveryRequest } from '../core/journey-state.js';
import type { Models, PushSendDoc, PushSubscriptionDoc } from '../db/models.js';
import { pushMessage, pushTopic, type PushMessage } from '../delivery/push-message.js';
import { renderMessage } from '../delivery/render-message.js';
import type { PushAttempt, WebPushSender } from '../delivery/web-push-sender.js';
import { pushEndpointProblem, type PushServiceList } from '../push/push-services.js';
import { defineChannel, type Channel, type SendAnswer } from './channel.js';

export interface PushChannelDeps {
  models: Models;
  /** VAPID keys and settings (VAPID_*, PUSH_*, WEB_PUSH_SERVICES); without them a push message fails as unconfigured. */
  webPush?: { sender: WebPushSender; ttlSeconds: number; services: PushServiceList };
}

const PushOptions = z.object(CHANNEL_MESSAGE_OPTIONS.push);

/** The options the request carries (the definition's schema checked them). */
function optionsOf(request: DeliveryRequest): z.infer<typeof PushOptions> {
  const parsed = PushOptions.safeParse(request.options ?? {});
  return parsed.success ? parsed.data : {};
}

export const NOT_CONFIGURED = 'web push is not configured on this worker (VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY, VAPID_SUBJECT)';
export const NO_SUBSCRIPTION = 'no push subscription';
export const ALL_GONE = 'no push subscription left (the push service answered 404/410 for every one)';

/**
 * Web push (RFC 8030, VAPID RFC 8292, encrypted per RFC 8291) to every subscription the customer's browsers
 * registered (`push_subscriptions`). Each subscription's result is kept (`push_sends`), so a retry sends
 * only to the ones not yet done; every attempt of one message carries the same Topic (a push service
 * replaces a queued copy) and the same notification tag (the device replaces a shown one).
 *
 * A customer without subscriptions, or whose subscriptions all turn out gone (404/410, each removed), is
 * unreachable here: the seam tries the campaign's next channel.
 */
export function pushChannel(deps: PushChannelDeps): Channel {
  const { PushSubscription, PushSend, Delivery } = deps.models;
  const sendId = (key: string, subscriptionId: string) => `${key}|${subscriptionId}`;

  async function mark(key: string, userId: string, subscriptionId: string, set: Partial<PushSendDoc>, claim = false): Promise<void> {
    await PushSend.updateOne(
      { _id: sendId(key, subscriptionId) },
      { $set: { ...set, at: new Date() }, $setOnInsert: { userId, deliveryKey: key, subscriptionId }, ...(claim ? { $inc: { attempts: 1 } } : {}) },
      { upsert: true },
    );
  }

  return defineChannel<PushSubscriptionDoc[], PushMessage>({
    id: 'push',
    target: () => ({ provider: 'web-push' }),
    async address(profile, request) {
      const subscriptions = await PushSubscription.find({ userId: profile._id }).sort({ createdAt: 1 }).lean<PushSubscriptionDoc[]>();
      if (subscriptions.length > 0) return { kind: 'reachable', address: subscriptions };
      // A retry of a message that went out on push before the subscriptions went: send() tells from its records.
      const earlier = await Delivery.findById(request.key, { channel: 1 }).lean();
      if (earlier?.channel === 'push') return { kind: 'reachable', address: [] };
      return { kind: 'unreachable', reason: NO_SUBSCRIPTION, mayArrive: false };
    },
    async render({ request, profile, definition }) {
      const rendered = await renderMessage(definition, request.template, profile, request.eventProperties, request.journey);
      return { locale: rendered.locale, message: pushMessage(request, rendered, optionsOf(request)) };
    },
    async send(message, { request, address }) {
      if (!deps.webPush) return { kind: 'failed', reason: NOT_CONFIGURED };
      const { sender, ttlSeconds, services } = deps.webPush;
      const options = optionsOf(request);
      // Only a retry has results to look at: the first attempt has none.
      const attempts = (await Delivery.findById(request.key, { attempts: 1 }).lean())?.attempts ?? 0;
      const earlier = attempts > 1 ? await PushSend.find({ deliveryKey: request.key }).lean<PushSendDoc[]>() : [];
      const done = new Map(earlier.filter((r) => r.status !== 'sending').map((r) => [r.subscriptionId, r]));

      const sent: string[] = earlier.filter((r) => r.status === 'sent').map((r) => r.location ?? r.subscriptionId);
      const failures: string[] = [];
      const retries: Array<Extract<PushAttempt, { kind: 'retry' }>> = [];
      const payload = JSON.stringify(message);
      for (const subscription of address) {
        if (done.has(subscription._id)) continue;
        const problem = pushEndpointProblem(subscription.endpoint, services);
        if (problem) {
          await mark(request.key, request.userId, subscription._id, { status: 'failed', error: problem });
          failures.push(problem);
          continue;
        }
        await mark(request.key, request.userId, subscription._id, { status: 'sending' }, true);
        const attempt = await sender.send(subscription, payload, { topic: pushTopic(request.key), ttlSeconds: options.ttl ?? ttlSeconds, ...(options.urgency ? { urgency: options.urgency } : {}) });
        switch (attempt.kind) {
          case 'sent':
            await mark(request.key, request.userId, subscription._id, { status: 'sent', ...(attempt.location ? { location: attempt.location } : {}) });
            sent.push(attempt.location ?? subscription._id);
            break;
          case 'gone':
            // The browser unsubscribed or the subscription expired: it never works again.
            await PushSubscription.deleteOne({ _id: subscription._id, endpoint: subscription.endpoint });
            await mark(request.key, request.userId, subscription._id, { status: 'gone', error: `push service answered ${attempt.status}: subscription removed` });
            break;
          case 'failed':
            await mark(request.key, request.userId, subscription._id, { status: 'failed', error: attempt.reason });
            failures.push(attempt.reason);
            break;
          case 'retry':
            await mark(request.key, request.userId, subscription._id, { status: 'sending', error: attempt.reason });
            retries.push(attempt);
            break;
          default:
            return unhandled(attempt);
        }
      }
      return answerOf(sent, failures, retries, address.length);
    },
  });
}

/** What the subscriptions' results come to for the message. */
export function answerOf(sent: string[], failures: string[], retries: Array<Extract<PushAttempt, { kind: 'retry' }>>, subscriptions: number): SendAnswer {
  if (retries.length > 0) {
    const first = retries[0]!;
    const afterMs = Math.max(0, ...retries.map((r) => r.afterMs ?? 0));
    const others = retries.length > 1 ? ` (and ${retries.length - 1} more of ${subscriptions} subscriptions)` : '';
    return {
      kind: 'retry',
      reason: `${first.reason}${others}`,
      reached: retries.some((r) => r.reached === 'unknown') ? 'unknown' : 'not-sent',
      ...(first.status !== undefined ? { status: first.status } : {}),
      ...(afterMs > 0 ? { afterMs } : {}),
    };
  }
  if (sent.length > 0) return { kind: 'sent', provider: 'web-push', ...(sent[0] ? { providerMessageId: sent[0] } : {}) };
  if (failures.length > 0) return { kind: 'failed', reason: failures.join('; ') };
  return { kind: 'unreachable', reason: ALL_GONE };
}

function unhandled(value: never): never {
  throw new Error(`unhandled push attempt ${JSON.stringify(value)}`);
}
