import type { Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import type { Authenticated } from '../http/auth.js';
import { DefinitionVersion } from '../definition-store/load-definition.js';
import { HttpError, invalid, viaMongo } from '../http/errors.js';
import type { Models } from '../db/models.js';
import type { DefinitionStore } from '../definition-store/definition-store.js';
import { journeyFigures } from './journey-figures.js';
import { journeyPage, PERIODS, type Period } from './journey-page.js';

export interface JourneyMapDeps {
  store: DefinitionStore;
  models: Models;
}

const JourneyMapQuery = z.strictObject({
  version: z.union([DefinitionVersion, z.literal('')]).optional(),
  compare: z.union([DefinitionVersion, z.literal('')]).optional(),
  period: z.enum(Object.keys(PERIODS) as [Period, ...Period[]]).default('7d'),
});

/** GET /dashboard/journey: signed in as for the dashboard (the same session or a Bearer key with the same scope). */
export function journeyMapRoute(opts: {
  map?: JourneyMapDeps;
  journeyName: string;
  who: (req: Request) => Promise<{ auth: Authenticated; signedIn: boolean } | undefined>;
  scope: string;
  stageLink: (stage: string) => string;
  signInPage: (problem?: string) => string;
  page: (res: Response, status: number, html: string) => void;
}): RequestHandler {
  return async (req, res) => {
    const who = await opts.who(req);
    if (!who) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return opts.page(res, 401, opts.signInPage());
    }
    if (!who.auth.scopes.has(opts.scope as never)) return opts.page(res, 403, opts.signInPage(`this key lacks the scope ${opts.scope}`));
    const map = opts.map;
    if (!map) throw new HttpError(404, 'not_configured', 'this API manages no journey definitions');
    const parsed = JourneyMapQuery.safeParse(req.query);
    if (!parsed.success) throw invalid(parsed.error, 'query');
    const { period } = parsed.data;
    const id = map.store.current.definition.id;
    const days = PERIODS[period];
    const since = days === null ? null : new Date(Date.now() - days * 86_400_000);
    const [versions, live, figures] = await viaMongo(() => Promise.all([map.store.list(id), map.store.liveVersion(id), journeyFigures(map.models, since)]));
    const want = parsed.data.version || live;
    const known = (v: string) => versions.some((x) => x.version === v);
    if (!want || !known(want)) throw new HttpError(404, 'not_found', `no stored version ${want ?? '(none)'} of journey "${id}"`);
    if (parsed.data.compare && !known(parsed.data.compare)) throw new HttpError(404, 'not_found', `no stored version ${parsed.data.compare} of journey "${id}"`);
    const shown = await viaMongo(() => map.store.get({ id, version: want }));
    const compared = parsed.data.compare ? await viaMongo(() => map.store.get({ id, version: parsed.data.compare! })) : undefined;
    res.setHeader('Cache-Control', 'no-store');
    opts.page(
      res,
      200,
      journeyPage({ journeyName: opts.journeyName, signedIn: who.signedIn, versions, shown, ...(compared ? { compared } : {}), period, figures, stageLink: opts.stageLink }),
    );
  };
}
