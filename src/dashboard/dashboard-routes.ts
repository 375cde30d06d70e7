import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Request, type Response } from 'express';
import { CODEC_COOKIE, CODEC_SCOPE, type Authenticated } from '../http/auth.js';
import { HttpError, invalid, viaMongo } from '../http/errors.js';
import { cookieValue, fromThisSite } from '../http/browser.js';
import { KpiTimeseriesQuery, type KpiReport } from '../kpis/kpi-report.js';
import { SignedSessions, type SignedSessionOptions } from './signed-sessions.js';
import { journeyMapRoute, type JourneyMapDeps } from './journey-route.js';
import { dashboardPage, signInPage } from './pages.js';

export interface DashboardDeps {
  /** The API's Bearer-key authenticator: the sign-in form's key is checked the same way. */
  authenticate: (authorizationHeader: string | undefined) => Authenticated | undefined;
  reports: KpiReport;
  temporalUiUrl: string;
  namespace: string;
  /** The definitions and the read model, for the journey map at /dashboard/journey; 404 without them. */
  journeyMap?: JourneyMapDeps;
  /** How browser sign-ins are signed and checked (the same on every API instance). */
  sessions: Pick<SignedSessionOptions, 'secret' | 'keyScopes' | 'revocations'>;
  /** How long a sign-in lasts; 12 hours by default. */
  sessionTtlMs?: number;
  /** Refused batch items of the last 24 hours with the top reasons (a card); left out, the card says none are kept. */
  rejected?: { summary(): Promise<{ since: string; count: number; topReasons: Array<{ reason: string; count: number }> }> };
}

const SCOPE = 'customers:read';
const COOKIE = 'lifecycle_dashboard';
const HERE = dirname(fileURLToPath(import.meta.url));
const CHART_JS = dirname(createRequire(import.meta.url).resolve('chart.js'));

/** The files under /dashboard/assets: a fixed list, so no request names a path. */
const ASSETS = new Map<string, { file: string; type: string }>([
  ['dashboard.js', { file: join(HERE, 'assets', 'dashboard.js'), type: 'text/javascript; charset=utf-8' }],
  ['dashboard.css', { file: join(HERE, 'assets', 'dashboard.css'), type: 'text/css; charset=utf-8' }],
  ['chart.umd.js', { file: join(CHART_JS, 'chart.umd.js'), type: 'text/javascript; charset=utf-8' }],
  ['chart.umd.js.map', { file: join(CHART_JS, 'chart.umd.js.map'), type: 'application/json; charset=utf-8' }],
]);

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/** The Temporal Web UI's workflow list, filtered to the customers in one stage. */
export function temporalStageLink(temporalUiUrl: string, namespace: string, stage: string): string {
  const query = encodeURIComponent(`LifecycleStage="${stage.replace(/"/g, '\\"')}"`);
  return `${temporalUiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows?query=${query}`;
}

/**
 * The marketer dashboard under /dashboard. A browser cannot send a Bearer header when it navigates, so a
 * key typed into the sign-in form buys an HttpOnly, SameSite=Strict cookie holding a signed session token
 * (SignedSessions: any API instance accepts it); scripts may send the Bearer header instead. Read-only: it shows the KPIs.
 */
export function dashboardRoutes(deps: DashboardDeps): express.Router {
  const sessions = new SignedSessions(deps.sessionTtlMs ?? 12 * 3_600_000, { ...deps.sessions, purpose: 'dashboard' });
  /** A key that may decode signs the codec in too (its own token, the same secret): see setCookie. */
  const codecSessions = new SignedSessions(sessions.ttlMs, { ...deps.sessions, purpose: 'codec' });
  const journeyName = deps.reports.plan.name;
  const router = express.Router();

  /** Who asks: a Bearer header if one is sent (and then only it), else the session cookie. */
  const whoIs = async (req: Request): Promise<{ auth?: Authenticated; session?: string }> => {
    if (req.headers.authorization !== undefined) {
      const auth = deps.authenticate(req.headers.authorization);
      return auth ? { auth } : {};
    }
    const session = cookieValue(req, COOKIE);
    const found = await viaMongo(() => sessions.check(session));
    return found ? { auth: found, ...(session ? { session } : {}) } : {};
  };
  /**
   * A key that may decode (codec:decode) signs the codec in as well (a codec token signed with the same secret): the
   * Temporal Web UI, which sends the codec its cookie (served on the UI's origin by npm start), then shows
   * the journeys decoded without a second sign-in. Cookies are per host, not per port.
   */
  const setCookie = (req: Request, res: Response, value: string, maxAgeSeconds: number, codecToken?: string) => {
    const secure = req.secure ? '; Secure' : '';
    const cookies = [`${COOKIE}=${value}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure}`];
    if (codecToken !== undefined || maxAgeSeconds === 0) cookies.push(`${CODEC_COOKIE}=${codecToken ?? ''}; Path=/codec; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure}`);
    res.setHeader('Set-Cookie', cookies);
  };
  const page = (res: Response, status: number, html: string) => {
    res.status(status).type('html').setHeader('Cache-Control', 'no-store').send(html);
  };

  router.use('/dashboard', (_req, res, next) => {
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'same-origin');
    next();
  });

  router.get('/dashboard/assets/:file', (req, res, next) => {
    const asset = ASSETS.get(String(req.params.file));
    if (!asset) return next(new HttpError(404, 'not_found', `no asset ${req.params.file}`));
    res.sendFile(asset.file, { headers: { 'Content-Type': asset.type, 'Cache-Control': 'no-cache' } }, (err) => {
      if (err) next(err);
    });
  });

  router.get('/dashboard', async (req, res) => {
    const { auth, session } = await whoIs(req);
    if (!auth) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return page(res, 401, signInPage(journeyName));
    }
    if (!auth.scopes.has(SCOPE)) return page(res, 403, signInPage(journeyName, `this key lacks the scope ${SCOPE}`));
    page(res, 200, dashboardPage(journeyName, session !== undefined));
  });

  router.post('/dashboard/session', express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 }), (req, res) => {
    if (!fromThisSite(req)) return page(res, 403, signInPage(journeyName, 'sign in from this dashboard’s own page'));
    const key = typeof req.body?.key === 'string' ? req.body.key.trim() : '';
    const auth = key ? deps.authenticate(`Bearer ${key}`) : undefined;
    if (!auth) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      return page(res, 401, signInPage(journeyName, 'that key was not accepted'));
    }
    if (!auth.scopes.has(SCOPE)) return page(res, 403, signInPage(journeyName, `this key lacks the scope ${SCOPE}`));
    const signIn = SignedSessions.newId();
    setCookie(req, res, sessions.create(auth, signIn), Math.floor(sessions.ttlMs / 1000), auth.scopes.has(CODEC_SCOPE) ? codecSessions.create(auth, signIn) : undefined);
    res.redirect(303, '/dashboard');
  });

  router.post('/dashboard/sign-out', async (req, res) => {
    if (!fromThisSite(req)) return page(res, 403, signInPage(journeyName, 'sign out from this dashboard’s own page'));
    await viaMongo(() => sessions.revoke(cookieValue(req, COOKIE)));
    setCookie(req, res, '', 0);
    res.redirect(303, '/dashboard');
  });

  router.get(
    '/dashboard/journey',
    journeyMapRoute({
      ...(deps.journeyMap ? { map: deps.journeyMap } : {}),
      journeyName,
      who: async (req) => {
        const { auth, session } = await whoIs(req);
        return auth ? { auth, signedIn: session !== undefined } : undefined;
      },
      scope: SCOPE,
      stageLink: (stage) => temporalStageLink(deps.temporalUiUrl, deps.namespace, stage),
      signInPage: (problem) => signInPage(journeyName, problem),
      page,
    }),
  );

  router.get('/dashboard/data', async (req, res) => {
    const { auth } = await whoIs(req);
    if (!auth) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      throw new HttpError(401, 'unauthenticated', 'sign in at /dashboard, or send an API key: Authorization: Bearer <key>');
    }
    if (!auth.scopes.has(SCOPE)) throw new HttpError(403, 'forbidden', `this key lacks the scope ${SCOPE}`);
    const parsed = KpiTimeseriesQuery.safeParse(req.query);
    if (!parsed.success) throw invalid(parsed.error, 'query');
    const [kpis, timeseries, rejected] = await Promise.all([
      deps.reports.kpis(),
      deps.reports.timeseries(parsed.data),
      deps.rejected ? viaMongo(() => deps.rejected!.summary()) : Promise.resolve(null),
    ]);
    res.setHeader('Cache-Control', 'no-store');
    res.json({
      generatedAt: new Date().toISOString(),
      ...kpis,
      timeseries,
      rejected,
      journey: { name: journeyName },
      links: {
        temporalUi: Object.fromEntries(kpis.funnel.map((f) => [f.stage, temporalStageLink(deps.temporalUiUrl, deps.namespace, f.stage)])),
      },
    });
  });

  return router;
}
