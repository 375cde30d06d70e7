import { z } from 'zod';
import { DEFAULT_CHANNEL } from './definition-constants.js';
import { parseDuration } from './duration.js';

/**
 * The channels a journey definition may name, each with the options its `message` takes besides `template`
 * (an email needs none; a webhook message names its endpoint). This is the core's one list of channels: the
 * definition schema, the delivery request and the journey state read it, so adding a channel is a line here
 * (its id and options), its module under src/channels/ and its line in src/channels/registry.ts (the
 * registry does not compile until every id listed here has a module).
 *
 * The first id is the default: a message that names no channel is an email, as it was before there was a
 * choice, and a delivery request for it carries no channel at all (saved histories stay as they were).
 */
const Name = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'an id is lower-case letters, digits and _, starting with a letter');

/** How long an in-app message stays in the inbox ("14 days"), carried as milliseconds; at most a year. */
const InboxExpiry = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 60_000 || ms > 366 * 86_400_000) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration between a minute and a year (write "14 days" or "P14D")` });
    return z.NEVER;
  }
  return ms;
});
/** Where a push notification opens when tapped: an https URL, or a path on the app's own origin. */
const PushUrl = z.string().max(2_000).regex(/^(https:\/\/[^\s]+|\/[^\s]*)$/, 'an https:// URL or a path starting with /');

export const CHANNEL_MESSAGE_OPTIONS = {
  email: {},
  webhook: { endpoint: Name },
  /** The customer's in-app inbox: how long the message stays (default 30 days) and the link the app opens on a click. */
  inapp: { expiresAfter: InboxExpiry.optional(), url: z.url({ protocol: /^(?!(?:javascript|data|vbscript|file)$)[a-z][a-z0-9+.-]*$/ }).max(2000).optional() },
  sms: {},
  /**
   * A web push notification (title = the template's subject, body = its text): `url` opens on a tap, `icon`
   * is shown beside it, `urgency` (RFC 8030) lets a push service hold a low one for a device on battery, and
   * `ttl` is how long (seconds) the push service keeps it for a device that is offline.
   */
  push: {
    url: PushUrl.optional(),
    icon: PushUrl.optional(),
    urgency: z.enum(['very-low', 'low', 'normal', 'high']).optional(),
    ttl: z.number().int().min(0).max(2_419_200).optional(),
  },
} as const satisfies Record<string, z.ZodRawShape>;

export type ChannelId = keyof typeof CHANNEL_MESSAGE_OPTIONS;

/**
 * Channels whose message body is the template's plain `text` (not its HTML): every template a campaign on
 * one of them may send needs `text` in every locale (the definition's validator checks).
 */
export const PLAIN_TEXT_CHANNELS: readonly ChannelId[] = ['webhook', 'inapp', 'sms', 'push'];
export const CHANNEL_IDS = Object.keys(CHANNEL_MESSAGE_OPTIONS) as ChannelId[];
/** The default channel is one of the channels (a compile-time check). */
DEFAULT_CHANNEL satisfies ChannelId;
export { DEFAULT_CHANNEL };

/** The options a message on channel K carries besides `channel` and `template`. */
type Shape<K extends ChannelId> = (typeof CHANNEL_MESSAGE_OPTIONS)[K];
/** An object type whose fields that may be undefined are optional (as zod parses them). */
type Fields<T> = { [P in keyof T as undefined extends T[P] ? never : P]: T[P] } & { [P in keyof T as undefined extends T[P] ? P : never]?: T[P] };
export type ChannelOptions<K extends ChannelId> = Fields<{ [P in keyof Shape<K>]: z.output<Shape<K>[P]> }>;
/** The same options as a definition's author writes them. */
export type ChannelOptionsInput<K extends ChannelId> = Fields<{ [P in keyof Shape<K>]: z.input<Shape<K>[P]> }>;

/** A channel to fall back on, as a definition carries it after parsing: `template` absent means the campaign's own. */
export type FallbackMessage<K extends ChannelId = ChannelId> = { [C in K]: { channel: C; template?: string } & ChannelOptions<C> }[K];

/**
 * One channel's message as a definition carries it after parsing; `fallback` (absent unless written) names
 * the channels to try, in order, when the customer cannot be reached on this one.
 */
export type ChannelMessage<K extends ChannelId = ChannelId> = { [C in K]: { channel: C; template: string; fallback?: FallbackMessage[] } & ChannelOptions<C> }[K];

export function isChannelId(value: unknown): value is ChannelId {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(CHANNEL_MESSAGE_OPTIONS, value);
}

/** "\"email\" (the default) or \"webhook\"": the channels, as a refusal of an unknown one lists them. */
export function describeChannels(): string {
  const named = CHANNEL_IDS.map((id) => `"${id}"${id === DEFAULT_CHANNEL ? ' (the default)' : ''}`);
  return named.length > 1 ? `${named.slice(0, -1).join(', ')} or ${named[named.length - 1]}` : named.join('');
}

