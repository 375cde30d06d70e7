import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import type { Scope } from '../config/config.js';
import { INBOX_ACTIONS } from '../core/inbox-states.js';
import { HttpError, invalid } from '../http/errors.js';
import { InvalidCursor, type Inbox } from '../inbox/inbox-store.js';
import type { InboxTokens } from '../inbox/inbox-tokens.js';
import { RateLimited, type RateLimits } from './rate-limit.js';
import { CustomerParams, InboxMessageParams, InboxQuery, InboxReportBody } from './schemas.js';

export interface InboxRouteDeps {
  inbox: Inbox;
  tokens: InboxTokens;
  /** Browser origins of the customer's web app (INBOX_CORS_ORIGINS); native apps send no Origin. */
  corsOrigins: string[];
}

export const INBOX_PATH = '/v1/inbox';
export const INBOX_CHALLENGE = 'Bearer realm="inbox"';

/**
 * The customer's in-app inbox, for their app: GET /v1/inbox and POST /v1/inbox/:messageId/(seen|clicked|dismissed),
 * authenticated by an inbox token (never an API key: a key does not belong on a device), and the route a
 * backend mints that token with (POST /v1/customers/:userId/inbox-token, an API key with customers:write).
 * CORS answers only INBOX_CORS_ORIGINS, on these routes only. 404 not_configured without them.
 */
export function inboxRoutes(deps: InboxRouteDeps | undefined, scope: (s: Scope) => RequestHandler, limits: RateLimits | undefined): Router {
  const router = express.Router();
  const need = (): InboxRouteDeps => {
    if (!deps) throw new HttpError(404, 'not_configured', 'this API keeps no in-app inbox');
    return deps;
  };
  const origins = new Set(deps?.corsOrigins ?? []);

  router.post('/v1/customers/:userId/inbox-token', scope('customers:write'), (req: Request, res: Response) => {
    const params = CustomerParams.safeParse(req.params);
    if (!params.success) throw invalid(params.error, 'customer id');
    const minted = need().tokens.mint(params.data.userId);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ token: minted.token, expiresAt: minted.expiresAt.toISOString() });
  });

  router.use(INBOX_PATH, (req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    const allowed = origin !== undefined && origins.has(origin);
    res.setHeader('Vary', 'Origin');
    // The token travels in a header, never a cookie: no credentials mode, so no browser sends anything on its own.
    if (allowed) res.setHeader('Access-Control-Allow-Origin', origin);
    if (req.method === 'OPTIONS') {
      if (!allowed) return next(new HttpError(403, 'forbidden', `origin ${origin ?? '(none)'} may not call the inbox; see INBOX_CORS_ORIGINS`));
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST');
      res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type');
      res.setHeader('Access-Control-Max-Age', '600');
      return res.status(204).end();
    }
    next();
  });

  /** The customer the bearer's inbox token names; 401 for anything else (an API key included). */
  const customer: RequestHandler = (req, res, next) => {
    const { tokens } = need();
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    const userId = tokens.customerOf(bearer);
    if (userId === undefined) {
      res.setHeader('WWW-Authenticate', INBOX_CHALLENGE);
      return next(new HttpError(401, 'unauthenticated', 'send an inbox token (Authorization: Bearer <token>), minted by your backend with POST /v1/customers/{userId}/inbox-token; it may have expired'));
    }
    res.locals.inboxUser = userId;
    // Each customer's app counts as a key of its own against RATE_LIMIT_PER_KEY.
    const taken = limits?.perKey.take(`inbox:${userId}`);
    if (taken && !taken.allowed) return next(new RateLimited(taken.retryAfterSeconds, `this customer's inbox is over its requests per second; retry after ${taken.retryAfterSeconds} s`));
    next();
  };
  const userOf = (res: Response) => res.locals.inboxUser as string;

  router.get(INBOX_PATH, customer, async (req: Request, res: Response) => {
    const query = InboxQuery.safeParse(req.query);
    if (!query.success) throw invalid(query.error, 'query');
    try {
      res.setHeader('Cache-Control', 'no-store');
      res.json(await need().inbox.list(userOf(res), query.data));
    } catch (err) {
      if (!(err instanceof InvalidCursor)) throw err;
      throw new HttpError(400, 'invalid_request', 'the query is invalid', [{ path: 'cursor', message: err.message, code: 'custom' }]);
    }
  });

  const json = express.json({ limit: '4kb', strict: true, type: ['application/json', 'application/*+json'] });
  for (const action of INBOX_ACTIONS) {
    router.post(`${INBOX_PATH}/:messageId/${action}`, customer, json, async (req: Request, res: Response) => {
      const params = InboxMessageParams.safeParse(req.params);
      if (!params.success) throw invalid(params.error, 'message id');
      const body = InboxReportBody.safeParse(req.body ?? {});
      if (!body.success) throw invalid(body.error, 'request');
      const now = Date.now();
      const at = body.data.at === undefined ? now : new Date(body.data.at).getTime();
      const message = await need().inbox.report(userOf(res), params.data.messageId, action, at, now);
      if (!message) throw new HttpError(404, 'not_found', 'no such message in this inbox (or it expired)');
      res.json(message);
    });
  }
  return router;
}
