import type { Logger } from 'pino';
import type { ChannelId } from '../core/channel-ids.js';
import type { Models } from '../db/models.js';
import type { Channel } from './channel.js';
import { emailChannel, type EmailChannelDeps } from './email.js';
import { inappChannel } from './inapp.js';
import { smsChannel, type SmsChannelDeps } from './sms.js';
import { pushChannel, type PushChannelDeps } from './push.js';
import { webhookChannel, type WebhookChannelDeps } from './webhook.js';

/**
 * What the channels are built from: the worker's database and logger, and each channel's own provider
 * client and settings (built from config in src/worker/main.ts). A new channel adds its deps type here.
 */
export type ChannelDeps = { models: Models; logger: Logger } & EmailChannelDeps & WebhookChannelDeps & SmsChannelDeps & PushChannelDeps;

/**
 * The one registration of every channel: its id (as src/core/channel-ids.ts lists it) and the module that
 * builds it. The type demands an entry for every listed id, so a channel named in the core does not
 * compile until it is registered here.
 */
const CHANNELS: { [K in ChannelId]: (deps: ChannelDeps) => Channel } = {
  email: emailChannel,
  webhook: webhookChannel,
  inapp: inappChannel,
  sms: smsChannel,
  push: pushChannel,
};

export type Channels = ReadonlyMap<ChannelId, Channel>;

/** Every registered channel, built once per worker. */
export function createChannels(deps: ChannelDeps): Channels {
  return new Map(
    (Object.keys(CHANNELS) as ChannelId[]).map((id) => {
      const channel = CHANNELS[id](deps);
      if (channel.id !== id) throw new Error(`channel registered as "${id}" says it is "${channel.id}"`);
      return [id, channel] as const;
    }),
  );
}
