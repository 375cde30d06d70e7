import type { DeliveryOutcome, DeliveryRequest } from '../core/journey-state.js';
import { preferenceBlock, preferencesOf } from '../core/preferences.js';
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
  /** The customer's own choices per topic and channel (src/core/preferences.ts). */
  preferences?: unknown;
}

export type DeliveryDecision<P extends DeliveryProfile> =
  | { kind: 'skip'; reason: string; /** no profile or no address yet: identify may still be on its way */ noAddress: boolean }
  | { kind: 'defer'; outcome: Extract<DeliveryOutcome, { status: 'deferred' }> }
  | { kind: 'send'; channel: 'email'; profile: P & { email: string }; localTime?: string; /** why this time, when optimisation chose it */ reason?: string }
  | { kind: 'send'; channel: 'webhook'; profile: P; localTime?: string; reason?: string };

/**
 * Whether one message goes to this customer now, later, or not at all: a profile (with an address, for
 * email), consent for marketing, and the campaign's timing in the customer's own day. The rules the real
 * delivery activity and the simulator's both follow. A webhook provider finds the customer by userId, so
 * it needs no email address; consent, preferences and timing apply to it all the same. `topic` is the
 * campaign's topic in its definition: a marketing message whose topic or channel the customer turned off
 * is skipped; a transactional one never is.
 */
export function decideDelivery<P extends DeliveryProfile>(
  request: DeliveryRequest,
  profile: P | null | undefined,
  now: number,
  opts: { topic?: string | undefined } = {},
): DeliveryDecision<P> {
  const channel = request.channel ?? 'email';
  if (!profile) return { kind: 'skip', reason: 'no profile for this customer (identify was never called)', noAddress: true };
  if (channel === 'email' && !profile.email) return { kind: 'skip', reason: 'no email address on the profile', noAddress: true };
  if (request.kind === 'marketing' && (profile.marketingConsent === false || profile.unsubscribedAt)) {
    return { kind: 'skip', reason: profile.unsubscribedAt ? 'unsubscribed from marketing' : 'no consent for marketing', noAddress: false };
  }
  const held = profile.preferences ? preferenceBlock({ kind: request.kind, channel, ...(opts.topic ? { topic: opts.topic } : {}) }, preferencesOf(profile.preferences)) : undefined;
  if (held) return { kind: 'skip', reason: `preferences: ${held}`, noAddress: false };
  const send = (localTime?: string, reason?: string): DeliveryDecision<P> => {
    const at = { ...(localTime ? { localTime } : {}), ...(reason ? { reason } : {}) };
    return channel === 'webhook' ? { kind: 'send', channel, profile, ...at } : { kind: 'send', channel, profile: profile as P & { email: string }, ...at };
  };
  if (!request.timing) return send();
  const preferred = (profile.traits as Record<string, unknown> | undefined)?.preferredHour;
  const decision = decideSendTime(now, request.timing, {
    timezone: profile.timezone ?? null,
    preferredHour: typeof preferred === 'number' ? preferred : null,
    learnedHour: request.learnedHour ?? null,
  });
  if (decision.at - now > DEFER_THRESHOLD_MS) {
    return { kind: 'defer', outcome: { status: 'deferred', until: decision.at, reason: decision.reason ?? `deferred to ${decision.localTime}` } };
  }
  return send(decision.localTime, decision.optimisation);
}
