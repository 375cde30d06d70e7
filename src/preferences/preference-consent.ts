import { defaultConsent, type ConsentCheck } from '../channels/consent.js';
import { preferenceBlock, preferencesOf } from '../core/preferences.js';
import type { DefinitionStore } from '../definition-store/definition-store.js';

/**
 * The seam's consent hook with the customer's preferences: first today's rule (marketing consent, no
 * unsubscribe), then, for marketing, the topic of the campaign (as the request's definition version gives
 * it) and the channel, each of which the customer may have turned off. Transactional messages always go.
 */
export function preferenceConsent(definitions: Pick<DefinitionStore, 'get'>): ConsentCheck {
  return async (profile, request, channel) => {
    const consent = await defaultConsent(profile, request, channel);
    if (!consent.allowed || request.kind !== 'marketing' || !profile.preferences) return consent;
    const topic = (await definitions.get(request.definition)).definition.campaigns.find((c) => c.id === request.campaignId)?.topic;
    const held = preferenceBlock({ kind: request.kind, channel, ...(topic ? { topic } : {}) }, preferencesOf(profile.preferences));
    return held ? { allowed: false, reason: `preferences: ${held}` } : consent;
  };
}
