import { createHash } from 'node:crypto';
import { z } from 'zod';
import { zodIssues } from '../http/errors.js';
import { boundedObject, KnownTraits, MessageId, NO_CONTROL, Timestamp, UserId, WELL_FORMED, wellFormed } from './schemas.js';

/**
 * The Segment HTTP tracking spec, as any client that speaks it sends it (Segment's and RudderStack's SDKs,
 * Segment's Webhooks destination, raw HTTP): every call type, every common field. A top-level field the
 * spec does not define is left out of the journey and reported as a warning, never a failure, so a typo is
 * visible and nothing is dropped. A call without messageId gets one derived from its content, so a client's
 * retry is applied once; `sentAt` corrects `timestamp` for the client's clock skew as Segment does.
 */

export const CALL_TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;
export type CallType = (typeof CALL_TYPES)[number];

/** The Segment HTTP API's limits: 32 KB a call, 500 KB a batch (after Content-Encoding is decoded). */
export const MAX_CALL_BYTES = 32 * 1024;
export const MAX_BATCH_BYTES = 500 * 1024;
export const MAX_BATCH_ITEMS = 500;

const Text = (what: string, max = 200) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? `${what} is required` : `${what} must be a string`) })
    .trim()
    .min(1, `${what} is required`)
    .max(max)
    .regex(NO_CONTROL, `${what} must not contain control characters`)
    .refine(wellFormed, `${what} ${WELL_FORMED}`);

const AnonymousId = Text('anonymousId').meta({ description: 'The id of a visitor not yet identified; joined to the customer by identify or alias.' });
const Loose = z.record(z.string(), z.unknown());

/** Fields every call may carry (the spec's common fields). */
const COMMON = {
  type: z.string().optional(),
  userId: UserId.optional(),
  anonymousId: AnonymousId.optional(),
  messageId: MessageId.optional().meta({ description: 'Applied once per customer; when missing, derived from the call’s content (a retry gets the same id).' }),
  timestamp: Timestamp.optional(),
  originalTimestamp: Timestamp.optional(),
  sentAt: Timestamp.optional().meta({ description: 'When the client sent the call; timestamp is corrected by receivedAt - sentAt (clock skew).' }),
  receivedAt: z.string().max(64).optional().meta({ description: 'Set by the receiver; a value sent is ignored.' }),
  context: Loose.optional(),
  integrations: Loose.optional(),
  _metadata: Loose.optional(),
  channel: z.string().max(64).optional(),
  version: z.union([z.string().max(64), z.number()]).optional(),
  writeKey: z.string().max(500).optional(),
};

const Properties = () => boundedObject('properties', { maxBytes: 16_384, nestedArrays: true }).optional();
const GroupTraits = () => boundedObject('traits', { maxBytes: 16_384, nestedArrays: false }).optional();

export const TrackBody = z.object({ ...COMMON, event: Text('event'), properties: Properties() }).meta({ id: 'TrackCall' });
export const PageBody = z
  .object({ ...COMMON, name: Text('name').optional(), category: Text('category').optional(), properties: Properties() })
  .meta({ id: 'PageCall' });
export const ScreenBody = PageBody.meta({ id: 'ScreenCall' });
export const IdentifyTraits = boundedObject('traits', { maxBytes: 32_768, nestedArrays: false }).pipe(KnownTraits.passthrough());
export const IdentifyBody = z
  .object({ ...COMMON, traits: IdentifyTraits.optional() })
  .meta({ id: 'IdentifyCall' });
export const GroupBody = z.object({ ...COMMON, groupId: Text('groupId'), traits: GroupTraits() }).meta({ id: 'GroupCall' });
export const AliasBody = z.object({ ...COMMON, userId: UserId, previousId: Text('previousId') }).meta({ id: 'AliasCall' });

export const CALL_SCHEMAS = { track: TrackBody, page: PageBody, screen: ScreenBody, identify: IdentifyBody, group: GroupBody, alias: AliasBody } as const;

/** The batch envelope; each item is validated on its own, so one bad item does not refuse the rest. */
export const BatchBody = z.object({
  batch: z.array(z.unknown()).min(1, 'batch is empty').max(MAX_BATCH_ITEMS, `at most ${MAX_BATCH_ITEMS} items per batch`),
  sentAt: Timestamp.optional(),
  timestamp: z.string().max(64).optional(),
  context: Loose.optional(),
  integrations: Loose.optional(),
  _metadata: Loose.optional(),
  writeKey: z.string().max(500).optional(),
});
const BATCH_FIELDS = new Set(Object.keys(BatchBody.shape));

/** A batch item, for the OpenAPI document: one of the calls with its `type`. */
export const BatchItem = z.discriminatedUnion('type', CALL_TYPES.map((t) => CALL_SCHEMAS[t].extend({ type: z.literal(t) })) as never);

/** Who a call is about: a customer, a visitor not yet identified, or both. */
export interface Identity {
  userId?: string;
  anonymousId?: string;
}
interface Common extends Identity {
  messageId: string;
  /** When it happened, corrected for the client's clock skew; absent: when it is applied. */
  timestamp?: string;
}
export type SegmentCall =
  | (Common & { type: 'track' | 'page' | 'screen'; event: string; properties?: Record<string, unknown> })
  | (Common & { type: 'identify'; traits: Record<string, unknown> })
  | (Common & { type: 'group'; groupId: string; traits: Record<string, unknown> })
  | (Common & { type: 'alias'; userId: string; previousId: string });

export interface Issue {
  path: string;
  message: string;
  code: string;
}
export type Normalized =
  | { ok: true; call: SegmentCall; warnings: string[] }
  | { ok: false; type: CallType | 'unknown'; issues: Issue[]; warnings: string[]; identity: Identity; messageId?: string };

export interface Receipt {
  receivedAt: Date;
  /** The batch's own sentAt (Segment's SDKs set it on the batch, RudderStack's on both). */
  sentAt?: string;
}

/** Calls nest no deeper than this (properties and traits allow 8 levels below the call). */
export const MAX_CALL_DEPTH = 16;

/** Whether a parsed JSON value nests deeper than `max`; iterative, so a 30,000-level body cannot overflow the stack. */
export function nestsDeeper(value: unknown, max: number): boolean {
  const stack: Array<{ v: unknown; d: number }> = [{ v: value, d: 0 }];
  while (stack.length > 0) {
    const { v, d } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d >= max) return true;
    for (const inner of Object.values(v as object)) stack.push({ v: inner, d: d + 1 });
  }
  return false;
}

/** A copy cut below `max` levels (what is cut is replaced by a note): safe to serialise, hash and keep. */
export function cutDeeperThan(value: unknown, max: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (max <= 0) return '(nested deeper: cut)';
  if (Array.isArray(value)) return value.map((v) => cutDeeperThan(v, max - 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cutDeeperThan(v, max - 1)]));
}

/** Keys sorted at every level: the same content gives the same text whatever order the client wrote. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.keys(value as object)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/** Fields a client sets anew on each attempt (or that are the receiver's): left out of a derived id. */
const PER_ATTEMPT = new Set(['sentAt', 'receivedAt', 'writeKey', '_metadata', 'messageId']);

/** A messageId from the call's content: a retry of the same call gets the same one. */
export function derivedMessageId(type: string, raw: Record<string, unknown>): string {
  const content = cutDeeperThan(Object.fromEntries(Object.entries(raw).filter(([k]) => !PER_ATTEMPT.has(k))), MAX_CALL_DEPTH + 1);
  return `auto-${createHash('sha256').update(`${type}\n${canonical(content)}`).digest('base64url').slice(0, 32)}`;
}

/** Segment's skew correction: timestamp + (receivedAt - sentAt). */
function corrected(timestamp: string | undefined, sentAt: string | undefined, receivedAt: Date): string | undefined {
  if (timestamp === undefined) return undefined;
  const at = Date.parse(timestamp);
  const sent = sentAt === undefined ? NaN : Date.parse(sentAt);
  if (!Number.isFinite(sent)) return new Date(at).toISOString();
  return new Date(at + (receivedAt.getTime() - sent)).toISOString();
}

const str = (v: unknown) => (typeof v === 'string' && v.trim().length > 0 ? v.trim() : undefined);
/** What a caller sent, named in an error: scalars shown (cut at 40 characters), objects and arrays by kind only (never serialized: they may nest thousands deep). */
const shown = (v: unknown): string => (Array.isArray(v) ? 'an array' : typeof v === 'object' && v !== null ? 'an object' : String(JSON.stringify(v)).slice(0, 40));

/**
 * One call, as the route (`/v1/<type>`) or the batch item's `type` says it is. Unknown top-level fields
 * become warnings; what is left is validated; messageId and timestamp are filled in.
 */
export function normalizeCall(raw: unknown, routeType: CallType | undefined, receipt: Receipt): Normalized {
  const warnings: string[] = [];
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, type: routeType ?? 'unknown', issues: [{ path: '', message: 'a call is a JSON object', code: 'invalid_type' }], warnings, identity: {} };
  }
  const body = raw as Record<string, unknown>;
  const identity: Identity = { ...(str(body.userId) ? { userId: str(body.userId)! } : {}), ...(str(body.anonymousId) ? { anonymousId: str(body.anonymousId)! } : {}) };
  const said = body.type;
  const type = routeType ?? (CALL_TYPES as readonly unknown[]).find((t) => t === said) as CallType | undefined;
  if (!type) {
    const message = `type must be one of ${CALL_TYPES.join(', ')}${said === undefined ? '' : ` (got ${shown(said)})`}`;
    return { ok: false, type: 'unknown', issues: [{ path: 'type', message, code: 'invalid_value' }], warnings, identity };
  }
  const messageId = str(body.messageId) ?? derivedMessageId(type, body);
  const refuse = (issues: Issue[]): Normalized => ({ ok: false, type, issues, warnings, identity, messageId });
  if (nestsDeeper(body, MAX_CALL_DEPTH)) return refuse([{ path: '', message: `the call nests deeper than ${MAX_CALL_DEPTH} levels`, code: 'too_big' }]);
  if (routeType && said !== undefined && said !== routeType) {
    return refuse([{ path: 'type', message: `this is /v1/${routeType}; type says ${shown(said)}`, code: 'invalid_value' }]);
  }
  const bytes = Buffer.byteLength(JSON.stringify(body));
  if (bytes > MAX_CALL_BYTES) return refuse([{ path: '', message: `the call is ${bytes} bytes; at most ${MAX_CALL_BYTES} (32 KB)`, code: 'too_big' }]);

  const schema = CALL_SCHEMAS[type];
  const known = new Set(Object.keys(schema.shape));
  for (const key of Object.keys(body)) {
    if (!known.has(key)) warnings.push(`unknown field "${key.slice(0, 100)}" ignored: the Segment spec does not define it for ${type}`);
  }
  const parsed = schema.safeParse(body);
  const issues = parsed.success ? [] : zodIssues(parsed.error);
  if (type !== 'alias' && !identity.userId && !identity.anonymousId) {
    issues.push({ path: 'userId', message: 'userId or anonymousId is required', code: 'custom' });
  }
  if (!parsed.success || issues.length > 0) return refuse(issues);
  const data = parsed.data as z.infer<typeof TrackBody> & z.infer<typeof PageBody> & z.infer<typeof GroupBody> & { previousId?: string; traits?: Record<string, unknown> };
  if (data.receivedAt !== undefined) warnings.push('receivedAt is set by the receiver; the value sent is ignored');

  const timestamp = corrected(data.timestamp ?? data.originalTimestamp, data.sentAt ?? receipt.sentAt, receipt.receivedAt);
  const common: Common = {
    ...(data.userId ? { userId: data.userId } : {}),
    ...(data.anonymousId ? { anonymousId: data.anonymousId } : {}),
    messageId,
    ...(timestamp ? { timestamp } : {}),
  };
  switch (type) {
    case 'track':
      return { ok: true, warnings, call: { ...common, type, event: data.event, ...(data.properties ? { properties: data.properties } : {}) } };
    case 'page':
    case 'screen': {
      // A page or screen view is an event named by its name; name and category are also among its properties.
      const properties = { ...(data.name ? { name: data.name } : {}), ...(data.category ? { category: data.category } : {}), ...data.properties };
      return { ok: true, warnings, call: { ...common, type, event: data.name ?? '', properties } };
    }
    case 'identify':
      return { ok: true, warnings, call: { ...common, type, traits: data.traits ?? {} } };
    case 'group':
      return { ok: true, warnings, call: { ...common, type, groupId: data.groupId, traits: data.traits ?? {} } };
    case 'alias':
      return { ok: true, warnings, call: { ...common, type, userId: data.userId!, previousId: data.previousId! } };
  }
}

/** Fields of a batch's envelope the spec does not define: warnings, like an item's. */
export function batchEnvelopeWarnings(raw: unknown): string[] {
  if (raw === null || typeof raw !== 'object') return [];
  return Object.keys(raw).filter((k) => !BATCH_FIELDS.has(k)).map((k) => `unknown field "${k.slice(0, 100)}" of the batch ignored`);
}
