import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { Scope } from '../config/config.js';
import { HttpError, invalid } from '../http/errors.js';
import type { PreferenceService, PreferenceView } from '../preferences/preference-service.js';
import { CustomerParams, PreferencesBody } from './schemas.js';

const shown = ({ locale: _locale, ...view }: PreferenceView) => view;

/**
 * GET / PUT /v1/customers/:userId/preferences for backends (the customer's own page is
 * src/preferences/preference-pages.ts). 404 not_configured when the API was built without them.
 */
export function preferenceRoutes(service: PreferenceService | undefined, scope: (s: Scope) => RequestHandler): Router {
  const router = express.Router();
  const need = (): PreferenceService => {
    if (!service) throw new HttpError(404, 'not_configured', 'this API keeps no preferences');
    return service;
  };
  const userIdOf = (req: Request) => {
    const params = CustomerParams.safeParse(req.params);
    if (!params.success) throw invalid(params.error, 'customer id');
    return params.data.userId;
  };

  router.get('/v1/customers/:userId/preferences', scope('customers:read'), async (req: Request, res: Response) => {
    const userId = userIdOf(req);
    const view = await need().get(userId);
    if (!view) throw new HttpError(404, 'not_found', `no customer ${userId}`);
    res.json(shown(view));
  });

  router.put(
    '/v1/customers/:userId/preferences',
    scope('customers:write'),
    express.json({ limit: '16kb', strict: true, type: ['application/json', 'application/*+json'] }),
    async (req: Request, res: Response) => {
      const userId = userIdOf(req);
      const parsed = PreferencesBody.safeParse(req.body);
      if (!parsed.success) throw invalid(parsed.error, 'request');
      const preferences = need();
      await preferences.check(parsed.data);
      const update = (await preferences.change(userId, parsed.data, 'api', { create: true }))!;
      res.json({ ...shown(update.view), journey: update.journey });
    },
  );
  return router;
}
