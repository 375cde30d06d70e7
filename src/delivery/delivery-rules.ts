import type { DeliveryOutcome, DeliveryRequest } from '../core/journey-state.js';
import { decideSendTime } from '../timing/send-time.js';

/** A send due within this much is sent now; later, the step goes back to the journey to sleep durably. */
export const DEFER_THRESHOLD_MS = 60_000;

/** What the rules read of the customer's profile. */
export interface DeliveryProfile {
  email?: string | null;
  marketingConsent?: boolean | null;
  unsubscribedAt?: Date | null;
  timezone?: string | null;
  traits?: unknown;
}

export type DeliveryDecision<P extends DeliveryProfile> =
  | { kind: 'skip'; reason: string; /** no profile or no address yet: identify may still be on its way */ noAddress: boolean }
  | { kind: 'defer'; outcome: Extract<DeliveryOutcome, { status: 'deferred' }> }
  | { kind: 'send'; profile: P & { email: string }; localTime?: string };

/**
 * Whether one message goes to this customer now, later, or not at all: an address, consent for marketing,
 * and the campaign's timing in the customer's own day. The rules the real delivery activity and the
 * simulator's both follow.
 */
export function decideDelivery<P extends DeliveryProfile>(request: DeliveryRequest, profile: P | null | undefined, now: number): DeliveryDecision<P> {
  if (!profile?.email) {
    return { kind: 'skip', reason: profile ? 'no email address on the profile' : 'no profile for this customer (identify was never called)', noAddress: true };
  }
  if (request.kind === 'marketing' && (profile.marketingConsent === false || profile.unsubscribedAt)) {
    return { kind: 'skip', reason: profile.unsubscribedAt ? 'unsubscribed from marketing' : 'no consent for marketing', noAddress: false };
  }
  const addressed = profile as P & { email: string };
  if (!request.timing) return { kind: 'send', profile: addressed };
  const preferred = (profile.traits as Record<string, unknown> | undefined)?.preferredHour;
  const decision = decideSendTime(now, request.timing, {
    timezone: profile.timezone ?? null,
    preferredHour: typeof preferred === 'number' ? preferred : null,
  });
  if (decision.at - now > DEFER_THRESHOLD_MS) {
    return { kind: 'defer', outcome: { status: 'deferred', until: decision.at, reason: decision.reason ?? `deferred to ${decision.localTime}` } };
  }
  return { kind: 'send', profile: addressed, localTime: decision.localTime };
}
