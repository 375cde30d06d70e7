import { randomUUID } from 'node:crypto';
import express, { type Request, type RequestHandler, type Response } from 'express';
import { pinoHttp } from 'pino-http';
import type { Logger } from 'pino';
import type { PayloadCodec } from '@temporalio/common';
import type { z } from 'zod';
import type { Scope } from '../config/config.js';
import { runWithRequestContext, setRequestUserId } from '../logging/request-context.js';
import { createApiMetrics, type ApiMetrics } from '../metrics/api-metrics.js';
import { dashboardRoutes } from '../dashboard/dashboard-routes.js';
import type { SessionRevocations } from '../dashboard/revoked-sessions.js';
import { sessionSecret } from '../dashboard/signed-sessions.js';
import { KpiTimeseriesQuery, type KpiReport } from '../kpis/kpi-report.js';
import { apiReference } from './api-reference.js';
import { createAuthenticator, keyScopesById, requireScope } from '../http/auth.js';
import { codecRoutes } from './codec-routes.js';
import { definitionRoutes, type DefinitionRouteDeps } from './definition-routes.js';
import type { CustomerService } from './customer-service.js';
import { errorHandler, HttpError, invalid, viaMongo } from '../http/errors.js';
import { openApiDocument } from './openapi.js';
import { pageCursors } from './page-cursor.js';
import type { RateLimits } from './rate-limit.js';
import { SENDGRID_WEBHOOK_PATH, sendgridWebhookHandlers, type SendgridWebhookOptions } from './sendgrid-webhook.js';
import { CorrectProfileBody, CustomerListQuery, CustomerParams, ExtendTrialBody, MarketingBody, OutboxQuery, SupportHeaders } from './schemas.js';
import { SegmentIngest } from './segment-ingest.js';
import { segmentRoutes } from './segment-routes.js';
import type { IdentityStore } from '../ingest/identity-store.js';
import type { RejectedStore } from '../ingest/rejected-store.js';
import { anonymousWorkflowId } from '../temporal/contract.js';
import type { AnonymousHistories } from './anonymous-histories.js';
import { preferenceRoutes } from './preference-routes.js';
import { inboxRoutes, type InboxRouteDeps } from './inbox-routes.js';
import { twilioWebhookRoutes, type TwilioWebhookOptions } from './twilio-webhooks.js';
import { pushRoutes, type PushRouteDeps } from './push-routes.js';
import { preferencePageRoutes, type PreferencePageDeps } from '../preferences/preference-pages.js';

export interface AppDeps {
  customers: CustomerService;
  apiKeys: Map<string, Set<Scope>>;
  /** SESSION_SECRET: what browser sessions are signed with on every API instance (derived from apiKeys when left out). */
  sessionSecret?: string;
  /** Sign-outs every API instance honours (MongoDB); without them a copy of a signed-out cookie lives until it expires. */
  sessionRevocations?: SessionRevocations;
  logger: Logger;
  temporalUiUrl: string;
  namespace: string;
  /** Prometheus metrics (GET /metrics); a fresh registry when left out. */
  metrics?: ApiMetrics;
  /** The funnel, the rates over time and the dashboard; without it GET /v1/kpis answers the KPIs alone. */
  reports?: KpiReport;
  /** Requests per key and events per customer; no limits when left out. */
  rateLimits?: RateLimits;
  /**
   * The workers' payload codec for /codec/encode and /codec/decode (none: payloads pass unchanged), and the
   * browser origins allowed to call it (the origin of temporalUiUrl when left out).
   */
  codec?: { codec?: PayloadCodec; corsOrigins?: string[] };
  /** The journey definition's versions (/v1/definitions); 404 not_configured without them. */
  definitions?: DefinitionRouteDeps;
  /** SendGrid's Event Webhook: its verification key and where verified batches go; 404 not_configured without them. */
  sendgridWebhook?: SendgridWebhookOptions;
  /**
   * The customer's preferences: GET/PUT /v1/customers/:userId/preferences (404 not_configured without them),
   * the one-click unsubscribe (RFC 8058) and the hosted preference page the links in marketing emails open.
   */
  preferences?: PreferencePageDeps;
  /** The customers' in-app inboxes (/v1/inbox, read by their apps with inbox tokens); 404 not_configured without them. */
  inbox?: InboxRouteDeps;
  /** Twilio's status callbacks and inbound messages (the SMS channel); 404 not_configured without TWILIO_AUTH_TOKEN. */
  twilio?: TwilioWebhookOptions;
  /** Web push: the customers' subscriptions and the VAPID public key; 404 not_configured without them. */
  push?: PushRouteDeps;
  /** The Segment API's stores (MongoDB): identity links with a visitor's kept calls, and refused batch items. */
  segment?: { identities: IdentityStore; rejected: RejectedStore; anonymous: AnonymousHistories };
}

function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalid(result.error, what);
  return result.data;
}

export function createApp(deps: AppDeps): express.Express {
  const { customers, logger } = deps;
  const authenticate = createAuthenticator(deps.apiKeys);
  const cursors = pageCursors(deps.apiKeys.keys());
  const sessions = {
    secret: sessionSecret(deps.apiKeys.keys(), deps.sessionSecret),
    keyScopes: keyScopesById(deps.apiKeys),
    ...(deps.sessionRevocations ? { revocations: deps.sessionRevocations } : {}),
  };
  const limits = deps.rateLimits;
  // Every route behind a key also counts against the key's rate limit (a batch is one request).
  const scope = (s: Scope | Scope[]): RequestHandler => {
    const check = requireScope(authenticate, s);
    if (!limits) return check;
    return (req, res, next) => check(req, res, (err?: unknown) => (err ? next(err) : limits.keyLimit(req, res, next)));
  };
  /** Events per customer: refused with 429 before anything is written. */
  const customerEvent = (userId: string) => limits?.customerEvent(userId);
  const metrics = deps.metrics ?? createApiMetrics();
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use((req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && /^[\w.:-]{1,100}$/.test(incoming) ? incoming : randomUUID();
    res.setHeader('x-request-id', id);
    // Every line logged while this request is handled carries its id, customer and journey.
    runWithRequestContext(id, () => req.body, next);
  });
  app.use(metrics.middleware);
  app.param('userId', (_req, _res, next, userId: string) => {
    setRequestUserId(userId);
    next();
  });
  // A line per request at info; when the level is above info pino-http could log only 5xx answers, which
  // errorHandler logs already, and its per-request child logger would cost CPU for nothing (bench ingestion).
  if (logger.isLevelEnabled('info')) app.use(
    pinoHttp({
      logger,
      genReqId: (_req, res) => String(res.getHeader('x-request-id')),
      // Headers stay out of the logs both ways: keys come in, session cookies go out.
      serializers: {
        req: (req: { method: string; url: string; id: string }) => ({ method: req.method, url: req.url, id: req.id }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    }),
  );
  const json = (limit: string) => express.json({ limit, strict: true, type: ['application/json', 'application/*+json'] });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res, next) => {
    try {
      const ready = await customers.readiness();
      const ok = ready.temporal && ready.mongodb;
      if (!ok) res.setHeader('Retry-After', '5');
      res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'unavailable', ...ready });
    } catch (err) {
      next(err);
    }
  });

  app.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument());
  });
  app.use('/docs', apiReference());
  app.get('/metrics', scope('metrics:read'), async (_req, res) => {
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });

  app.use(
    segmentRoutes({
      ingest: new SegmentIngest({ customers, ...(deps.segment ? { identities: deps.segment.identities, anonymous: deps.segment.anonymous } : {}), customerEvent: (userId) => customerEvent(userId) }),
      ...(deps.segment?.rejected ? { rejected: deps.segment.rejected } : {}),
      scope,
      metrics,
    }),
  );

  // Authenticated by SendGrid's signature over the raw body, not by an API key (see sendgrid-webhook.ts).
  app.post(SENDGRID_WEBHOOK_PATH, ...sendgridWebhookHandlers(deps.sendgridWebhook ?? {}));
  // Authenticated by X-Twilio-Signature, not by an API key (see twilio-webhooks.ts).
  app.use(twilioWebhookRoutes(deps.twilio ?? { publicUrl: '' }));

  app.get('/v1/customers', scope('customers:read'), async (req, res) => {
    const query = parse(CustomerListQuery, req.query, 'query');
    const token = query.cursor === undefined ? undefined : cursors.open(query.cursor, query);
    if (query.cursor !== undefined && token === undefined) {
      throw new HttpError(400, 'invalid_request', 'the query is invalid', [
        { path: 'cursor', message: 'cursor is not the nextCursor of an earlier page of this query', code: 'custom' },
      ]);
    }
    const page = await customers.list({ ...query, ...(token ? { cursor: token } : {}) });
    res.json({ ...page, nextCursor: page.nextCursor === null ? null : cursors.seal(page.nextCursor, query) });
  });

  app.get('/v1/customers/:userId', scope('customers:read'), async (req: Request, res: Response) => {
    const { userId } = parse(CustomerParams, req.params, 'customer id');
    const customer = await customers.getCustomer(userId);
    if (!customer) throw new HttpError(404, 'not_found', `no customer ${userId}`);
    const query = encodeURIComponent(`WorkflowId="${`customer-${userId}`.replace(/"/g, '\\"')}"`);
    res.json({
      userId,
      ...customer,
      links: { temporalUi: `${deps.temporalUiUrl}/namespaces/${encodeURIComponent(deps.namespace)}/workflows?query=${query}` },
    });
  });

  // Right to erasure: the journey ended and deleted from Temporal, the customer's records from MongoDB
  // (with the visitor ids joined to them, their kept calls and refused items).
  app.delete('/v1/customers/:userId', scope('customers:write'), async (req: Request, res: Response) => {
    const { userId } = parse(CustomerParams, req.params, 'customer id');
    const erased = await customers.erase(userId);
    const segment = deps.segment;
    if (!segment) return res.json(erased);
    const anonymousIds = await viaMongo(() => segment.identities.anonymousIdsOf(userId));
    const anonymous = [];
    for (const anonymousId of anonymousIds) {
      const workflowId = anonymousWorkflowId(anonymousId);
      anonymous.push({ anonymousId, workflowId, ...(await customers.eraseWorkflow(workflowId)) });
    }
    const rejected = await viaMongo(() => segment.rejected.erase({ userId, anonymousIds }));
    const identityLinks = await viaMongo(() => segment.identities.erase(userId));
    res.json({ ...erased, anonymous, mongodb: { ...erased.mongodb, identityLinks, rejectedCalls: rejected } });
  });

  // Support actions: audited in the journey's timeline with the key that acted.
  const actor = (res: Response) => `api-key:${(res.locals.auth as { keyId: string }).keyId}`;
  const idempotencyKey = (req: Request) => parse(SupportHeaders, req.headers, 'Idempotency-Key header')['idempotency-key'];
  app.post('/v1/customers/:userId/extend-trial', scope('customers:write'), json('16kb'), async (req: Request, res: Response) => {
    const { userId } = parse(CustomerParams, req.params, 'customer id');
    const body = parse(ExtendTrialBody, req.body, 'request');
    res.json(await customers.support(userId, { action: 'extendTrial', days: body.days, actor: actor(res), ...(body.reason ? { reason: body.reason } : {}) }, idempotencyKey(req)));
  });
  for (const action of ['pauseMarketing', 'resumeMarketing'] as const) {
    const path = action === 'pauseMarketing' ? 'pause-marketing' : 'resume-marketing';
    app.post(`/v1/customers/:userId/${path}`, scope('customers:write'), json('16kb'), async (req: Request, res: Response) => {
      const { userId } = parse(CustomerParams, req.params, 'customer id');
      const body = parse(MarketingBody, req.body ?? {}, 'request');
      res.json(await customers.support(userId, { action, actor: actor(res), ...(body.reason ? { reason: body.reason } : {}) }, idempotencyKey(req)));
    });
  }
  app.patch('/v1/customers/:userId/profile', scope('customers:write'), json('16kb'), async (req: Request, res: Response) => {
    const { userId } = parse(CustomerParams, req.params, 'customer id');
    const body = parse(CorrectProfileBody, req.body, 'request');
    res.json(
      await customers.support(userId, {
        action: 'correctProfile',
        actor: actor(res),
        ...(body.timezone ? { timezone: body.timezone } : {}),
        ...(body.locale ? { locale: body.locale } : {}),
        ...(body.reason ? { reason: body.reason } : {}),
      }, idempotencyKey(req)),
    );
  });

  app.use(preferenceRoutes(deps.preferences?.preferences, scope));
  app.use(pushRoutes(deps.push, scope));
  // No key: the signed link is the credential (src/preferences/preference-links.ts).
  if (deps.preferences) app.use(preferencePageRoutes(deps.preferences));
  // The customer's app, with an inbox token its backend minted (src/inbox/inbox-tokens.ts).
  app.use(inboxRoutes(deps.inbox, scope, limits));

  app.use(
    codecRoutes({
      ...(deps.codec?.codec ? { codec: deps.codec.codec } : {}),
      authenticate,
      sessions,
      corsOrigins: deps.codec?.corsOrigins ?? [new URL(deps.temporalUiUrl).origin],
      ...(limits ? { keyLimit: limits.keyLimit } : {}),
    }),
  );

  app.get('/v1/outbox', scope('customers:read'), async (req, res) => {
    const query = parse(OutboxQuery, req.query, 'query');
    res.json({ messages: await customers.outbox(query) });
  });

  app.get('/v1/kpis', scope('customers:read'), async (_req, res) => {
    const kpis = deps.reports ? await deps.reports.kpis() : await customers.kpis();
    res.json({ generatedAt: new Date().toISOString(), ...kpis });
  });
  const reports = deps.reports;
  if (reports) {
    app.get('/v1/kpis/timeseries', scope('customers:read'), async (req, res) => {
      const query = parse(KpiTimeseriesQuery, req.query, 'query');
      res.json({ generatedAt: new Date().toISOString(), ...(await reports.timeseries(query)) });
    });
    app.use(
      dashboardRoutes({
        authenticate,
        sessions,
        reports,
        temporalUiUrl: deps.temporalUiUrl,
        namespace: deps.namespace,
        ...(deps.definitions ? { journeyMap: { store: deps.definitions.store, models: deps.definitions.models } } : {}),
        ...(deps.segment ? { rejected: deps.segment.rejected } : {}),
      }),
    );
  }

  app.use(definitionRoutes(deps.definitions, scope));

  methodNotAllowed(app);
  app.use((req, _res, next) => next(new HttpError(404, 'not_found', `no route ${req.method} ${req.path}`)));
  app.use(errorHandler(logger));
  return app;
}

/**
 * A path the app routes, asked with a method it does not have: 405 with `Allow` (RFC 9110), and OPTIONS
 * answers the methods. Registered after every route, so it sees them all and shadows none.
 */
function methodNotAllowed(app: express.Express): void {
  interface RouteLayer {
    route?: { path: unknown; methods: Record<string, boolean> };
    /** A router mounted at the root (app.use(router)): its routes are the app's. */
    slash?: boolean;
    handle?: { stack?: RouteLayer[] };
    match(path: string): boolean;
  }
  const routesOf = (stack: RouteLayer[]): RouteLayer[] => stack.flatMap((l) => (l.route ? [l] : l.slash && l.handle?.stack ? routesOf(l.handle.stack) : []));
  const layers = routesOf((app as unknown as { router: { stack: RouteLayer[] } }).router.stack);
  const byPath = new Map<string, { layer: RouteLayer; methods: Set<string> }>();
  for (const layer of layers) {
    if (!layer.route || typeof layer.route.path !== 'string') continue;
    const entry = byPath.get(layer.route.path) ?? { layer, methods: new Set<string>() };
    for (const method of Object.keys(layer.route.methods)) if (method !== '_all') entry.methods.add(method.toUpperCase());
    byPath.set(layer.route.path, entry);
  }
  const table = [...byPath.values()].map(({ layer, methods }) => ({
    layer,
    allow: [...methods, ...(methods.has('GET') ? ['HEAD'] : []), 'OPTIONS'].sort().join(', '),
  }));
  const matches = (layer: RouteLayer, path: string) => {
    try {
      return layer.match(path);
    } catch {
      return false; // a bad percent-encoding in a parameter: not this route
    }
  };
  app.use((req, res, next) => {
    const known = table.find(({ layer }) => matches(layer, req.path));
    if (!known) return next();
    res.setHeader('Allow', known.allow);
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    next(new HttpError(405, 'method_not_allowed', `${req.method} is not allowed here; allowed: ${known.allow}`));
  });
}
