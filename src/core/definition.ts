import { z } from 'zod';
import { parseDuration } from './duration.js';

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

/**
 * A durable timer, armed while the customer is in one of `whileIn`, counted from the entry into the stage
 * or from the last activity (re-armed by every event).
 */
export const Timer = z.strictObject({
  id: Id,
  summary: z.string().min(1).max(120),
  after: PositiveDuration,
  anchor: z.enum(['stageEntry', 'lastActivity']),
  whileIn: z.array(Id).min(1),
});
export type Timer = z.infer<typeof Timer>;

export const EventMatch = z.strictObject({
  event: EventName,
  where: z.record(z.string(), Scalar).optional(),
});
export type EventMatch = z.infer<typeof EventMatch>;

export const PREVIOUS_STAGE = '@previous';

export const Transition = z.strictObject({
  from: z.union([z.literal('*'), z.array(Id).min(1)]),
  on: z.union([EventMatch, z.strictObject({ timer: Id })]),
  to: z.union([Id, z.literal(PREVIOUS_STAGE)]),
  description: z.string().optional(),
});
export type Transition = z.infer<typeof Transition>;

/** Segments are MongoDB filters on the customer profile, looked up by an activity when a step runs. */
const FORBIDDEN_OPERATORS = new Set(['$where', '$function', '$accumulator', '$expr']);
function forbiddenOperators(value: unknown, path: string[] = []): string[] {
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, inner]) => [
    ...(FORBIDDEN_OPERATORS.has(key) ? [[...path, key].join('.')] : []),
    ...forbiddenOperators(inner, [...path, key]),
  ]);
}
export const Segment = z.strictObject({
  id: Id,
  description: z.string().optional(),
  filter: z.record(z.string(), z.unknown()).superRefine((filter, ctx) => {
    for (const where of forbiddenOperators(filter)) {
      ctx.addIssue({ code: 'custom', message: `operator at ${where} may run code on the database and is not allowed in a segment` });
    }
  }),
});
export type Segment = z.infer<typeof Segment>;

export const Trigger = z.union([
  z.strictObject({ event: EventName, where: z.record(z.string(), Scalar).optional() }),
  z.strictObject({ stageEntry: Id }),
  /** Relative to a timer's due time: "-3 days" is three days before the trial ends. */
  z.strictObject({ timer: Id, offset: Duration.default(0) }),
]);
export type Trigger = z.infer<typeof Trigger>;

export const Campaign = z.strictObject({
  id: Id,
  name: z.string().min(1),
  description: z.string().optional(),
  /** Transactional messages go to everyone who has an address; marketing respects consent and caps. */
  kind: z.enum(['transactional', 'marketing']),
  trigger: Trigger,
  delay: NonNegativeDuration.default(0),
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
    })
    .default({ events: [], stageChange: false }),
  message: z.strictObject({
    channel: z.literal('email').default('email'),
    template: Id,
  }),
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
  locales: z.record(z.string().regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'a locale is a BCP 47 tag such as en or pt-BR'), TemplateContent),
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
  timers: z.array(Timer).default([]),
  transitions: z.array(Transition).default([]),
  segments: z.array(Segment).default([]),
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
