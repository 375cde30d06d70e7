import type { FeedbackType } from './channel-feedback.js';

/**
 * An in-app message in the customer's hands. Each step is a time set once (the first report wins), and
 * the state follows from them: dismissed over clicked over seen over expired over unread. A click is also
 * a sighting (one cannot click what one did not see). Pure: the inbox store (src/inbox/inbox-store.ts)
 * writes the times, the API shows the state, the journey hears each step once as channel feedback.
 */
export const INBOX_STATES = ['unread', 'seen', 'clicked', 'dismissed', 'expired'] as const;
export type InboxState = (typeof INBOX_STATES)[number];

/** What the customer's app reports. */
export type InboxAction = 'seen' | 'clicked' | 'dismissed';
export const INBOX_ACTIONS: readonly InboxAction[] = ['seen', 'clicked', 'dismissed'];

/** The times of an entry (ms since the epoch). */
export interface InboxTimes {
  expiresAt: number;
  seenAt?: number;
  clickedAt?: number;
  dismissedAt?: number;
  /** Set by the sweep (or a read) once an unread message passed `expiresAt`. */
  expiredAt?: number;
}

type Stamp = 'seenAt' | 'clickedAt' | 'dismissedAt' | 'expiredAt';

export function inboxStateOf(t: InboxTimes): InboxState {
  if (t.dismissedAt !== undefined) return 'dismissed';
  if (t.clickedAt !== undefined) return 'clicked';
  if (t.seenAt !== undefined) return 'seen';
  if (t.expiredAt !== undefined) return 'expired';
  return 'unread';
}

/** Past its expiry the message is gone for the app: not listed, and a report on it is refused. */
export function isExpired(t: Pick<InboxTimes, 'expiresAt'>, now: number): boolean {
  return t.expiresAt <= now;
}

/** Whether the sweep marks it expired: past its expiry and never touched (seen, clicked or dismissed). */
export function expiresUnread(t: InboxTimes, now: number): boolean {
  return isExpired(t, now) && t.expiredAt === undefined && t.seenAt === undefined && t.clickedAt === undefined && t.dismissedAt === undefined;
}

/** The times an action sets (only those not set yet): a repeated report sets nothing. */
export function stampsOf(t: InboxTimes, action: InboxAction, at: number): Partial<Record<Stamp, number>> {
  const wanted: Stamp[] = action === 'seen' ? ['seenAt'] : action === 'clicked' ? ['seenAt', 'clickedAt'] : ['dismissedAt'];
  return Object.fromEntries(wanted.filter((stamp) => t[stamp] === undefined).map((stamp) => [stamp, at]));
}

/** Each step as the journey hears it (channel feedback): seen is an open, clicked a click; each once, by `<key>/<step>`. */
const FEEDBACK: Record<Stamp, { type: FeedbackType; step: string }> = {
  seenAt: { type: 'opened', step: 'seen' },
  clickedAt: { type: 'clicked', step: 'clicked' },
  dismissedAt: { type: 'dismissed', step: 'dismissed' },
  expiredAt: { type: 'expired', step: 'expired' },
};

export function inboxFeedbackOf(key: string, t: InboxTimes): Array<{ id: string; type: FeedbackType; at: number }> {
  return (Object.keys(FEEDBACK) as Stamp[]).flatMap((stamp) => {
    const at = t[stamp];
    return at === undefined ? [] : [{ id: `${key}/${FEEDBACK[stamp].step}`, type: FEEDBACK[stamp].type, at }];
  });
}
