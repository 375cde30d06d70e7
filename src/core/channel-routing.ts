import type { ChannelId, ChannelMessage } from './channel-ids.js';
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

export function routingOf(message: ChannelMessage): DeliveryRouting {
  if (message.channel === DEFAULT_CHANNEL) return {};
  const { channel, template: _template, ...rest } = message as { channel: ChannelId; template: string } & Record<string, string | number | boolean | undefined>;
  const { endpoint, ...options } = rest;
  const kept = Object.fromEntries(Object.entries(options).filter((e): e is [string, string | number | boolean] => e[1] !== undefined));
  return { channel, ...(typeof endpoint === 'string' ? { endpoint } : {}), ...(Object.keys(kept).length > 0 ? { options: kept } : {}) };
}
