import express, { type Request, type RequestHandler, type Response } from 'express';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';
import { SignedSessions, type SignedSessionOptions } from '../dashboard/signed-sessions.js';
import { AUTH_CHALLENGE, CODEC_COOKIE, CODEC_SCOPE, type Authenticated } from '../http/auth.js';
import { HttpError, invalid, viaMongo } from '../http/errors.js';
import { cookieValue, fromThisSite, sameOrigin } from '../http/browser.js';

const COOKIE = CODEC_COOKIE;
/** The browser pages of the codec's sign-in; not API operations, so the OpenAPI document leaves them out. */
export const CODEC_SIGN_IN_PREFIX = '/codec/sign-';
const ALLOWED_HEADERS = 'Content-Type, X-Namespace, Authorization';
const PAGE_CSP = ["default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"].join('; ');

const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
/** A Payload in the protobuf JSON form the Web UI and CLI send: every bytes field base64. */
const JsonPayload = z.looseObject({
  metadata: z.record(z.string(), Base64).optional(),
  data: Base64.optional(),
});
/** The codec server protocol's body, both ways. */
export const CodecPayloads = z
  .looseObject({ payloads: z.array(JsonPayload).max(10_000) })
  .meta({ id: 'CodecPayloads', description: 'Temporal Payloads in protobuf JSON: metadata values and data are base64.' });

const fromJson = (p: z.infer<typeof JsonPayload>): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

export interface CodecRouteDeps {
  /** The payload codec of the workers; none when PAYLOAD_ENCRYPTION=off (payloads pass unchanged). */
  codec?: PayloadCodec;
  authenticate: (authorizationHeader: string | undefined) => Authenticated | undefined;
  /** Browser origins allowed to call the codec (the Temporal Web UI's). */
  corsOrigins: string[];
  /** The per-key rate limit, run once the caller is known. */
  keyLimit?: RequestHandler;
  /** How browser sign-ins are signed and checked (the same on every API instance). */
  sessions: Pick<SignedSessionOptions, 'secret' | 'keyScopes' | 'revocations'>;
  sessionTtlMs?: number;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function signInPage(state: { signedIn: boolean; endpoint: string; problem?: string }): string {
  const body = state.signedIn
    ? `<p data-testid="codec-signed-in">Signed in. The Temporal Web UI can now show decrypted payloads: in its Codec Server settings, set the endpoint to <code>${escapeHtml(state.endpoint)}</code> and turn on <em>Include cross-origin credentials</em>.</p>
<form method="post" action="/codec/sign-out"><button type="submit">Sign out</button></form>`
    : `<form method="post" action="/codec/sign-in">
<label for="key">API key (scope ${CODEC_SCOPE})</label>
<input id="key" name="key" type="password" autocomplete="off" spellcheck="false" required autofocus>
${state.problem ? `<p role="alert" data-testid="codec-problem">${escapeHtml(state.problem)}</p>` : ''}
<button type="submit">Sign in</button>
</form>`;
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"><title>Payload codec · sign in</title></head>
<body>
<h1>Payload codec</h1>
<p>Lets the Temporal Web UI decrypt the journeys' payloads in your browser.</p>
${body}
</body>
</html>
`;
}

/**
 * The Temporal codec server protocol at /codec/encode and /codec/decode, for the Web UI and the CLI
 * (`--codec-endpoint <api>/codec --codec-auth "Bearer <key>"`). A key with the scope codec:decode, sent
 * as a Bearer header or, for the Web UI in a browser, traded at /codec/sign-in for an HttpOnly cookie the
 * UI sends with "Include cross-origin credentials". CORS answers only the configured UI origins.
 */
export function codecRoutes(deps: CodecRouteDeps): express.Router {
  const sessions = new SignedSessions(deps.sessionTtlMs ?? 12 * 3_600_000, { ...deps.sessions, purpose: 'codec' });
  const origins = new Set(deps.corsOrigins);
  const router = express.Router();
  const json = express.json({ limit: '8mb', strict: true, type: 'application/json' });

  /** Who asks: the Bearer header if one is sent (and then only it), else the sign-in cookie. */
  const whoIs = async (req: Request): Promise<Authenticated | undefined> => {
    if (req.headers.authorization !== undefined) return deps.authenticate(req.headers.authorization);
    return viaMongo(() => sessions.check(cookieValue(req, COOKIE)));
  };

  router.use('/codec', (req, res, next) => {
    const origin = req.headers.origin;
    const allowed = origin !== undefined && origins.has(origin);
    res.setHeader('Vary', 'Origin');
    if (allowed) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
    }
    if (req.method === 'OPTIONS') {
      if (!allowed) return next(new HttpError(403, 'forbidden', `origin ${origin ?? '(none)'} may not call the codec; see CODEC_CORS_ORIGINS`));
      res.setHeader('Access-Control-Allow-Methods', 'POST');
      res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
      res.setHeader('Access-Control-Max-Age', '600');
      return res.status(204).end();
    }
    // A page of another origin may not use a signed-in browser's cookie (nor a key) to decrypt.
    if (origin !== undefined && !allowed && !sameOrigin(req, origin)) {
      return next(new HttpError(403, 'forbidden', `origin ${origin} may not call the codec; see CODEC_CORS_ORIGINS`));
    }
    next();
  });

  const authorize: RequestHandler = async (req, res, next) => {
    const auth = await whoIs(req);
    if (!auth) {
      res.setHeader('WWW-Authenticate', AUTH_CHALLENGE);
      return next(new HttpError(401, 'unauthenticated', `send an API key with the scope ${CODEC_SCOPE} (Authorization: Bearer <key>), or sign in at /codec/sign-in`));
    }
    if (!auth.scopes.has(CODEC_SCOPE)) return next(new HttpError(403, 'forbidden', `this key lacks the scope ${CODEC_SCOPE}`));
    res.locals.auth = auth;
    next();
  };

  for (const direction of ['encode', 'decode'] as const) {
    router.post(`/codec/${direction}`, authorize, ...(deps.keyLimit ? [deps.keyLimit] : []), json, async (req: Request, res: Response) => {
      const parsed = CodecPayloads.safeParse(req.body);
      if (!parsed.success) throw invalid(parsed.error, 'payloads');
      const payloads = parsed.data.payloads.map(fromJson);
      const out: Payload[] = [];
      const problems: Array<{ path: string; message: string; code: string }> = [];
      for (const [index, payload] of payloads.entries()) {
        try {
          const [converted] = deps.codec ? await deps.codec[direction]([payload]) : [payload];
          out.push(converted!);
        } catch (err) {
          problems.push({ path: `payloads.${index}`, message: (err as Error).message, code: `not_${direction}d` });
        }
      }
      if (problems.length > 0) throw new HttpError(400, 'invalid_request', `${problems.length} of ${payloads.length} payloads could not be ${direction}d`, problems);
      res.setHeader('Cache-Control', 'no-store');
      res.json({ payloads: out.map(toJson) });
    });
  }

  const page = (res: Response, status: number, html: string) => {
    res.status(status).type('html').setHeader('Cache-Control', 'no-store').setHeader('Content-Security-Policy', PAGE_CSP).setHeader('X-Frame-Options', 'DENY').send(html);
  };
  const endpointOf = (req: Request) => `${req.protocol}://${req.headers.host ?? 'localhost'}/codec`;
  const setCookie = (req: Request, res: Response, value: string, maxAgeSeconds: number) => {
    res.setHeader('Set-Cookie', `${COOKIE}=${value}; Path=/codec; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${req.secure ? '; Secure' : ''}`);
  };

  router.get('/codec/sign-in', async (req, res) => {
    const session = await viaMongo(() => sessions.check(cookieValue(req, COOKIE)));
    page(res, 200, signInPage({ signedIn: session?.scopes.has(CODEC_SCOPE) === true, endpoint: endpointOf(req) }));
  });

  router.post('/codec/sign-in', express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 }), (req, res) => {
    if (!fromThisSite(req)) return page(res, 403, signInPage({ signedIn: false, endpoint: endpointOf(req), problem: 'sign in from this page' }));
    const key = typeof req.body?.key === 'string' ? req.body.key.trim() : '';
    const auth = key ? deps.authenticate(`Bearer ${key}`) : undefined;
    if (!auth) return page(res, 401, signInPage({ signedIn: false, endpoint: endpointOf(req), problem: 'that key was not accepted' }));
    if (!auth.scopes.has(CODEC_SCOPE)) return page(res, 403, signInPage({ signedIn: false, endpoint: endpointOf(req), problem: `this key lacks the scope ${CODEC_SCOPE}` }));
    setCookie(req, res, sessions.create(auth), Math.floor(sessions.ttlMs / 1000));
    res.redirect(303, '/codec/sign-in');
  });

  router.post('/codec/sign-out', async (req, res) => {
    if (!fromThisSite(req)) return page(res, 403, signInPage({ signedIn: false, endpoint: endpointOf(req), problem: 'sign out from this page' }));
    await viaMongo(() => sessions.revoke(cookieValue(req, COOKIE)));
    setCookie(req, res, '', 0);
    res.redirect(303, '/codec/sign-in');
  });

  return router;
}

