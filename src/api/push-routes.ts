import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { Scope } from '../config/config.js';
import { HttpError, invalid } from '../http/errors.js';
import { pushEndpointProblem, type PushServiceList } from '../push/push-services.js';
import { PushSubscriptionBody, pushSubscriptionId, viewOf, type PushSubscriptions } from '../push/push-subscriptions.js';
import { CustomerParams, PushSubscriptionParams, PushSubscriptionQuery } from './schemas.js';

export interface PushRouteDeps {
  subscriptions: PushSubscriptions;
  /** WEB_PUSH_SERVICES: the push services an endpoint may point at. */
  services: PushServiceList;
  /** VAPID_PUBLIC_KEY, for apps to subscribe with; GET /v1/push/vapid-public-key answers 404 without it. */
  vapidPublicKey?: string;
}

/**
 * The customers' web push subscriptions (register, list, remove) for backends, and the VAPID public key
 * for apps. 404 not_configured when the API was built without them.
 */
export function pushRoutes(deps: PushRouteDeps | undefined, scope: (s: Scope) => RequestHandler): Router {
  const router = express.Router();
  const need = (): PushRouteDeps => {
    if (!deps) throw new HttpError(404, 'not_configured', 'this API keeps no push subscriptions');
    return deps;
  };
  const userIdOf = (req: Request) => {
    const params = CustomerParams.safeParse(req.params);
    if (!params.success) throw invalid(params.error, 'customer id');
    return params.data.userId;
  };

  // Public, like the key itself: a browser app asks for it before it subscribes.
  router.get('/v1/push/vapid-public-key', (_req: Request, res: Response) => {
    const key = need().vapidPublicKey;
    if (!key) throw new HttpError(404, 'not_configured', 'web push is not configured (VAPID_PUBLIC_KEY)');
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.json({ publicKey: key });
  });

  router.post(
    '/v1/customers/:userId/push-subscriptions',
    scope('customers:write'),
    express.json({ limit: '16kb', strict: true, type: ['application/json', 'application/*+json'] }),
    async (req: Request, res: Response) => {
      const userId = userIdOf(req);
      const parsed = PushSubscriptionBody.safeParse(req.body);
      if (!parsed.success) throw invalid(parsed.error, 'request');
      const { subscriptions, services } = need();
      const problem = pushEndpointProblem(parsed.data.endpoint, services);
      if (problem) throw new HttpError(400, 'invalid_request', 'the request is invalid', [{ path: 'endpoint', message: problem, code: 'custom' }]);
      const { created, subscription } = await subscriptions.register(userId, parsed.data);
      res.status(created ? 201 : 200).json(subscription);
    },
  );

  router.get('/v1/customers/:userId/push-subscriptions', scope('customers:read'), async (req: Request, res: Response) => {
    const userId = userIdOf(req);
    res.json({ userId, subscriptions: (await need().subscriptions.list(userId)).map(viewOf) });
  });

  router.delete('/v1/customers/:userId/push-subscriptions', scope('customers:write'), async (req: Request, res: Response) => {
    const userId = userIdOf(req);
    const query = PushSubscriptionQuery.safeParse(req.query);
    if (!query.success) throw invalid(query.error, 'query');
    if (!(await need().subscriptions.remove(userId, pushSubscriptionId(query.data.endpoint)))) throw new HttpError(404, 'not_found', `${userId} has no push subscription with that endpoint`);
    res.status(204).end();
  });

  router.delete('/v1/customers/:userId/push-subscriptions/:subscriptionId', scope('customers:write'), async (req: Request, res: Response) => {
    const params = PushSubscriptionParams.safeParse(req.params);
    if (!params.success) throw invalid(params.error, 'path');
    const { userId, subscriptionId } = params.data;
    if (!(await need().subscriptions.remove(userId, subscriptionId))) throw new HttpError(404, 'not_found', `${userId} has no push subscription ${subscriptionId}`);
    res.status(204).end();
  });
  return router;
}
