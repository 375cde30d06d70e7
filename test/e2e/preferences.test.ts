/**
 * Preferences through the whole stack as processes (Temporal dev server, FerretDB, our worker and API), on
 * the embedded default (no SendGrid key: the local outbox): the backend API, the RFC 8058 one-click POST to
 * the link a marketing email carries, and the hosted preference page in a real headless Chromium with
 * JavaScript off (plain HTML forms). The page's screenshot lands in test-artifacts/preferences.png.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { LinkSigner } from '../../src/preferences/preference-links.js';
import { linkSecrets, loadConfig } from '../../src/config/config.js';
import { freePort, PROJECT_ROOT, startFerretDb } from '../../src/servers/local-servers.js';
import { runEntry, waitFor, type AppProcess } from '../support/processes.js';
import { apiCaller, startLocalServers, type LocalServers } from '../support/stack.js';

const WRITE_KEY = 'e2e-prefs-writer-0123456789';
const READ_KEY = 'e2e-prefs-reader-0123456789';
const ADMIN_KEY = 'e2e-prefs-admin-01234567890';
const LINK_SECRET = 'e2e-preference-link-secret-0123456789abcdef';
const SCREENSHOT = join(PROJECT_ROOT, 'test-artifacts', 'preferences.png');

interface OutboxMessage {
  deliveryKey: string;
  campaignId: string;
  html: string;
  text?: string;
  headers?: Record<string, string>;
}

describe('preferences and unsubscribe through the whole stack', () => {
  let servers: LocalServers;
  let worker: AppProcess;
  let api: AppProcess;
  let base: string;
  let browser: Browser;
  const call = apiCaller(() => base);
  const signer = new LinkSigner(linkSecrets(loadConfig({ LINK_SECRETS: LINK_SECRET })));

  const withOutput = (err: unknown) => new Error(`${(err as Error).message}\nAPI output:\n${api?.output()}\nworker output:\n${worker?.output()}`);

  before(async () => {
    servers = await startLocalServers('lifecycle-e2e-prefs-', 'SG.unused');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // No SENDGRID_API_KEY: the embedded default, messages land in the local outbox.
    const env = {
      TEMPORAL_ADDRESS: servers.temporal.address,
      MONGODB_URI: servers.ferret.uri('lifecycle_e2e_prefs'),
      TASK_QUEUE: 'lifecycle-e2e-prefs',
      DEFINITION_FILE: 'test/fixtures/preferences-demo.yaml',
      API_PORT: String(port),
      API_KEYS: `${WRITE_KEY}=events:write,${READ_KEY}=customers:read,${ADMIN_KEY}=customers:read|customers:write`,
      PUBLIC_URL: base,
      LINK_SECRETS: LINK_SECRET,
      UPSTREAM_TIMEOUT_MS: '3000',
    };
    worker = runEntry('src/worker/main.ts', env);
    api = runEntry('src/api/main.ts', env);
    await waitFor('the API to be ready', async () => (await call('GET', '/readyz')).status === 200, 60_000).catch((err) => {
      throw withOutput(err);
    });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await Promise.all([api?.stop(), worker?.stop()]);
    await servers?.stop();
  });

  const outbox = async (userId: string): Promise<OutboxMessage[]> => (await call('GET', `/v1/outbox?userId=${userId}`, { key: READ_KEY })).body.messages;
  const outboxHas = (userId: string, campaignId: string) =>
    waitFor(`${campaignId} in the outbox of ${userId}`, async () => (await outbox(userId)).find((m) => m.campaignId === campaignId), 60_000).catch((err) => {
      throw withOutput(err);
    });
  const preferences = async (userId: string) => (await call('GET', `/v1/customers/${userId}/preferences`, { key: READ_KEY })).body;
  const timeline = async (userId: string) =>
    ((await call('GET', `/v1/customers/${userId}`, { key: READ_KEY })).body.timeline as Array<{ kind: string; text: string; status?: string }>).filter((e) => e.kind === 'preference');
  const messageOf = async (userId: string, key: string) =>
    ((await call('GET', `/v1/customers/${userId}`, { key: READ_KEY })).body.journey?.messages as Array<{ key: string; status: string; reason?: string }> | undefined)?.find((m) => m.key === key);

  async function newCustomer(userId: string, locale: string): Promise<void> {
    const res = await call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId, traits: { email: `${userId}@example.com`, firstName: 'Ada', locale } } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal((await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId, event: 'Signed Up', messageId: `${userId}-1` } })).status, 202);
    await outboxHas(userId, 'welcome');
  }

  test('GET and PUT preferences for backends: every topic and channel, bad input refused with nothing changed, each change in the timeline', async () => {
    assert.equal((await call('GET', '/v1/customers/nobody-prefs/preferences', { key: READ_KEY })).status, 404);
    assert.equal((await call('PUT', '/v1/customers/ada/preferences', { key: READ_KEY, body: { marketing: false } })).status, 403);
    assert.equal((await call('GET', '/v1/customers/ada/preferences', { key: WRITE_KEY })).status, 403);
    await newCustomer('ada', 'en');
    const initial = await preferences('ada');
    assert.deepEqual(initial, { userId: 'ada', marketing: true, topics: { offers: true, tips: true }, channels: { email: true, webhook: true, inapp: true, sms: true, push: true }, updatedAt: null });

    for (const body of [{ topics: { ofers: false } }, { channels: { fax: false } }, { topics: { offers: 'no' } }, {}, { marketing: false, extra: 1 }]) {
      const res = await call('PUT', '/v1/customers/ada/preferences', { key: ADMIN_KEY, body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.ok(res.body.error.issues.length > 0);
    }
    const unknown = await call('PUT', '/v1/customers/ada/preferences', { key: ADMIN_KEY, body: { topics: { ofers: false, offers: false }, channels: { fax: true } } });
    assert.deepEqual(unknown.body.error.issues.map((i: { path: string }) => i.path), ['topics.ofers', 'channels.fax'], 'every problem listed');
    assert.match(unknown.body.error.issues[0].message, /unknown topic "ofers" \(topics: offers, tips\)/);
    assert.deepEqual(await preferences('ada'), initial, 'nothing changed');

    const put = await call('PUT', '/v1/customers/ada/preferences', { key: ADMIN_KEY, body: { topics: { tips: false } } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.deepEqual([put.body.topics, put.body.journey], [{ offers: true, tips: false }, 'signalled']);
    assert.equal((await call('PUT', '/v1/customers/ada/preferences', { key: ADMIN_KEY, body: { topics: { tips: false } } })).status, 200, 'a repeat is harmless');
    const told = await waitFor('the change in the timeline', async () => {
      const entries = await timeline('ada');
      return entries.length > 0 && entries;
    });
    assert.deepEqual(told.map((e) => [e.status, e.text]), [['api', 'preferences: topic tips off (by the API)']]);

    // A marketing message of the topic turned off is skipped with the reason; the other goes.
    assert.equal((await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId: 'ada', event: 'Browsed', messageId: 'ada-2' } })).status, 202);
    await outboxHas('ada', 'promo');
    const tip = await waitFor('the tip to be skipped', async () => {
      const m = await messageOf('ada', 'customer-ada/tip/1');
      return m?.status === 'skipped' && m;
    });
    assert.equal(tip.reason, 'preferences: the customer turned topic tips off');

    // Support's command line reads and changes them through the same API.
    const run = (...args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/support-cli.ts', ...args], { env: { ...process.env, LIFECYCLE_API_URL: base, LIFECYCLE_API_KEY: ADMIN_KEY } });
    const shown = (await run('customer', 'preferences', 'ada')).stdout;
    assert.match(shown, /^Preferences of ada \(changed \d{4}-/);
    assert.match(shown, /topic tips\s+off/);
    const back = JSON.parse((await run('--json', 'customer', 'preferences', 'ada', '--on', 'tips', '--channel-off', 'webhook')).stdout);
    assert.deepEqual([back.topics, back.channels], [{ offers: true, tips: true }, { email: true, webhook: false, inapp: true, sms: true, push: true }]);
    await assert.rejects(run('customer', 'preferences', 'ada', '--off', 'ofers'), (err: { stderr: string }) => /400: [\s\S]*unknown topic "ofers"/.test(err.stderr));
    await assert.rejects(run('customer', 'preferences', 'ada', '--marketing', 'maybe'), (err: { stderr: string }) => /on or off/.test(err.stderr));
    assert.equal((await call('PUT', '/v1/customers/ada/preferences', { key: ADMIN_KEY, body: { channels: { webhook: true } } })).status, 200);
  });

  test('a marketing email carries RFC 8058 headers (kept in the outbox); its one-click POST turns its topic off at once, idempotently', async () => {
    await newCustomer('bea', 'de-DE');
    const [welcome] = await outbox('bea');
    assert.equal(welcome?.headers, undefined, 'a transactional email has no unsubscribe headers');
    assert.equal((await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId: 'bea', event: 'Browsed', messageId: 'bea-2' } })).status, 202);
    const promo = await outboxHas('bea', 'promo');
    assert.equal(promo.headers?.['List-Unsubscribe-Post'], 'List-Unsubscribe=One-Click');
    const url = /^<([^>]+)>$/.exec(promo.headers?.['List-Unsubscribe'] ?? '')?.[1];
    assert.ok(url?.startsWith(`${base}/u/`), promo.headers?.['List-Unsubscribe']);
    if (!url) return;
    assert.match(promo.html, /Alle Einstellungen verwalten/, 'the footer in the customer’s language');

    // Mail scanners follow links: a GET shows the question and changes nothing.
    const shown = await fetch(url);
    assert.equal(shown.status, 200);
    assert.match(await shown.text(), /Keine Nachrichten zu „Angebote“ mehr erhalten\?/);
    assert.equal((await preferences('bea')).topics.offers, true);

    // What a mailbox provider sends (RFC 8058 section 3.1): no cookie, no key, no CSRF token.
    const oneClick = () => fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    const res = await oneClick();
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Du erhältst keine Nachrichten zu „Angebote“ mehr\./);
    assert.deepEqual((await preferences('bea')).topics, { offers: false, tips: true }, 'off at once');
    assert.equal((await oneClick()).status, 200, 'idempotent');
    const form = new FormData();
    form.set('List-Unsubscribe', 'One-Click');
    assert.equal((await fetch(url, { method: 'POST', body: form })).status, 200, 'multipart/form-data as well');
    assert.deepEqual((await preferences('bea')).topics, { offers: false, tips: true });

    const refusedBody = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=Maybe' });
    assert.equal(refusedBody.status, 400);
    const forged = `${url.slice(0, -3)}abc`;
    assert.equal((await fetch(forged, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' })).status, 400);
    const preferenceLink = signer.sign('preferences', { userId: 'bea' });
    assert.equal((await fetch(`${base}/u/${preferenceLink}`, { method: 'POST', body: 'List-Unsubscribe=One-Click' })).status, 400, 'a preference-page token is no unsubscribe token');

    const told = await waitFor('the one-click change in the timeline', async () => {
      const entries = await timeline('bea');
      return entries.length > 0 && entries;
    });
    assert.deepEqual(told.map((e) => [e.status, e.text]), [['one-click', 'preferences: topic offers off (by one-click unsubscribe)']], 'the repeats recorded nothing');

    // An erased customer's link: done, and the profile is not recreated.
    assert.equal((await call('DELETE', '/v1/customers/bea', { key: ADMIN_KEY })).status, 200);
    assert.equal((await oneClick()).status, 200);
    assert.equal((await call('GET', '/v1/customers/bea/preferences', { key: READ_KEY })).status, 404);
  });

  test('the hosted preference page works without JavaScript, in the customer’s language', async () => {
    await newCustomer('cem', 'de');
    assert.equal((await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId: 'cem', event: 'Browsed', messageId: 'cem-2' } })).status, 202);
    const tip = await outboxHas('cem', 'tip');
    const link = /href="([^"]*\/preferences\/v1\.[^"]+)"/.exec(tip.html)?.[1];
    assert.ok(link?.startsWith(`${base}/preferences/`), 'the footer links the preference page');
    assert.ok(tip.text?.includes(link!), 'the text part too');

    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 900, height: 1000 }, locale: 'en-US' });
    const page = await context.newPage();
    try {
      const response = await page.goto(link!);
      assert.equal(response?.status(), 200);
      assert.match(response?.headers()['content-security-policy'] ?? '', /default-src 'none'/);
      assert.equal(response?.headers()['referrer-policy'], 'no-referrer');
      assert.equal(await page.textContent('h1'), 'Deine E-Mail-Einstellungen', 'the profile’s locale, not the browser’s');
      assert.equal(await page.isChecked('input[name=topic][value=offers]'), true);
      assert.equal(await page.isChecked('input[name=topic][value=tips]'), true);
      assert.match((await page.textContent('main')) ?? '', /Trainingstipps/);

      await page.uncheck('input[name=topic][value=offers]');
      await page.uncheck('input[name=channel][value=email]');
      await Promise.all([page.waitForNavigation(), page.click('button[value=save]')]);
      assert.equal(await page.textContent('[role=status]'), 'Deine Einstellungen sind gespeichert.');
      assert.equal(await page.isChecked('input[name=topic][value=offers]'), false);
      const saved = await preferences('cem');
      assert.deepEqual([saved.marketing, saved.topics, saved.channels.email], [true, { offers: false, tips: true }, false]);

      mkdirSync(join(PROJECT_ROOT, 'test-artifacts'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      console.log(`preference page screenshot: ${SCREENSHOT}`);
      assert.ok(existsSync(SCREENSHOT));

      await Promise.all([page.waitForNavigation(), page.click('button[value=unsubscribe-all]')]);
      assert.equal((await preferences('cem')).marketing, false);
      assert.equal(await page.isChecked('input[name=marketing]'), false);

      const told = await waitFor('both page changes in the timeline', async () => {
        const entries = await timeline('cem');
        return entries.length >= 2 && entries;
      });
      assert.deepEqual(
        told.map((e) => [e.status, e.text]),
        [
          ['preference-page', 'preferences: topic offers off, channel email off (by the preference page)'],
          ['preference-page', 'preferences: all marketing off (by the preference page)'],
        ],
      );

      // A link that does not verify: a clear page, nothing else.
      const bad = await page.goto(`${base}/preferences/v1.e30.AAAA`);
      assert.equal(bad?.status(), 400);
    } finally {
      await context.close();
    }

    // English for a customer whose messages are in English.
    await newCustomer('dan', 'en-GB');
    const english = await fetch(`${base}/preferences/${signer.sign('preferences', { userId: 'dan' })}`);
    assert.match(await english.text(), /<h1>Your email preferences<\/h1>[\s\S]*Training tips/);
  });

  test('with MongoDB down, the API and the page answer 503 with Retry-After and change nothing', async () => {
    const token = signer.sign('unsubscribe', { userId: 'ada', topic: 'offers' });
    const ferret = servers.ferret;
    await ferret.stop();
    try {
      const put = await call('PUT', '/v1/customers/ada/preferences', { key: ADMIN_KEY, body: { topics: { offers: false } } });
      assert.equal(put.status, 503, JSON.stringify(put.body));
      assert.ok(Number(put.headers.get('retry-after')) > 0);
      const get = await call('GET', '/v1/customers/ada/preferences', { key: READ_KEY });
      assert.equal(get.status, 503);
      const oneClick = await fetch(`${base}/u/${token}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
      assert.equal(oneClick.status, 503, 'the mailbox provider is told to come back');
      assert.ok(Number(oneClick.headers.get('retry-after')) > 0);
    } finally {
      servers.ferret = await startFerretDb({ dataDir: join(servers.dataDir, 'ferretdb'), port: Number(ferret.address.split(':')[1]) });
    }
    await waitFor('the API to reach MongoDB again', async () => (await call('GET', '/v1/customers/ada/preferences', { key: READ_KEY })).status === 200, 30_000);
    assert.equal((await preferences('ada')).topics.offers, true, 'nothing was changed by the refused calls');
  });
});
