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
  | { kind: 'send'; channel: 'email'; profile: P & { email: string }; localTime?: string; /** why this time, when optimisation chose it */ reason?: string }
  | { kind: 'send'; channel: 'webhook'; profile: P; localTime?: string; reason?: string };

/** Whether marketing may reach this customer at all: today's consent rule, and the seam's default consent hook (src/channels/consent.ts). */
export function marketingAllowed(request: Pick<DeliveryRequest, 'kind'>, profile: Pick<DeliveryProfile, 'marketingConsent' | 'unsubscribedAt'>): { allowed: true } | { allowed: false; reason: string } {
  if (request.kind === 'marketing' && (profile.marketingConsent === false || profile.unsubscribedAt)) {
    return { allowed: false, reason: profile.unsubscribedAt ? 'unsubscribed from marketing' : 'no consent for marketing' };
  }
  return { allowed: true };
}

export type TimingDecision =
  | { kind: 'defer'; outcome: Extract<DeliveryOutcome, { status: 'deferred' }> }
  | { kind: 'now'; localTime?: string; /** why this time, when optimisation chose it */ reason?: string };

/** The campaign's timing in the customer's own day: now, or back to the journey to sleep until the time comes. */
export function decideTiming(request: DeliveryRequest, profile: DeliveryProfile, now: number): TimingDecision {
  if (!request.timing) return { kind: 'now' };
  const preferred = (profile.traits as Record<string, unknown> | undefined)?.preferredHour;
  const decision = decideSendTime(now, request.timing, {
    timezone: profile.timezone ?? null,
    preferredHour: typeof preferred === 'number' ? preferred : null,
    learnedHour: request.learnedHour ?? null,
  });
  if (decision.at - now > DEFER_THRESHOLD_MS) {
    return { kind: 'defer', outcome: { status: 'deferred', until: decision.at, reason: decision.reason ?? `deferred to ${decision.localTime}` } };
  }
  return { kind: 'now', ...(decision.localTime ? { localTime: decision.localTime } : {}), ...(decision.optimisation ? { reason: decision.optimisation } : {}) };
}

/**
 * Whether one message goes to this customer now, later, or not at all, for the two channels the outbox
 * simulator knows (src/sim): a profile (with an address, for email), consent for marketing, and the
 * campaign's timing in the customer's own day. The same steps, in the same order, as the delivery activity
 * takes through the channel seam (src/channels). A webhook provider finds the customer by userId, so it
 * needs no email address; consent and timing apply to it all the same.
 */
export function decideDelivery<P extends DeliveryProfile>(request: DeliveryRequest, profile: P | null | undefined, now: number): DeliveryDecision<P> {
  const channel = request.channel ?? 'email';
  if (!profile) return { kind: 'skip', reason: 'no profile for this customer (identify was never called)', noAddress: true };
  if (channel === 'email' && !profile.email) return { kind: 'skip', reason: 'no email address on the profile', noAddress: true };
  const consent = marketingAllowed(request, profile);
  if (!consent.allowed) return { kind: 'skip', reason: consent.reason, noAddress: false };
  const timing = decideTiming(request, profile, now);
  if (timing.kind === 'defer') return timing;
  const at = { ...(timing.localTime ? { localTime: timing.localTime } : {}), ...(timing.reason ? { reason: timing.reason } : {}) };
  return channel === 'email' ? { kind: 'send', channel, profile: profile as P & { email: string }, ...at } : { kind: 'send', channel: 'webhook', profile, ...at };
}
