import type { ChannelId } from '../core/channel-ids.js';
import type { DeliveryRequest } from '../core/journey-state.js';
import { marketingAllowed } from '../delivery/delivery-rules.js';
import type { ChannelProfile } from './channel.js';

export type ConsentVerdict = { allowed: true } | { allowed: false; reason: string };

/**
 * Whether this customer has said yes (or not no) to this message on this channel: asked by the seam for
 * every channel, after the channel found an address and before anything is rendered. The worker passes one
 * in (ActivityDeps.consent); preferences per topic and channel plug in here. A refusal skips the message
 * with its reason.
 */
export type ConsentCheck = (profile: ChannelProfile, request: DeliveryRequest, channel: ChannelId) => ConsentVerdict | Promise<ConsentVerdict>;

/** Today's rule, for every channel alike: marketing needs consent and no unsubscribe; transactional always goes. */
export const defaultConsent: ConsentCheck = (profile, request) => marketingAllowed(request, profile);
