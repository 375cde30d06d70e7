import express, { type RequestHandler, type Response } from 'express';
import { Counter, type Registry } from 'prom-client';
import { z } from 'zod';
import type { Scope } from '../config/config.js';
import type { RejectedStore } from '../ingest/rejected-store.js';
import type { ApiMetrics } from '../metrics/api-metrics.js';
import { applyBatch, type Refusal } from './batch.js';
import { HttpError, invalid, UpstreamUnavailable, viaMongo } from '../http/errors.js';
import type { SegmentIngest } from './segment-ingest.js';
import {
  batchEnvelopeWarnings,
  BatchBody,
  CALL_SCHEMAS,
  CALL_TYPES,
  cutDeeperThan,
  derivedMessageId,
  MAX_BATCH_BYTES,
  MAX_CALL_BYTES,
  MAX_CALL_DEPTH,
  nestsDeeper,
  normalizeCall,
  type CallType,
  type Issue,
} from './segment-spec.js';

export interface SegmentRoutesDeps {
  ingest: SegmentIngest;
  /** Without one (unit tests), refused items are only answered, not kept, and /v1/rejected answers 503. */
  rejected?: RejectedStore;
  scope: (s: Scope | Scope[]) => RequestHandler;
  metrics: ApiMetrics;
}

export const RejectedQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/, 'cursor is the nextCursor of an earlier page').optional(),
  reason: z.string().min(1).max(120).optional(),
  userId: z.string().min(1).max(200).optional(),
  anonymousId: z.string().min(1).max(200).optional(),
});
export const RejectedParams = z.strictObject({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'id is the id of a rejected item') });

/** Every field a call may name: a reason names one of these, or `call` (a bounded metric label). */
const FIELDS = new Set(CALL_TYPES.flatMap((t) => Object.keys(CALL_SCHEMAS[t].shape)));

/** `<field>:<problem>` of the first issue: short, bounded, and the same for the same mistake. */
export function rejectionReason(issues: Issue[]): string {
  const first = issues[0];
  if (!first) return 'call:refused';
  const field = first.path.split('.')[0] ?? '';
  return `${FIELDS.has(field) ? field : 'call'}:${first.code.replace(/[^a-z_]/g, '').slice(0, 40) || 'invalid'}`;
}

const cursorOf = (next: { at: Date; id: string }) => Buffer.from(`${next.at.toISOString()}|${next.id}`).toString('base64url');
function openCursor(cursor: string): { at: Date; id: string } | undefined {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const when = new Date(at ?? '');
  return id && Number.isFinite(when.getTime()) ? { at: when, id } : undefined;
}

/**
 * The Segment HTTP API (`/v1/<type>`, `/v1/batch`, `/v1/import`) and the rejected store's routes. Bodies
 * are read whatever their Content-Type (RudderStack's SDK sends none with its gzip body), decoded from
 * gzip or deflate, and limited after decoding: 32 KB a call, 500 KB a batch.
 */
export function segmentRoutes(deps: SegmentRoutesDeps): express.Router {
  const { ingest, rejected, scope, metrics } = deps;
  const router = express.Router();
  const registry: Registry = metrics.registry;
  const refusedCounter = new Counter({
    name: 'lifecycle_rejected_calls_total',
    help: 'Batch items refused and kept in the rejected store (GET /v1/rejected), by reason (<field>:<problem>).',
    labelNames: ['reason'],
    registers: [registry],
  });
  const unknownFields = new Counter({
    name: 'lifecycle_unknown_fields_total',
    help: 'Top-level fields the Segment spec does not define, left out of the journey (a warning in the answer), by call type.',
    labelNames: ['type'],
    registers: [registry],
  });
  const replayed = new Counter({ name: 'lifecycle_rejected_replays_total', help: 'Replays of rejected items, by outcome (applied, refused).', labelNames: ['outcome'], registers: [registry] });
  const countWarnings = (type: string, warnings: string[]) => {
    const unknown = warnings.filter((w) => w.startsWith('unknown field')).length;
    if (unknown > 0) unknownFields.inc({ type }, unknown);
  };
  const body = (limit: number) => express.json({ limit, strict: true, inflate: true, type: () => true });
  const keyOf = (res: Response) => (res.locals.auth as { keyId: string }).keyId;

  for (const type of CALL_TYPES) {
    router.post(`/v1/${type}`, scope('events:write'), body(MAX_CALL_BYTES), async (req, res) => {
      const normalized = normalizeCall(req.body, type, { receivedAt: new Date() });
      countWarnings(type, normalized.warnings);
      if (!normalized.ok) throw new HttpError(400, 'invalid_request', `the ${type} call is invalid`, normalized.issues);
      const applied = await ingest.apply(normalized.call);
      const event = type === 'track' || type === 'page' || type === 'screen';
      res.status(event ? 202 : 200).json({ status: 'accepted', ...applied, ...(normalized.warnings.length ? { warnings: normalized.warnings } : {}) });
    });
  }

  const store = (): RejectedStore => {
    if (!rejected) throw new UpstreamUnavailable('mongodb', new Error('no rejected store in this process'));
    return rejected;
  };
  const refused = (route: string, keyId: string) => async (refusal: Refusal) => {
    const reason = rejectionReason(refusal.issues);
    if (!rejected) {
      refusedCounter.inc({ reason });
      return undefined;
    }
    const fingerprint = refusal.messageId ?? derivedMessageId(refusal.type, (refusal.raw ?? {}) as Record<string, unknown>);
    const id = await viaMongo(() =>
      rejected.record({
        keyId,
        route,
        type: refusal.type,
        reason,
        issues: refusal.issues,
        ...(refusal.identity.userId ? { userId: refusal.identity.userId } : {}),
        ...(refusal.identity.anonymousId ? { anonymousId: refusal.identity.anonymousId } : {}),
        ...(refusal.messageId ? { messageId: refusal.messageId } : {}),
        // A body too deep to serialise is kept cut (the issue says so); any other as it came.
        body: nestsDeeper(refusal.raw, MAX_CALL_DEPTH) ? cutDeeperThan(refusal.raw, MAX_CALL_DEPTH) : (refusal.raw ?? null),
        fingerprint: `${route}\n${fingerprint}`,
      }),
    );
    refusedCounter.inc({ reason });
    return id;
  };

  // Segment's /v1/import is its batch under another name (for historical data).
  for (const path of ['/v1/batch', '/v1/import']) {
    router.post(path, scope('events:write'), body(MAX_BATCH_BYTES), async (req, res) => {
      const parsed = BatchBody.safeParse(req.body);
      if (!parsed.success) throw invalid(parsed.error, 'batch');
      const envelopeWarnings = batchEnvelopeWarnings(req.body);
      countWarnings('batch', envelopeWarnings);
      const receipt = { receivedAt: new Date(), ...(parsed.data.sentAt ? { sentAt: parsed.data.sentAt } : {}) };
      const results = await applyBatch(parsed.data.batch, receipt, { apply: (call) => ingest.apply(call), refused: refused(path, keyOf(res)) });
      for (const r of results) if ((r.status === 'accepted' || r.status === 'rejected') && r.warnings) countWarnings(r.status === 'accepted' ? r.type : 'unknown', r.warnings);
      metrics.countBatch(res, parsed.data.batch, results);
      const count = (s: string) => results.filter((r) => r.status === s).length;
      const unavailable = count('unavailable');
      const rateLimited = count('rate_limited');
      const retryAfter = Math.max(unavailable > 0 ? 5 : 0, ...results.map((r) => (r.status === 'rate_limited' ? r.retryAfterSeconds : 0)));
      if (retryAfter > 0) res.setHeader('Retry-After', String(retryAfter));
      // A client counts a 2xx as delivered: while any item is unapplied the whole batch is retried (the
      // items applied already are dropped by messageId, refused ones are kept once).
      res.status(unavailable > 0 ? 503 : rateLimited > 0 ? 429 : 200).json({
        accepted: count('accepted'),
        rejected: count('rejected'),
        unavailable,
        rateLimited,
        ...(envelopeWarnings.length ? { warnings: envelopeWarnings } : {}),
        results,
      });
    });
  }

  router.get('/v1/rejected', scope(['events:read', 'events:write']), async (req, res) => {
    const query = RejectedQuery.safeParse(req.query);
    if (!query.success) throw invalid(query.error, 'query');
    const before = query.data.cursor === undefined ? undefined : openCursor(query.data.cursor);
    if (query.data.cursor !== undefined && !before) {
      throw new HttpError(400, 'invalid_request', 'the query is invalid', [{ path: 'cursor', message: 'cursor is not the nextCursor of an earlier page', code: 'custom' }]);
    }
    const { cursor: _c, ...filters } = query.data;
    const page = await viaMongo(() => store().list({ ...filters, ...(before ? { before } : {}) }));
    res.json({ items: page.items, nextCursor: page.next ? cursorOf(page.next) : null });
  });

  router.post('/v1/rejected/:id/replay', scope('events:write'), async (req, res) => {
    const params = RejectedParams.safeParse(req.params);
    if (!params.success) throw invalid(params.error, 'rejected item id');
    const { id } = params.data;
    const item = await viaMongo(() => store().get(id));
    if (!item) throw new HttpError(404, 'not_found', `no rejected item ${id} (replayed items stay listed until retention ends; erased or expired ones are gone)`);
    if (item.replayedAt) throw new HttpError(409, 'already_replayed', `item ${id} was replayed at ${item.replayedAt}`);
    if (!(await viaMongo(() => store().claim(id, `api-key:${keyOf(res)}`)))) throw new HttpError(409, 'already_replayed', `item ${id} is replayed already`);
    const release = () => viaMongo(() => store().release(id)).catch(() => undefined);
    const routeType = item.route.startsWith('/v1/') && (CALL_TYPES as readonly string[]).includes(item.route.slice(4)) ? (item.route.slice(4) as CallType) : undefined;
    const normalized = normalizeCall(item.body, routeType, { receivedAt: new Date() });
    if (!normalized.ok) {
      await release();
      replayed.inc({ outcome: 'refused' });
      throw new HttpError(422, 'refused', `item ${id} is still refused; it stays in the store`, normalized.issues);
    }
    try {
      const applied = await ingest.apply(normalized.call);
      replayed.inc({ outcome: 'applied' });
      res.json({ id, status: 'replayed', result: { status: 'accepted', ...applied } });
    } catch (err) {
      await release();
      if (err instanceof HttpError && !(err instanceof UpstreamUnavailable)) {
        replayed.inc({ outcome: 'refused' });
        throw new HttpError(422, 'refused', `item ${id} is still refused: ${err.message}`);
      }
      throw err;
    }
  });

  return router;
}
