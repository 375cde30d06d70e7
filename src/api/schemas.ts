import { IANAZone } from 'luxon';
import { z } from 'zod';

/** A lone UTF-16 surrogate ("\ud800" in JSON): MongoDB would store U+FFFD instead, Temporal refuses it in a workflow id. */
const LONE_SURROGATE = /[\ud800-\udfff]/u;
export const wellFormed = (text: string) => !LONE_SURROGATE.test(text);
export const WELL_FORMED = 'must be well-formed Unicode (no lone surrogate)';

// eslint-disable-next-line no-control-regex -- refusing control characters is the point
export const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;
export const UserId = z
  .string()
  .trim()
  .min(1, 'userId is required')
  .max(200)
  .regex(NO_CONTROL, 'userId must not contain control characters')
  .refine(wellFormed, `userId ${WELL_FORMED}`)
  .meta({ description: 'Your id for the customer; their journey is workflow customer-<userId>.', example: 'ada' });
export const MessageId = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .regex(NO_CONTROL, 'messageId must not contain control characters')
  .refine(wellFormed, `messageId ${WELL_FORMED}`);
export const Timestamp = z.iso.datetime({ offset: true, message: 'timestamp must be an ISO 8601 date-time, for example 2026-11-25T10:00:00Z' });

const MAX_DEPTH = 8;
/**
 * White space at either end of a key (JavaScript's, and U+0085 which Go also counts): FerretDB refuses such
 * a key in an update path, and " email" next to "email" is a mistake, not a second trait.
 */
const EDGE_SPACE = /^[\s\u0085]|[\s\u0085]$/u;
/** Names every JavaScript object already has a meaning for; mongoose drops a `prototype` under a `constructor`. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const KEY_RULE = 'may not be empty, be __proto__, constructor or prototype, start with "$", start or end with white space, or contain "." or NUL';

/**
 * The problems of a properties or traits value, read from the JSON as parsed (a record schema drops an
 * own `__proto__` key before any check could see it). Iterative and stopping below MAX_DEPTH, so a body
 * nested 30,000 levels deep is refused, not a stack overflow.
 */
function bagProblems(what: string, raw: unknown, limits: { maxBytes: number; nestedArrays: boolean }): string[] {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return [];
  const problems: string[] = [];
  const stack: Array<{ value: unknown; path: string[]; inArray: boolean }> = [{ value: raw, path: [], inArray: false }];
  let tooDeep = false;
  while (stack.length > 0) {
    const { value, path, inArray } = stack.pop()!;
    const at = `${what} at "${path.join('.')}"`;
    if (typeof value === 'string' && !wellFormed(value)) problems.push(`${at}: a string ${WELL_FORMED}`);
    // JSON.parse reads 1e309 as Infinity: JSON.stringify would send null to Temporal, MongoDB refuses it.
    if (typeof value === 'number' && !Number.isFinite(value)) problems.push(`${at}: ${value} is out of range (at most ±1.79e308)`);
    if (value === null || typeof value !== 'object') continue;
    if (Array.isArray(value) && inArray && !limits.nestedArrays) {
      problems.push(`${at}: an array directly inside an array cannot be stored (FerretDB refuses it); wrap it in an object`);
    }
    if (path.length >= MAX_DEPTH) {
      tooDeep = true;
      continue;
    }
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (!Array.isArray(value)) {
        if (k.startsWith('$') || k.includes('.') || k.includes('\u0000') || k.length === 0 || PROTOTYPE_KEYS.has(k) || EDGE_SPACE.test(k)) {
          problems.push(`${what} key "${[...path, k].join('.') || '(empty)'}" ${KEY_RULE}`);
        } else if (!wellFormed(k)) problems.push(`${at}: a key ${WELL_FORMED}`);
      }
      stack.push({ value: v, path: [...path, k], inArray: Array.isArray(value) });
    }
  }
  if (tooDeep) problems.push(`${what} nest deeper than ${MAX_DEPTH} levels`);
  else {
    const bytes = Buffer.byteLength(JSON.stringify(raw));
    if (bytes > limits.maxBytes) problems.push(`${what} are ${bytes} bytes; at most ${limits.maxBytes}`);
  }
  return problems.sort();
}

/** Schemas of the free-form objects (properties, traits): the OpenAPI document states their key rule. */
export const FREE_FORM_OBJECTS = new WeakSet<object>();
export function boundedObject(what: string, limits: { maxBytes: number; nestedArrays: boolean }) {
  const record = z.record(z.string(), z.unknown());
  FREE_FORM_OBJECTS.add(record);
  // nonoptional: a preprocess would otherwise make the field optional in the OpenAPI document.
  return z
    .preprocess((raw, ctx) => {
      for (const message of bagProblems(what, raw, limits)) ctx.addIssue({ code: 'custom', message });
      return raw;
    }, record)
    .nonoptional();
}

const Locale = z
  .string()
  .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'locale must be a BCP 47 tag such as en, de or pt-BR')
  .meta({ description: 'A BCP 47 language tag; templates fall back to the language, then to en.', example: 'de-DE' });
const TimeZone = z
  .string()
  .refine((tz) => IANAZone.isValidZone(tz), 'timezone must be an IANA time zone such as Europe/Berlin')
  .meta({ description: 'An IANA time zone name (marketing goes out 09:00-20:00 there).', example: 'Europe/Berlin' });

/** The lengths RFC 5321 allows (z.email does not check them): a provider refuses anything longer. */
function deliverable(email: string): boolean {
  const at = email.lastIndexOf('@');
  return at <= 64 && email.slice(at + 1).split('.').every((label) => label.length <= 63 && !label.endsWith('-'));
}

/** Traits with a meaning of their own; every other trait is kept as a free trait for segments and templates. */
export const KnownTraits = z.object({
  email: z
    .email('email must be an email address')
    .max(254)
    .refine(deliverable, 'email must have at most 64 characters before the @ and domain labels of at most 63 characters that do not end with "-"')
    .nullable()
    .optional(),
  name: z.string().max(200).refine(wellFormed, `name ${WELL_FORMED}`).nullable().optional(),
  firstName: z.string().max(100).refine(wellFormed, `firstName ${WELL_FORMED}`).nullable().optional(),
  lastName: z.string().max(100).refine(wellFormed, `lastName ${WELL_FORMED}`).nullable().optional(),
  locale: Locale.nullable().optional(),
  timezone: TimeZone.nullable().optional(),
  marketingConsent: z.boolean().nullable().optional(),
  unsubscribed: z.boolean().optional(),
});

export const CustomerParams = z.strictObject({ userId: UserId });

export const PushSubscriptionParams = z.strictObject({
  userId: UserId,
  subscriptionId: z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'a subscription id as the API gave it'),
});
/** DELETE …/push-subscriptions?endpoint=…: the endpoint a browser's `unsubscribe()` gave up. */
export const PushSubscriptionQuery = z.strictObject({ endpoint: z.string().min(1).max(2_048) });

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

const Reason = z.string().trim().min(1).max(500).refine(wellFormed, `reason ${WELL_FORMED}`).optional();
/** Support actions (scope customers:write); each becomes a validated Temporal Update on the journey. */
export const ExtendTrialBody = z.strictObject({ days: z.number().int().min(1).max(90), reason: Reason });
export const MarketingBody = z.strictObject({ reason: Reason });
/**
 * A support action's Idempotency-Key header: the client's name for one request, sent again unchanged when it
 * retries (after a 503 or a lost answer), so the action is taken once and the retry answers what it did.
 */
export const SupportHeaders = z.object({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, 'Idempotency-Key is 1-255 visible ASCII characters (a UUID is a good one)')
    .optional()
    .meta({
      description:
        'Your name for this request (1-255 visible ASCII characters; a new UUID per action). Send it again unchanged when you retry after a 503 or a lost answer: while the journey is in the same run, the action is taken once and the retry answers what it did. The same key with another body is another request.',
    }),
});
export const CorrectProfileBody = z
  .strictObject({ timezone: TimeZone.optional(), locale: Locale.optional(), reason: Reason })
  .refine((b) => b.timezone !== undefined || b.locale !== undefined, 'give the timezone or the locale to correct');

/** Topic or channel id -> on (true) or off (false), as the definition names them. */
const Switches = z.record(z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'an id is lower-case letters, digits and _, starting with a letter'), z.boolean()).refine(
  (r) => Object.keys(r).length <= 100,
  'at most 100 entries',
);
/** PUT /v1/customers/:userId/preferences: only what it names changes; the rest stays as it is. */
export const PreferencesBody = z
  .strictObject({
    marketing: z.boolean().optional().meta({ description: 'false: no marketing at all (transactional messages still go).' }),
    topics: Switches.optional().meta({ description: 'Per topic the journey definition declares (`topics`).', example: { offers: false } }),
    channels: Switches.optional().meta({ description: 'Per channel (email, webhook, …): marketing by that channel.', example: { email: true } }),
  })
  .refine((b) => b.marketing !== undefined || b.topics !== undefined || b.channels !== undefined, 'give marketing, topics or channels to change');

/** GET /v1/inbox: a page of the customer's in-app messages. */
export const InboxQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().regex(/^[A-Za-z0-9_-]{1,1000}$/, 'cursor is the nextCursor of an earlier page').optional(),
  dismissed: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional()
    .meta({ description: 'true: dismissed messages too (an archive view); by default they are left out.' }),
});

export const InboxMessageParams = z.strictObject({
  messageId: z.string().regex(/^[A-Za-z0-9_-]{1,400}$/, 'messageId is the id of a message of GET /v1/inbox').meta({ description: 'The `id` of a message of GET /v1/inbox.' }),
});

/** POST /v1/inbox/:messageId/(seen|clicked|dismissed): the body may be left out. */
export const InboxReportBody = z
  .strictObject({
    at: Timestamp.optional().meta({ description: 'When it happened on the device (an app reporting after being offline); now when left out. A time ahead of the server’s clock counts as now.' }),
  })
  .meta({ id: 'InboxReport' });
