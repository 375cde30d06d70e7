import type { TrackedEvent } from '../core/journey-state.js';
import type { AdvanceResult, SimCustomer } from './behaviour.js';
import type { SimProfile } from './population.js';

/** What one wake of a simulated customer sends: an identify (at sign-up, or a profile change) and events. */
export interface SimTrackInput {
  userId: string;
  profile?: SimProfile;
  at: number;
  profileChange?: Record<string, unknown>;
  events: TrackedEvent[];
}

/**
 * The calls a wake of the behaviour model makes, the way a backend makes them through the API: the profile
 * on the first wake, the profile changes the events come with, and each event with a message id counted on
 * from the events sent before. Undefined when the wake did nothing. Both engines send exactly this.
 */
export function trackInputOf(customer: SimCustomer, profile: SimProfile, firstWake: boolean, result: AdvanceResult): SimTrackInput | undefined {
  if (result.events.length === 0) return undefined;
  const profileChange = Object.assign({}, ...result.events.map((e) => e.profile ?? {})) as Record<string, unknown>;
  let n = result.state.sent - result.events.length;
  return {
    userId: customer.userId,
    at: result.events[0]!.at,
    ...(firstWake ? { profile } : {}),
    ...(Object.keys(profileChange).length > 0 ? { profileChange } : {}),
    events: result.events.map((e) => ({
      messageId: `${customer.userId}-${++n}`,
      event: e.event,
      timestamp: new Date(e.at).toISOString(),
      ...(e.properties ? { properties: e.properties } : {}),
    })),
  };
}
