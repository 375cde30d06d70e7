import { z } from 'zod';
import { parseDuration } from './duration.js';
import { PREVIOUS_STAGE } from './definition-constants.js';
import { CHANNEL_IDS, CHANNEL_MESSAGE_OPTIONS, DEFAULT_CHANNEL, describeChannels, type ChannelId, type ChannelMessage, type ChannelOptionsInput } from './channel-ids.js';

export { PREVIOUS_STAGE };

/**
 * The journey definition: what a marketer declares, validated once when it is loaded.
 * Durations are written as text ("30 days", "-3 days", "PT1H") and carried as milliseconds after parsing,
 * so the workflow never parses text.
 */

const Id = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'an id is lower-case letters, digits and _, starting with a letter');
export const EventName = z.string().trim().min(1).max(200);

const Duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (write "30 days", "1 hour", "-3 days" or ISO 8601 like "P30D")` });
    return z.NEVER;
  }
  return ms;
});
const PositiveDuration = Duration.refine((ms) => ms > 0, 'must be longer than zero');
const NonNegativeDuration = Duration.refine((ms) => ms >= 0, 'must not be negative');

const Scalar = z.union([z.string(), z.number(), z.boolean()]);

/**
 * One variant of a union the core dispatches on. Authors write the variant's own field (`event:`,
 * `timer:` ...); the parsed value also carries it as `kind`, so the core switches on `kind` exhaustively and
 * a new variant does not compile until every place that tells them apart handles it. The YAML stays as it
 * was, and the tag is left out of the definition's version (load-definition.ts), so the same file keeps it.
 */
function tagged<K extends string, S extends z.ZodType<object>>(kind: K, schema: S) {
  return schema.transform((value) => ({ kind, ...value }) as { kind: K } & z.output<S>);
}

export const Stage = z.strictObject({
  id: Id,
  label: z.string().min(1).optional(),
  description: z.string().optional(),
});
export type Stage = z.infer<typeof Stage>;

/** A journey attribute (such as the plan) taken from an event property; it can feed a search attribute. */
export const Attribute = z.strictObject({
  id: Id,
  searchAttribute: z.string().regex(/^[A-Z][A-Za-z0-9]*$/).optional(),
  values: z.array(z.string().min(1)).min(1).optional(),
  setFrom: z.array(z.strictObject({ event: EventName, property: z.string().min(1) })).min(1),
  clearOnStages: z.array(Id).default([]),
});
export type Attribute = z.infer<typeof Attribute>;

/** Which call an event match applies to: a track call (the default), or a page or screen view by its name. */
export const CallKind = z.enum(['track', 'page', 'screen']);

export const EventMatch = z.strictObject({
  event: EventName,
  call: CallKind.optional(),
  where: z.record(z.string(), Scalar).optional(),
});
export type EventMatch = z.infer<typeof EventMatch>;

/**
 * A durable timer, armed while the customer is in one of `whileIn`, counted from the entry into those
 * stages, from the last activity (re-armed by every activity event), or from an event (re-armed by each).
 * `keepThrough` stages neither disarm nor restart it (a trial customer who lapses still has a trial that
 * ends). `repeat: monthly` fires on the same day of every following month (renewals).
 */
export const Timer = z.strictObject({
  id: Id,
  summary: z.string().min(1).max(120),
  /** How long after the anchor; a monthly timer needs none (it is due on the anchor's day of each month). */
  after: PositiveDuration.default(0),
  /** What the timer counts from: entering its stages, the last activity, or an event (each re-arms it). */
  anchor: z.union([
    z.literal('stageEntry').transform(() => ({ kind: 'stageEntry' as const })),
    z.literal('lastActivity').transform(() => ({ kind: 'lastActivity' as const })),
    tagged('event', EventMatch),
  ]),
  whileIn: z.array(Id).min(1),
  keepThrough: z.array(Id).default([]),
  cancelOn: z.array(EventName).default([]),
  repeat: z.enum(['monthly']).optional(),
}).refine((t) => t.after > 0 || t.repeat !== undefined, { message: 'a timer needs `after` (or `repeat: monthly`)', path: ['after'] });
export type Timer = z.infer<typeof Timer>;
export type TimerAnchor = Timer['anchor'];

const Comparison = z
  .strictObject({ gte: z.number().optional(), lte: z.number().optional(), eq: z.number().optional() })
  .refine((c) => c.gte !== undefined || c.lte !== undefined || c.eq !== undefined, 'say gte, lte or eq');

/** A condition on what the journey knows, checked when a transition or a campaign step is considered. */
export const Condition = z.strictObject({
  counters: z.record(Id, Comparison).optional(),
  attributes: z.record(Id, z.union([z.string(), z.array(z.string()).min(1)])).optional(),
  /** Had an activity event no longer ago than this. */
  activeWithin: PositiveDuration.optional(),
  /** Has been in the current stage at least this long. */
  inStageFor: NonNegativeDuration.optional(),
});
export type Condition = z.infer<typeof Condition>;

/** Counts events (workouts, renewals, payments); counters feed conditions, milestones and KPIs. */
export const Counter = z.strictObject({
  id: Id,
  description: z.string().optional(),
  on: z.array(EventMatch).min(1),
});
export type Counter = z.infer<typeof Counter>;

export const Transition = z.strictObject({
  from: z.union([z.literal('*'), z.array(Id).min(1)]),
  /** An event, any activity event, or a timer firing. */
  on: z.union([tagged('event', EventMatch), tagged('activity', z.strictObject({ activity: z.literal(true) })), tagged('timer', z.strictObject({ timer: Id }))]),
  when: Condition.optional(),
  to: z.union([Id, z.literal(PREVIOUS_STAGE)]),
  description: z.string().optional(),
});
export type Transition = z.infer<typeof Transition>;

/**
 * Segments are MongoDB filters on the customer profile, looked up by an activity when a step runs. The
 * activity reads the profile by id and matches it in process (src/segments/segment-matcher.ts), so a
 * filter may use only the query operators MongoDB and that matcher agree on; operators that run code are
 * refused outright.
 */
export const SEGMENT_OPERATORS = new Set([
  '$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists',
  '$and', '$or', '$nor', '$not', '$all', '$elemMatch', '$size', '$regex', '$options',
]);
const CODE_OPERATORS = new Set(['$where', '$function', '$accumulator', '$expr']);
function segmentOperatorIssues(value: unknown, path: string[] = []): string[] {
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, inner]) => {
    const at = [...path, key].join('.');
    const own = !key.startsWith('$')
      ? []
      : CODE_OPERATORS.has(key)
        ? [`operator at ${at} may run code on the database and is not allowed in a segment`]
        : SEGMENT_OPERATORS.has(key)
          ? []
          : [`operator at ${at} is not supported in a segment (use one of ${[...SEGMENT_OPERATORS].join(', ')})`];
    return [...own, ...segmentOperatorIssues(inner, [...path, key])];
  });
}
export const Segment = z.strictObject({
  id: Id,
  description: z.string().optional(),
  filter: z.record(z.string(), z.unknown()).superRefine((filter, ctx) => {
    for (const message of segmentOperatorIssues(filter)) ctx.addIssue({ code: 'custom', message });
  }),
});
export type Segment = z.infer<typeof Segment>;

/** The longest window a computed trait may look back over (its day buckets stay bounded). */
export const MAX_TRAIT_WINDOW_MS = 400 * 86_400_000;
const TraitWindow = PositiveDuration.refine((ms) => ms <= MAX_TRAIT_WINDOW_MS, 'a trait window is at most 400 days');
const TraitBase = { id: Id, description: z.string().optional() };

/**
 * A value the journey computes from what it knows and keeps on the customer's profile (`computed.<id>`),
 * so segments can filter on it like any profile field. Written only when it changes; a window that ends
 * wakes the journey at that moment (a durable timer), never by polling.
 * - `activeWithin`: true while the customer had an activity event no longer ago than this.
 * - `emailEngagedWithin`: true while the customer opened or clicked an email no longer ago than this.
 * - `eventCount`: how many matching events in the rolling window (counted by UTC day: a day's events
 *   leave the window `within` after the day ends); with `gte` and/or `lte`, whether the count is in range.
 * - `inStage`: whether the customer is in one of these stages (`ever`: has ever been).
 * - `mostFrequent`: the most frequent value of an event property (ties: the most recent), null before any.
 */
export const ComputedTrait = z.union([
  tagged('activeWithin', z.strictObject({ ...TraitBase, activeWithin: TraitWindow })),
  tagged('emailEngagedWithin', z.strictObject({ ...TraitBase, emailEngagedWithin: TraitWindow })),
  tagged(
    'eventCount',
    z.strictObject({
      ...TraitBase,
      eventCount: z.strictObject({
        event: EventName,
        where: z.record(z.string(), Scalar).optional(),
        within: TraitWindow,
        gte: z.number().int().min(0).optional(),
        lte: z.number().int().min(0).optional(),
      }),
    }),
  ),
  tagged('inStage', z.strictObject({ ...TraitBase, inStage: z.strictObject({ stages: z.array(Id).min(1), ever: z.boolean().default(false) }) })),
  tagged(
    'mostFrequent',
    z.strictObject({
      ...TraitBase,
      mostFrequent: z.strictObject({ event: EventName, where: z.record(z.string(), Scalar).optional(), property: z.string().min(1) }),
    }),
  ),
]);
export type ComputedTrait = z.infer<typeof ComputedTrait>;

export const Trigger = z.union([
  tagged('event', z.strictObject({ event: EventName, call: CallKind.optional(), where: z.record(z.string(), Scalar).optional() })),
  tagged('stageEntry', z.strictObject({ stageEntry: Id })),
  /** Relative to a timer's due time: "-3 days" is three days before the trial ends. */
  tagged('timer', z.strictObject({ timer: Id, offset: Duration.default(0) })),
  /** When a counter reaches one of these values (milestones: the 10th, 50th, 100th workout). */
  tagged('counter', z.strictObject({ counter: Id, reaches: z.array(z.number().int().positive()).min(1) })),
  /** A scheduled broadcast to a segment (a Temporal Schedule with this cron spec, in `timezone`). */
  tagged('broadcast', z.strictObject({ broadcast: z.strictObject({ cron: z.string().min(9), timezone: z.string().default('UTC') }) })),
]);
export type Trigger = z.infer<typeof Trigger>;
export type TriggerKind = Trigger['kind'];
export type TransitionOn = Transition['on'];

const ClockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a local time of day is written HH:mm, for example 08:00');

/**
 * When, in the customer's own time zone (profile `timezone`), a message may go out. `window` is when
 * sending is allowed; `quietHours` is when it is not (either may wrap midnight: 21:00-08:00).
 * `optimise` sends at the hour the customer usually engages when it is known and inside the window: the
 * hour learned from their opens and clicks (once 3 are known, see src/core/engagement.ts), else the profile
 * trait `preferredHour` (0-23). Without a known time zone, `defaultTimezone` applies.
 */
export const Timing = z.strictObject({
  window: z.strictObject({ from: ClockTime, to: ClockTime }).optional(),
  quietHours: z.strictObject({ from: ClockTime, to: ClockTime }).optional(),
  optimise: z.boolean().default(false),
  defaultTimezone: z.string().min(1).default('UTC'),
});
export type Timing = z.infer<typeof Timing>;

/**
 * What a campaign sends, on which channel (src/core/channel-ids.ts lists them with their options): an email
 * (the default), or a JSON message POSTed to a webhook endpoint (a push, SMS or in-app provider). Endpoints
 * are named here and configured on the worker (WEBHOOK_ENDPOINTS), so a definition carries no URL or secret.
 * A webhook message is the template's subject (its title) and its `text` (its body), which every locale of
 * the template must have.
 */
const fallbackMessage = (id: ChannelId) => z.strictObject({ channel: z.literal(id), template: Id.optional(), ...CHANNEL_MESSAGE_OPTIONS[id] });
/**
 * A channel to try when the customer cannot be reached on the ones before it (no address or subscription,
 * opted out of it, suppressed, over its frequency cap): a bare id (`email`) for a channel without options,
 * or its message (`{ channel: webhook, endpoint: push }`); `template` defaults to the campaign's.
 */
const Fallback = z.union([
  z.enum(CHANNEL_IDS as [ChannelId, ...ChannelId[]]).transform((channel, ctx) => {
    if (Object.keys(CHANNEL_MESSAGE_OPTIONS[channel]).length > 0) {
      ctx.addIssue({ code: 'custom', message: `${channel} needs its options: write { channel: ${channel}, ${Object.keys(CHANNEL_MESSAGE_OPTIONS[channel]).join(', ')}: ... }` });
      return z.NEVER;
    }
    return { channel };
  }),
  z.discriminatedUnion('channel', CHANNEL_IDS.map(fallbackMessage) as unknown as [ReturnType<typeof fallbackMessage>], { error: `channel is ${describeChannels()}` }),
]);
const channelMessage = (id: ChannelId) =>
  z.strictObject({
    channel: id === DEFAULT_CHANNEL ? z.literal(id).default(id) : z.literal(id),
    template: Id,
    ...CHANNEL_MESSAGE_OPTIONS[id],
    // Absent unless written, so a definition without it keeps its version.
    fallback: z.array(Fallback).min(1).optional(),
  });
export const Message = z.discriminatedUnion('channel', CHANNEL_IDS.map(channelMessage) as unknown as [ReturnType<typeof channelMessage>], {
  error: `channel is ${describeChannels()}`,
}) as unknown as z.ZodType<ChannelMessage, MessageInput>;
type FallbackInput = ChannelId | { [C in ChannelId]: { channel: C; template?: string } & ChannelOptionsInput<C> }[ChannelId];
type MessageInput = {
  [C in ChannelId]: { template: string; fallback?: FallbackInput[] } & (C extends typeof DEFAULT_CHANNEL ? { channel?: C } : { channel: C }) & ChannelOptionsInput<C>;
}[ChannelId];
export type Message = ChannelMessage;

const Cap = z.strictObject({ max: z.number().int().positive(), per: PositiveDuration });
/**
 * At most `max` marketing messages per rolling `per` for one customer, over all channels; `channels` caps
 * each channel on its own as well (`sms: { max: 1, per: 7 days }`). A capped channel is passed over for the
 * next one the campaign names (message.fallback), else the message is skipped. Transactional messages are
 * exempt.
 */
export const FrequencyCap = z
  .strictObject({ max: Cap.shape.max.optional(), per: Cap.shape.per.optional(), channels: z.partialRecord(z.enum(CHANNEL_IDS as [ChannelId, ...ChannelId[]]), Cap).optional() })
  .refine((c) => (c.max === undefined) === (c.per === undefined), { message: 'give max and per together (the cap over all channels)' })
  .refine((c) => c.max !== undefined || c.channels !== undefined, { message: 'say max and per, or channels, or both' });
export type FrequencyCap = z.infer<typeof FrequencyCap>;

const LocaleTag = z.string().regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'a locale is a BCP 47 tag such as en or pt-BR');

/**
 * A subject of marketing a customer may choose to hear about or not (tips, offers, product news). Each
 * marketing campaign names its topic; the customer's preferences turn topics (and channels) off, the
 * one-click unsubscribe of an email turns off the topic it belongs to. `label` (and `description`) per
 * locale are what the hosted preference page shows; the definition's default locale is required.
 */
export const Topic = z.strictObject({
  id: Id,
  label: z.record(LocaleTag, z.string().trim().min(1).max(80)),
  description: z.record(LocaleTag, z.string().trim().min(1).max(300)).optional(),
});
export type Topic = z.infer<typeof Topic>;

export const Campaign = z.strictObject({
  id: Id,
  name: z.string().min(1),
  description: z.string().optional(),
  /** Transactional messages go to everyone who has an address; marketing respects consent and caps. */
  kind: z.enum(['transactional', 'marketing']),
  /** A marketing campaign's topic (one of the definition's `topics`): the customer may turn it off. */
  topic: Id.optional(),
  /** One trigger or several (any of them starts the campaign). */
  trigger: z.union([Trigger, z.array(Trigger).min(1)]).transform((t) => (Array.isArray(t) ? t : [t])),
  delay: NonNegativeDuration.default(0),
  /** A series: one message per step, each `after` the trigger (plus delay); a step may use its own template. */
  steps: z.array(z.strictObject({ after: NonNegativeDuration, template: Id.optional() })).min(1).optional(),
  /** Checked when a step is due; a step whose conditions fail is skipped with the reason. */
  conditions: Condition.optional(),
  /**
   * How often the campaign may start for one customer: `once` (delivered once, ever), `oncePerStageEntry`,
   * `notWhileRunning` (not again while a step of it is still to come: a dunning series is not restarted by
   * every retried card), or `always`.
   */
  limit: z.enum(['always', 'once', 'oncePerStageEntry', 'notWhileRunning']).default('always'),
  timing: Timing.optional(),
  /** The same offer is never sent twice inside its cooldown, whichever campaign carries it. */
  offer: z.strictObject({ id: Id, cooldown: PositiveDuration }).optional(),
  /** Variants assigned deterministically per customer, and a holdout share that receives nothing. */
  experiment: z
    .strictObject({
      holdout: z.number().min(0).max(0.9).default(0),
      variants: z
        .array(z.strictObject({ id: Id, weight: z.number().positive().default(1), template: Id.optional(), description: z.string().optional() }))
        .min(1)
        .default([{ id: 'control', weight: 1 }]),
    })
    .optional(),
  audience: z
    .strictObject({
      stages: z.array(Id).min(1).optional(),
      segments: z.array(Id).min(1).optional(),
    })
    .default({}),
  exitOn: z
    .strictObject({
      events: z.array(EventName).default([]),
      stageChange: z.boolean().default(false),
      /**
       * Stop the campaign's series once the customer engaged with one of its messages: an email opened or
       * clicked, an in-app message seen or clicked, any channel's open or click. Absent unless written, so
       * definitions without it keep their version.
       */
      engaged: z.boolean().optional(),
    })
    .default({ events: [], stageChange: false }),
  message: Message,
  goal: z.strictObject({ event: EventName, within: PositiveDuration }).optional(),
  /**
   * A step due longer ago than this (a backfill, a long outage) is skipped rather than sent late.
   * Default: 1 day for marketing, never for transactional messages.
   */
  maxLateness: NonNegativeDuration.optional(),
});
export type Campaign = z.infer<typeof Campaign>;

export const TemplateContent = z.strictObject({
  subject: z.string().min(1).max(998),
  html: z.string().min(1),
  text: z.string().min(1).optional(),
});
export type TemplateContent = z.infer<typeof TemplateContent>;

export const Template = z.strictObject({
  id: Id,
  locales: z.record(LocaleTag, TemplateContent),
});
export type Template = z.infer<typeof Template>;

export const JourneyDefinition = z.strictObject({
  id: Id,
  name: z.string().min(1),
  description: z.string().optional(),
  defaultLocale: z.string().min(2).default('en'),
  initialStage: Id,
  stages: z.array(Stage).min(1),
  attributes: z.array(Attribute).default([]),
  /** Every event counts as activity (for lapse timers and conditions) except these. */
  activity: z.strictObject({ ignore: z.array(EventName).default([]) }).default({ ignore: [] }),
  counters: z.array(Counter).default([]),
  /** Events that turn marketing off (and on again); transactional messages still go. */
  consent: z
    .strictObject({ unsubscribeOn: z.array(EventName).default([]), resubscribeOn: z.array(EventName).default([]) })
    .default({ unsubscribeOn: [], resubscribeOn: [] }),
  /** At most `max` marketing messages per rolling `per` for one customer; transactional messages are exempt. */
  frequencyCap: FrequencyCap.optional(),
  /** The default timing of marketing messages (a campaign's own timing replaces it). */
  timing: Timing.optional(),
  /** What support tools act on: the timer "extend trial" moves. */
  support: z.strictObject({ trialTimer: Id.optional() }).default({}),
  /** Which counter counts payments, which stage is loyal, which move is a reactivation: for the KPIs. */
  metrics: z
    .strictObject({
      paymentCounter: Id.optional(),
      loyalStage: Id.optional(),
      reactivation: z.strictObject({ from: Id, to: Id }).optional(),
    })
    .default({}),
  timers: z.array(Timer).default([]),
  transitions: z.array(Transition).default([]),
  segments: z.array(Segment).default([]),
  /** Absent rather than empty by default, so definitions without it keep their version. */
  computedTraits: z.array(ComputedTrait).optional(),
  /** What marketing is about, for the customer's preferences (absent: marketing is one list). */
  topics: z.array(Topic).optional(),
  campaigns: z.array(Campaign).default([]),
  templates: z.array(Template).default([]),
});
/** A definition as authored (durations as text). */
export type JourneyDefinitionInput = z.input<typeof JourneyDefinition>;
/** A parsed definition: durations in milliseconds, defaults filled in. */
export type JourneyDefinition = z.infer<typeof JourneyDefinition>;

/**
 * The part of a definition the workflow carries out. Templates stay with the activities that render
 * them, so the workflow's history holds structure, not message bodies.
 */
export type JourneyPlan = Omit<JourneyDefinition, 'templates'> & { version: string };

export interface DefinitionRef {
  id: string;
  /** Content hash of the definition; absent means "the version the workers currently serve". */
  version?: string;
}
