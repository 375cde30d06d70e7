import type { ChannelId } from './channel-ids.js';

/**
 * What a provider reports later about a message it took, in words every channel shares. A channel's
 * callback route (an SMS status callback, a push service's answer, an inbox read) says which of these its
 * provider's event is; src/channels/feedback.ts stores it once and tells the journey. SendGrid's events
 * keep their own signal (emailEvent), which means the same (email-events.ts: `feedbackAsEmailEvent`).
 */
export type FeedbackType =
  /** The provider took it and is still trying (queued, sent to the carrier): changes nothing. */
  | 'accepted'
  | 'delivered'
  /** Not delivered this time (a full mailbox, a phone switched off): counted, nothing suppressed. */
  | 'undelivered'
  /** Cannot be delivered to this address, ever (a number that does not exist, a push subscription gone): later messages on this channel are skipped. */
  | 'failed'
  /** The customer reported it as spam or abuse: later messages on this channel are skipped. */
  | 'complained'
  /** The customer asked for no more marketing (a STOP reply, an unsubscribe link). */
  | 'unsubscribed'
  /** Opened or seen by the customer (not by a machine): engagement. */
  | 'opened'
  /** Clicked: engagement. */
  | 'clicked'
  /** Dismissed unread (an inbox message, a notification): recorded on the delivery only. */
  | 'dismissed'
  /** Expired before the customer saw it: recorded on the delivery only. */
  | 'expired';

export const FEEDBACK_TYPES: readonly FeedbackType[] = ['accepted', 'delivered', 'undelivered', 'failed', 'complained', 'unsubscribed', 'opened', 'clicked', 'dismissed', 'expired'];

/** One provider event about one message; ids and types only (no address, text or URL: histories carry no personal data). */
export interface ChannelFeedback {
  /** The provider's id for the event, unique within the channel: the journey applies each once. */
  id: string;
  channel: ChannelId;
  type: FeedbackType;
  /** Our delivery key of the message (`customer-<userId>/<campaignId>/<occurrence>`). */
  deliveryKey: string;
  /** When it happened at the provider (ms since the epoch). */
  at: number;
  /** For opened and clicked: the hour (0-23) in the customer's own time zone. */
  localHour?: number;
}
