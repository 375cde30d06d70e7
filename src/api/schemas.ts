import { IANAZone } from 'luxon';
import { z } from 'zod';

/**
 * Request bodies, in the field names of the Segment HTTP tracking spec so a backend that already emits
 * Segment calls can point at us unchanged. Segment's envelope fields we do not use are accepted and
 * ignored; any other unknown field is refused, so a typo never silently drops data.
 */
const SEGMENT_ENVELOPE = {
  type: z.string().optional(),
  anonymousId: z.string().max(200).optional(),
  context: z.record(z.string(), z.unknown()).optional(),
  integrations: z.record(z.string(), z.unknown()).optional(),
  sentAt: z.string().optional(),
  originalTimestamp: z.string().optional(),
  receivedAt: z.string().optional(),
  channel: z.string().optional(),
  version: z.union([z.string(), z.number()]).optional(),
  writeKey: z.string().optional(),
};

// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;
export const UserId = z
  .string()
  .trim()
  .min(1, 'userId is required')
  .max(200)
  .regex(NO_CONTROL, 'userId must not contain control characters')
  .meta({ description: 'Your id for the customer; their journey is workflow customer-<userId>.', example: 'ada' });
const MessageId = z.string().trim().min(1).max(200).regex(NO_CONTROL, 'messageId must not contain control characters');
const Timestamp = z.iso.datetime({ offset: true, message: 'timestamp must be an ISO 8601 date-time, for example 2026-11-25T10:00:00Z' });

const MAX_DEPTH = 8;
function depth(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const inner = Object.values(value as object).map(depth);
  return 1 + (inner.length ? Math.max(...inner) : 0);
}
/** Keys that MongoDB or our dotted-path updates would read as syntax are refused, at every depth. */
function badKeys(value: unknown, path: string[] = []): string[] {
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => [
    ...(k.startsWith('$') || k.includes('.') || k.includes('\u0000') || k.length === 0 || k === '__proto__' ? [[...path, k].join('.') || '(empty)'] : []),
    ...badKeys(v, [...path, k]),
  ]);
}
function boundedObject(what: string, maxBytes: number) {
  return z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
    const bytes = Buffer.byteLength(JSON.stringify(value));
    if (bytes > maxBytes) ctx.addIssue({ code: 'custom', message: `${what} are ${bytes} bytes; at most ${maxBytes}` });
    if (depth(value) > MAX_DEPTH) ctx.addIssue({ code: 'custom', message: `${what} nest deeper than ${MAX_DEPTH} levels` });
    for (const key of badKeys(value)) {
      ctx.addIssue({ code: 'custom', message: `${what} key "${key}" may not be empty, start with "$", or contain "." or NUL` });
    }
  });
}

export const TrackBody = z.strictObject({
  ...SEGMENT_ENVELOPE,
  userId: UserId,
  event: z.string().trim().min(1, 'event is required').max(200).regex(NO_CONTROL, 'event must not contain control characters'),
  messageId: MessageId,
  timestamp: Timestamp.optional(),
  properties: boundedObject('properties', 16_384).optional(),
});
export type TrackBody = z.infer<typeof TrackBody>;

const Locale = z
  .string()
  .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'locale must be a BCP 47 tag such as en, de or pt-BR')
  .meta({ description: 'A BCP 47 language tag; templates fall back to the language, then to en.', example: 'de-DE' });
const TimeZone = z
  .string()
  .refine((tz) => IANAZone.isValidZone(tz), 'timezone must be an IANA time zone such as Europe/Berlin')
  .meta({ description: 'An IANA time zone name (marketing goes out 09:00-20:00 there).', example: 'Europe/Berlin' });

/** Traits with a meaning of their own; every other trait is kept as a free trait for segments and templates. */
export const KnownTraits = z.object({
  email: z.email('email must be an email address').max(320).nullable().optional(),
  name: z.string().max(200).nullable().optional(),
  firstName: z.string().max(100).nullable().optional(),
  lastName: z.string().max(100).nullable().optional(),
  locale: Locale.nullable().optional(),
  timezone: TimeZone.nullable().optional(),
  marketingConsent: z.boolean().nullable().optional(),
  unsubscribed: z.boolean().optional(),
});

export const IdentifyBody = z.strictObject({
  ...SEGMENT_ENVELOPE,
  userId: UserId,
  traits: boundedObject('traits', 32_768).pipe(KnownTraits.passthrough()),
  messageId: MessageId.optional(),
  timestamp: Timestamp.optional(),
});
export type IdentifyBody = z.infer<typeof IdentifyBody>;

export const MAX_BATCH_ITEMS = 500;
/** The envelope only: each item is validated on its own, so one bad item does not refuse the rest. */
export const BatchBody = z.strictObject({
  batch: z.array(z.unknown()).min(1, 'batch is empty').max(MAX_BATCH_ITEMS, `at most ${MAX_BATCH_ITEMS} items per batch`),
  context: z.record(z.string(), z.unknown()).optional(),
  integrations: z.record(z.string(), z.unknown()).optional(),
  sentAt: z.string().optional(),
  writeKey: z.string().optional(),
});

export const BatchItem = z.discriminatedUnion('type', [
  TrackBody.extend({ type: z.literal('track') }),
  IdentifyBody.extend({ type: z.literal('identify') }),
]);
export type BatchItem = z.infer<typeof BatchItem>;

export const CustomerParams = z.strictObject({ userId: UserId });

export const OutboxQuery = z.strictObject({
  userId: UserId.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

const SearchValue = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'a stage, plan or segment id: lower-case letters, digits and _');
/** Listing customers through Temporal visibility; values are ids, so nothing can be injected into the query. */
export const CustomerListQuery = z.strictObject({
  stage: SearchValue.optional(),
  plan: SearchValue.optional(),
  segment: SearchValue.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(25),
  cursor: z.string().regex(/^[A-Za-z0-9_-]{1,4096}$/, 'cursor is the nextCursor of an earlier page').optional(),
});
export type CustomerListQuery = z.infer<typeof CustomerListQuery>;

const Reason = z.string().trim().min(1).max(500).optional();
/** Support actions (scope customers:write); each becomes a validated Temporal Update on the journey. */
export const ExtendTrialBody = z.strictObject({ days: z.number().int().min(1).max(90), reason: Reason });
export const MarketingBody = z.strictObject({ reason: Reason });
export const CorrectProfileBody = z
  .strictObject({ timezone: TimeZone.optional(), locale: Locale.optional(), reason: Reason })
  .refine((b) => b.timezone !== undefined || b.locale !== undefined, 'give the timezone or the locale to correct');
