import type { ChannelId, ChannelMessage, FallbackMessage } from './channel-ids.js';
import type { JourneyPlan } from './journey-definition.js';
import { DEFAULT_CHANNEL } from './definition-constants.js';

/**
 * What workflow code needs of channels at run time, in a module without zod (see definition-constants.ts:
 * the workflow bundle evaluates every module it imports once per cached journey).
 */


/**
 * What a delivery request says about its channel: nothing for the default channel (an email request stays
 * as it was before there was a choice); else the channel, its `endpoint` when the message names one, and
 * the message's other options.
 */
export interface DeliveryRouting {
  channel?: ChannelId;
  /** Where at the provider (the webhook channel: the endpoint's name, as configured on the worker). */
  endpoint?: string;
  /** The message's other channel options, as the definition gives them. */
  options?: Record<string, string | number | boolean>;
}

export function routingOf(message: ChannelMessage | FallbackMessage): DeliveryRouting {
  if (message.channel === DEFAULT_CHANNEL) return {};
  return { channel: message.channel, ...channelOptionsOf(message) };
}

/** The message's channel options as a request carries them: `endpoint` on its own, the rest in `options`. */
function channelOptionsOf(message: ChannelMessage | FallbackMessage): Omit<DeliveryRouting, 'channel'> {
  const { channel: _channel, template: _template, fallback: _fallback, ...rest } = message as unknown as Record<string, unknown>;
  const { endpoint, ...options } = rest;
  const kept = Object.fromEntries(Object.entries(options).filter((e): e is [string, string | number | boolean] => ['string', 'number', 'boolean'].includes(typeof e[1])));
  return { ...(typeof endpoint === 'string' ? { endpoint } : {}), ...(Object.keys(kept).length > 0 ? { options: kept } : {}) };
}

/** One channel a delivery may try, after the one the request names first (DeliveryRequest.fallback). */
export interface FallbackRouting extends DeliveryRouting {
  channel: ChannelId;
  /** Its own template; absent: the request's. */
  template?: string;
}

export function fallbackRoutingOf(message: FallbackMessage): FallbackRouting {
  return { channel: message.channel, ...channelOptionsOf(message), ...(message.template ? { template: message.template } : {}) };
}

/** Why a channel the campaign names was not used for a message. */
export interface PassedOver {
  channel: ChannelId;
  reason: string;
}

/** The channels a message may go on, in the campaign's order: its own, then its fallbacks (the first has the campaign's template). */
export function candidatesOf(message: ChannelMessage): FallbackMessage[] {
  const { fallback, template: _template, ...first } = message;
  return [first as FallbackMessage, ...(fallback ?? [])];
}

/** "push: no push subscription; email: unsubscribed from marketing", or the one reason alone. */
export function describePassedOver(passed: readonly PassedOver[]): string {
  if (passed.length === 1) return passed[0]!.reason;
  return `no channel could take it: ${passed.map((p) => `${p.channel}: ${p.reason}`).join('; ')}`;
}

/**
 * The plan as a journey run before channel fallbacks and per-channel caps sees it (journey code version
 * below 4): without them, so such a run replays as it first ran whatever the definition says now.
 */
export function withoutChannelChoices(plan: JourneyPlan): JourneyPlan {
  const campaigns = plan.campaigns.map((c) => {
    if (!c.message.fallback) return c;
    const { fallback: _fallback, ...message } = c.message;
    return { ...c, message: message as ChannelMessage };
  });
  const cap = plan.frequencyCap;
  const { channels: _channels, ...overall } = cap ?? {};
  const frequencyCap = cap?.channels === undefined ? cap : overall.max !== undefined ? overall : undefined;
  const { frequencyCap: _cap, ...rest } = plan;
  return { ...rest, campaigns, ...(frequencyCap ? { frequencyCap } : {}) };
}
