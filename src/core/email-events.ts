import type { ChannelFeedback, FeedbackType } from './channel-feedback.js';
import type { ChannelId } from './channel-ids.js';
import { recordEngagement } from './engagement.js';
import type { JourneyFact } from './journey-facts.js';
import type { EmailEvent, EmailEventType, EmailSuppression, JourneyState, MessageRecord } from './journey-state.js';

/**
 * What a SendGrid event means for the journey (Event Webhook, matched to the message by its delivery key):
 * the message's record, the read-model fact (the first event of each kind per message only, so KPIs count
 * messages), and its consequences: a hard bounce, a drop or a spam report suppresses email for the customer;
 * an unsubscribe turns marketing off; the customer's own opens and clicks are engagement. Pure; mutates `s`.
 */

type EmailFactEvent = Extract<JourneyFact, { kind: 'email' }>['event'];
type Stamp = 'deliveredAt' | 'bouncedAt' | 'droppedAt' | 'openedAt' | 'clickedAt' | 'complainedAt' | 'unsubscribedAt';

/** Each event kind that changes anything: the field it stamps on the message, and the fact it counts as. */
const EFFECTS: Partial<Record<EmailEvent['type'], { stamp: Stamp; fact: EmailFactEvent }>> = {
  delivered: { stamp: 'deliveredAt', fact: 'delivered' },
  bounce: { stamp: 'bouncedAt', fact: 'bounced' },
  blocked: { stamp: 'bouncedAt', fact: 'bounced' },
  dropped: { stamp: 'droppedAt', fact: 'dropped' },
  spamreport: { stamp: 'complainedAt', fact: 'spamreport' },
  unsubscribe: { stamp: 'unsubscribedAt', fact: 'unsubscribed' },
  group_unsubscribe: { stamp: 'unsubscribedAt', fact: 'unsubscribed' },
  open: { stamp: 'openedAt', fact: 'opened' },
  click: { stamp: 'clickedAt', fact: 'clicked' },
};

const SUPPRESSING: Partial<Record<EmailEvent['type'], EmailSuppression['reason']>> = { bounce: 'bounce', dropped: 'dropped', spamreport: 'spamreport' };

/**
 * Whether the event can change anything: processed and deferred (SendGrid is still trying) do not, nor
 * does an open by a mail client's privacy proxy (`machine`: not the customer, so neither an open nor
 * engagement). Such events need not be remembered for deduplication.
 */
export function emailEventMatters(event: EmailEvent): boolean {
  return EFFECTS[event.type] !== undefined && !(event.type === 'open' && event.machine === true);
}

/** The campaign of one of this customer's delivery keys (`customer-<userId>/<campaignId>/<occurrence>`); undefined for someone else's. */
export function campaignOfKey(workflowId: string, key: string): string | undefined {
  const prefix = `${workflowId}/`;
  if (typeof key !== 'string' || !key.startsWith(prefix)) return undefined;
  const parts = key.slice(prefix.length).split('/');
  return parts.length === 2 && parts[0] && /^\d+$/.test(parts[1] ?? '') ? parts[0] : undefined;
}

export interface EmailEventEffect {
  /** The read-model fact to record (first event of its kind for the message), without id. */
  fact?: { key: string; campaignId: string; variant: string | null; event: EmailFactEvent; channel?: ChannelId };
  /** Marketing was allowed and is now off (an unsubscribe). */
  unsubscribed: boolean;
}

/**
 * Apply one event at `at` (the journey's effective time of it). `message` is the record of the message it is
 * about, absent when that record was evicted (the journey keeps the newest ones) or never existed here: the
 * consequences still apply, and every event then counts as the first of its kind (it cannot be told apart).
 */
export function applyEmailEvent(s: JourneyState, event: EmailEvent, campaignId: string, message: MessageRecord | undefined, at: number, channel: ChannelId = 'email'): EmailEventEffect {
  const effect = EFFECTS[event.type];
  if (!effect || !emailEventMatters(event)) return { unsubscribed: false };
  const first = message?.[effect.stamp] === undefined;
  const engagedBefore = message !== undefined && (message.openedAt !== undefined || message.clickedAt !== undefined);
  if (message) {
    if (first) message[effect.stamp] = at;
    // A hard bounce after a soft one is still a hard bounce.
    if (event.type === 'bounce') message.bounce = 'hard';
    else if (event.type === 'blocked' && message.bounce === undefined) message.bounce = 'soft';
  }

  const suppression = SUPPRESSING[event.type];
  if (suppression && channel === 'email' && !s.emailSuppressed) s.emailSuppressed = { reason: suppression, at, campaignId, key: event.deliveryKey };
  if (suppression && channel !== 'email' && !s.channelSuppressed?.[channel]) s.channelSuppressed = { ...s.channelSuppressed, [channel]: { reason: suppression, at, campaignId, key: event.deliveryKey } };

  let unsubscribed = false;
  if ((event.type === 'unsubscribe' || event.type === 'group_unsubscribe') && !s.marketingOptOut) {
    s.marketingOptOut = true;
    unsubscribed = true;
  }

  if (event.type === 'open' || event.type === 'click') {
    s.engagement = recordEngagement(s.engagement, event.type, at, {
      firstOfMessage: first,
      sample: !engagedBefore && first,
      ...(event.localHour !== undefined ? { localHour: event.localHour } : {}),
    });
  }

  return {
    unsubscribed,
    ...(first
      ? { fact: { key: event.deliveryKey, campaignId, variant: message?.variant ?? s.assignments[campaignId] ?? null, event: effect.fact, ...(channel !== 'email' ? { channel } : {}) } }
      : {}),
  };
}

/** How a suppression reads in a skipped message's reason: "email suppressed: hard bounce on welcome". */
export function describeSuppression(suppression: EmailSuppression, channel: ChannelId = 'email'): string {
  const what = suppression.reason === 'bounce' ? (channel === 'email' ? 'hard bounce' : 'failed for good') : suppression.reason === 'spamreport' ? (channel === 'email' ? 'spam report' : 'complaint') : 'dropped';
  return `${channel} suppressed: ${what} on ${suppression.campaignId}`;
}

/** The SendGrid event each feedback type means the same as; undefined for what only the delivery record keeps. */
const AS_EMAIL_EVENT: Record<FeedbackType, EmailEventType | undefined> = {
  accepted: 'processed',
  delivered: 'delivered',
  undelivered: 'blocked',
  failed: 'bounce',
  complained: 'spamreport',
  unsubscribed: 'unsubscribe',
  opened: 'open',
  clicked: 'click',
  dismissed: undefined,
  expired: undefined,
};

/**
 * The email event a feedback means (its id prefixed with the channel), or undefined when it changes nothing
 * in the journey. The journey applies it as SendGrid's (email-events.ts): the message's record, the
 * read-model fact, engagement, an unsubscribe; a failure or complaint suppresses that channel, not email.
 */
export function feedbackAsEmailEvent(feedback: ChannelFeedback): EmailEvent | undefined {
  const type = AS_EMAIL_EVENT[feedback.type];
  if (type === undefined || type === 'processed') return undefined;
  return { id: `${feedback.channel}:${feedback.id}`, type, deliveryKey: feedback.deliveryKey, at: feedback.at, ...(feedback.localHour !== undefined ? { localHour: feedback.localHour } : {}) };
}

/** Whether the journey needs to hear of it at all (the rest is kept on the delivery record only). */
export function feedbackMatters(feedback: ChannelFeedback): boolean {
  return feedbackAsEmailEvent(feedback) !== undefined;
}
