import type { ChannelFeedback, FeedbackType } from '../core/channel-feedback.js';
import { PERMANENT_TWILIO_ERRORS, TWILIO_UNSUBSCRIBED } from '../delivery/twilio-client.js';

/** What Twilio's status callback says about one message (the parameters we read). */
export interface TwilioStatus {
  messageSid: string;
  status: string;
  errorCode?: number;
}

/**
 * A status as feedback for the journey, or undefined for a status that means nothing to it (canceled,
 * receiving). delivered: delivered. undelivered and failed: 'failed' (later text messages are skipped)
 * only when Twilio's error code says the number can never take one (30005 unknown handset, 30006
 * landline, 21211 invalid, 21610 replied STOP, ...); otherwise 'undelivered' (counted, nothing suppressed:
 * a phone switched off, carrier filtering, a full queue). queued, sending, sent, accepted: accepted.
 */
export function feedbackTypeOfStatus(status: TwilioStatus): FeedbackType | undefined {
  switch (status.status) {
    case 'delivered':
      return 'delivered';
    case 'undelivered':
    case 'failed':
      return status.errorCode !== undefined && (PERMANENT_TWILIO_ERRORS.has(status.errorCode) || status.errorCode === TWILIO_UNSUBSCRIBED) ? 'failed' : 'undelivered';
    case 'read':
      return 'opened';
    case 'queued':
    case 'sending':
    case 'sent':
    case 'accepted':
    case 'scheduled':
      return 'accepted';
    default:
      return undefined;
  }
}

/** One status callback as ChannelFeedback (applied once per message and status). */
export function feedbackOfStatus(status: TwilioStatus, deliveryKey: string, at: number): ChannelFeedback | undefined {
  const type = feedbackTypeOfStatus(status);
  return type ? { id: `${status.messageSid}:${status.status}`, channel: 'sms', type, deliveryKey, at } : undefined;
}
