import express, { type Request, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import type { JourneyDefinition } from '../core/journey-definition.js';
import type { PreferencePatch } from '../core/preferences.js';
import { UpstreamUnavailable } from '../http/errors.js';
import { PREFERENCES_PATH, UNSUBSCRIBE_PATH, type LinkClaims, type LinkSigner } from './preference-links.js';
import type { PreferenceService, PreferenceView } from './preference-service.js';
import { preferenceStrings, topicText, type PreferenceStrings } from './preference-strings.js';

export interface PreferencePageDeps {
  preferences: PreferenceService;
  signer: LinkSigner;
  /** The live journey definition: topic names in the customer's language, and the channels its marketing uses. */
  definition: () => Promise<JourneyDefinition>;
  logger: Logger;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The one-click body RFC 8058 prescribes, as a form field (urlencoded or multipart). */
function isOneClick(req: Request): boolean {
  const body = typeof req.body === 'string' ? req.body : '';
  const type = String(req.headers['content-type'] ?? '');
  if (type.startsWith('multipart/form-data')) {
    return /content-disposition:\s*form-data;\s*name="?List-Unsubscribe"?\s*\r?\n\r?\n\s*One-Click\s*\r?\n/i.test(body);
  }
  return new URLSearchParams(body).getAll('List-Unsubscribe').includes('One-Click');
}

function page(res: Response, status: number, t: PreferenceStrings, title: string, body: string): void {
  res
    .status(status)
    .set({
      'Content-Type': 'text/html; charset=utf-8',
      // No script at all; the token in the URL never leaves in a Referer; never cached or indexed.
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
      'X-Robots-Tag': 'noindex',
      'X-Content-Type-Options': 'nosniff',
    })
    .send(
      `<!doctype html>\n<html lang="${t.lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<title>${escapeHtml(title)}</title><style>${CSS}</style></head><body><main>${body}</main></body></html>\n`,
    );
}

const CSS = `body{font:16px/1.5 system-ui,sans-serif;background:#f5f6f8;color:#1d2330;margin:0}main{max-width:34rem;margin:2rem auto;background:#fff;padding:1.5rem 2rem;border-radius:8px;box-shadow:0 1px 3px #0002}
h1{font-size:1.4rem;margin:0 0 .5rem}fieldset{border:1px solid #d8dce3;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}legend{font-weight:600;padding:0 .3rem}
label{display:flex;gap:.6rem;align-items:flex-start;margin:.5rem 0}label small{display:block;color:#5b6472}input[type=checkbox]{margin-top:.3rem;width:1.1rem;height:1.1rem}
button{font:inherit;padding:.5rem 1rem;border-radius:6px;border:1px solid #2b59c3;background:#2b59c3;color:#fff;cursor:pointer;margin:.3rem .5rem .3rem 0}button.secondary{background:#fff;color:#2b59c3}
.note{color:#5b6472;font-size:.9rem}.saved{background:#e7f6ec;border:1px solid #9fd5b0;padding:.5rem 1rem;border-radius:6px}.hint{color:#5b6472;font-size:.9rem;margin:0}`;

/** The channels the preference page offers: those the definition's marketing uses, and any the customer turned off. */
function channelsShown(definition: JourneyDefinition, view: PreferenceView): string[] {
  const used = new Set<string>(definition.campaigns.filter((c) => c.kind === 'marketing').map((c) => c.message.channel ?? 'email'));
  used.add('email');
  for (const [id, on] of Object.entries(view.channels)) if (!on) used.add(id);
  return Object.keys(view.channels).filter((id) => used.has(id));
}

function preferenceForm(definition: JourneyDefinition, view: PreferenceView, token: string, t: PreferenceStrings, saved: boolean): string {
  const checkbox = (name: string, value: string, on: boolean, label: string, description?: string) =>
    `<label><input type="checkbox" name="${name}" value="${escapeHtml(value)}"${on ? ' checked' : ''}><span>${escapeHtml(label)}${description ? `<small>${escapeHtml(description)}</small>` : ''}</span></label>`;
  const topics = Object.entries(view.topics).map(([id, on]) => {
    const text = topicText(definition, id, view.locale);
    return checkbox('topic', id, on, text.label, text.description);
  });
  const channels = channelsShown(definition, view).map((id) => checkbox('channel', id, view.channels[id] !== false, t.channelNames[id] ?? id));
  return (
    `<h1>${escapeHtml(t.pageTitle)}</h1>` +
    (saved ? `<p class="saved" role="status">${escapeHtml(t.saved)}</p>` : `<p>${escapeHtml(t.intro)}</p>`) +
    `<form method="post" action="${PREFERENCES_PATH}/${escapeHtml(token)}">` +
    `<input type="hidden" name="form" value="preferences">` +
    `<fieldset><legend>${escapeHtml(t.marketingLegend)}</legend>${checkbox('marketing', 'on', view.marketing, t.marketingLabel)}</fieldset>` +
    (topics.length ? `<fieldset><legend>${escapeHtml(t.topicsLegend)}</legend>${topics.join('')}</fieldset>` : '') +
    `<fieldset><legend>${escapeHtml(t.channelsLegend)}</legend><p class="hint">${escapeHtml(t.channelsHint)}</p>${channels.join('')}</fieldset>` +
    `<button type="submit" name="action" value="save">${escapeHtml(t.save)}</button>` +
    `<button type="submit" name="action" value="unsubscribe-all" class="secondary">${escapeHtml(t.unsubscribeAll)}</button>` +
    `</form><p class="note">${escapeHtml(t.transactionalNote)}</p>`
  );
}

/** What a submitted preference form says: every shown switch (an unchecked box is absent from the form, so off). */
function formPatch(body: URLSearchParams, view: PreferenceView, shownChannels: string[]): PreferencePatch {
  if (body.get('action') === 'unsubscribe-all') return { marketing: false };
  const topics = new Set(body.getAll('topic'));
  const channels = new Set(body.getAll('channel'));
  return {
    marketing: body.get('marketing') === 'on',
    topics: Object.fromEntries(Object.keys(view.topics).map((id) => [id, topics.has(id)])),
    channels: Object.fromEntries(shownChannels.map((id) => [id, channels.has(id)])),
  };
}

/**
 * The customer-facing side of preferences, no login: `POST /u/<token>` (RFC 8058 one-click unsubscribe,
 * also the confirmation form of `GET /u/<token>`), and the hosted preference page `GET|POST
 * /preferences/<token>`, plain HTML forms that work without JavaScript. The signed token is the credential,
 * so there is no CSRF token (RFC 8058 forbids asking for one); a GET never changes anything (mail scanners
 * follow links).
 */
export function preferencePageRoutes(deps: PreferencePageDeps): Router {
  const router = express.Router();
  const { preferences, signer, logger } = deps;
  const anyBody = express.text({ type: () => true, limit: '16kb' });

  const claimsOf = (req: Request, res: Response, purpose: 'unsubscribe' | 'preferences'): LinkClaims | undefined => {
    const claims = signer.verify(purpose, String(req.params.token ?? ''));
    if (!claims) {
      const t = preferenceStrings(req.acceptsLanguages('en', 'de') || 'en');
      page(res, 400, t, t.invalidLink, `<h1>${escapeHtml(t.invalidLink)}</h1>`);
    }
    return claims;
  };

  /** An outage: the page says to try again, with Retry-After; nothing was changed. */
  const unavailable = (res: Response, t: PreferenceStrings, err: UpstreamUnavailable) => {
    res.setHeader('Retry-After', String(err.retryAfterSeconds));
    page(res, 503, t, t.unavailable, `<h1>${escapeHtml(t.unavailable)}</h1>`);
  };
  const langOf = (req: Request) => req.acceptsLanguages('en', 'de') || 'en';

  /** A change from a link: the profile is what counts; the journey not hearing of it now is logged, not refused. */
  const changeFromLink = async (userId: string, patch: PreferencePatch, source: 'one-click' | 'preference-page') => {
    try {
      return await preferences.change(userId, patch, source, { create: false });
    } catch (err) {
      if (err instanceof UpstreamUnavailable && err.upstream === 'temporal') {
        logger.warn({ userId, source }, 'preferences saved; the journey could not be told now (Temporal unavailable): its timeline misses this change');
        return { view: await preferences.get(userId), journey: 'not told' as const };
      }
      throw err;
    }
  };

  router.get(`${UNSUBSCRIBE_PATH}/:token`, async (req, res) => {
    const claims = claimsOf(req, res, 'unsubscribe');
    if (!claims) return;
    let view: PreferenceView | undefined;
    try {
      view = await preferences.get(claims.userId);
    } catch (err) {
      if (err instanceof UpstreamUnavailable) return unavailable(res, preferenceStrings(langOf(req)), err);
      throw err;
    }
    const t = preferenceStrings(view?.locale ?? langOf(req));
    if (!view) return page(res, 404, t, t.unsubscribeTitle, `<h1>${escapeHtml(t.unknownCustomer)}</h1>`);
    const topic = claims.topic ? topicText(await deps.definition(), claims.topic, view.locale).label : undefined;
    page(
      res,
      200,
      t,
      t.unsubscribeTitle,
      `<h1>${escapeHtml(t.unsubscribeQuestion(topic))}</h1>` +
        `<form method="post" action="${UNSUBSCRIBE_PATH}/${escapeHtml(String(req.params.token))}"><input type="hidden" name="List-Unsubscribe" value="One-Click">` +
        `<button type="submit">${escapeHtml(t.unsubscribeConfirm)}</button></form>` +
        `<p><a href="${PREFERENCES_PATH}/${escapeHtml(signer.sign('preferences', { userId: claims.userId }))}">${escapeHtml(t.managePreferences)}</a></p>`,
    );
  });

  router.post(`${UNSUBSCRIBE_PATH}/:token`, anyBody, async (req, res) => {
    const claims = claimsOf(req, res, 'unsubscribe');
    if (!claims) return;
    if (!isOneClick(req)) {
      const t = preferenceStrings(langOf(req));
      return page(res, 400, t, t.unsubscribeTitle, `<h1>List-Unsubscribe=One-Click</h1><p>${escapeHtml(t.invalidLink)}</p>`);
    }
    let update;
    try {
      update = await changeFromLink(claims.userId, claims.topic ? { topics: { [claims.topic]: false } } : { marketing: false }, 'one-click');
    } catch (err) {
      if (err instanceof UpstreamUnavailable) return unavailable(res, preferenceStrings(langOf(req)), err);
      throw err;
    }
    const locale = update?.view?.locale ?? langOf(req);
    const t = preferenceStrings(locale);
    // Nothing to unsubscribe (an erased customer): done all the same, as far as the mailbox provider is concerned.
    if (!update) return page(res, 200, t, t.unsubscribeTitle, `<h1>${escapeHtml(t.unknownCustomer)}</h1>`);
    logger.info({ userId: claims.userId, topic: claims.topic ?? null, journey: update.journey }, 'one-click unsubscribe');
    const topic = claims.topic ? topicText(await deps.definition(), claims.topic, locale).label : undefined;
    page(
      res,
      200,
      t,
      t.unsubscribeTitle,
      `<h1>${escapeHtml(t.unsubscribed(topic))}</h1><p>${escapeHtml(t.transactionalNote)}</p>` +
        `<p><a href="${PREFERENCES_PATH}/${escapeHtml(signer.sign('preferences', { userId: claims.userId }))}">${escapeHtml(t.managePreferences)}</a></p>`,
    );
  });

  const showPreferences = async (req: Request, res: Response, submitted?: URLSearchParams) => {
    const claims = claimsOf(req, res, 'preferences');
    if (!claims) return;
    const token = String(req.params.token);
    try {
      let view = await preferences.get(claims.userId);
      const definition = await deps.definition();
      if (view && submitted) {
        if (submitted.get('form') !== 'preferences') {
          const t = preferenceStrings(view.locale ?? langOf(req));
          return page(res, 400, t, t.pageTitle, `<h1>${escapeHtml(t.invalidLink)}</h1>`);
        }
        const update = await changeFromLink(claims.userId, formPatch(submitted, view, channelsShown(definition, view)), 'preference-page');
        view = update?.view;
      }
      const t = preferenceStrings(view?.locale ?? langOf(req));
      if (!view) return page(res, 404, t, t.pageTitle, `<h1>${escapeHtml(t.unknownCustomer)}</h1>`);
      page(res, 200, t, t.pageTitle, preferenceForm(definition, view, token, t, submitted !== undefined));
    } catch (err) {
      if (err instanceof UpstreamUnavailable) return unavailable(res, preferenceStrings(langOf(req)), err);
      throw err;
    }
  };
  router.get(`${PREFERENCES_PATH}/:token`, (req, res) => showPreferences(req, res));
  // Read as text: a form repeats `topic` and `channel` once per checked box.
  router.post(`${PREFERENCES_PATH}/:token`, express.text({ type: 'application/x-www-form-urlencoded', limit: '16kb' }), (req, res) =>
    showPreferences(req, res, new URLSearchParams(typeof req.body === 'string' ? req.body : '')),
  );
  return router;
}
