/**
 * The marketer dashboard in a real headless Chromium (playwright-core driving the system's /usr/bin/chromium)
 * against the whole stack: the Temporal dev server, FerretDB, our worker and API as processes. Journeys are
 * made through the API; the page must sign in with a key, show exactly the numbers GET /v1/kpis gives, link
 * each stage to the Temporal Web UI, and draw its charts without a console error or a failed request.
 * The screenshot lands in test-artifacts/dashboard.png.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from '../support/chromium.js';
import { bucketOf } from '../../src/core/ids.js';
import type { KpisWithFunnel } from '../../src/kpis/kpi-report.js';
import type { KpiTimeseries } from '../../src/kpis/kpi-timeseries.js';
import { freePort, PROJECT_ROOT } from '../../src/servers/local-servers.js';
import { runEntry, waitFor, type AppProcess } from '../support/processes.js';
import { apiCaller, startLocalServers, type LocalServers } from '../support/stack.js';

const WRITE_KEY = 'e2e-dash-writer-key-0123456789';
const READ_KEY = 'e2e-dash-reader-key-0123456789';
const SCREENSHOT = join(PROJECT_ROOT, 'test-artifacts', 'dashboard.png');
const CAMPAIGN = 'checkout_rescue';

/** The first `<name>-<i>` whose experiment bucket for the checkout campaign falls in [from, to): holdout is [0, 0.3). */
function idIn(name: string, from: number, to: number): string {
  for (let i = 0; i < 10_000; i++) {
    const id = `${name}-${i}`;
    const b = bucketOf(id, CAMPAIGN);
    if (b >= from && b < to) return id;
  }
  throw new Error(`no id for ${name} in [${from}, ${to})`);
}
const HOLDOUT: [number, number] = [0, 0.3];
const PLAIN: [number, number] = [0.3, 0.65];
const DISCOUNT: [number, number] = [0.65, 1];

type Kpis = KpisWithFunnel & { generatedAt: string };

interface DomNumbers {
  customers: [string | null, string | null];
  rates: Array<[string | null, string | null]>;
  funnel: Array<Record<'stage' | 'reached' | 'conversion' | 'now' | 'kind' | 'reachedText' | 'conversionText' | 'href' | 'label', string | null>>;
  campaigns: Array<
    Record<'campaign' | 'variant' | 'sent' | 'holdout' | 'converted' | 'rate' | 'lift' | 'rateText' | 'liftText' | 'delivered' | 'bounced' | 'opened' | 'clicked' | 'openRate' | 'clickRate', string | null>
  >;
  experiments: Array<Record<'campaign' | 'variant' | 'against' | 'enoughData' | 'probabilityToBeat' | 'chanceText', string | null>>;
  series: Record<string, string | undefined>;
}
/**
 * What the page shows, read in the page: the data-* attributes and the visible text. Plain JavaScript in a
 * string, because the TypeScript loader would wrap named functions in a helper the page does not have.
 */
const READ_DOM = `(() => {
  const attr = (el, name) => (el ? el.getAttribute(name) : null);
  const text = (el, selector) => (el && el.querySelector(selector) ? el.querySelector(selector).textContent : null);
  const card = (id) => document.querySelector('[data-testid="' + id + '"]');
  const link = (li) => li.querySelector('a');
  return {
    customers: [attr(card('customers'), 'data-value'), text(card('customers'), '.value')],
    rates: ['activation', 'repeatCustomer', 'loyalCustomer'].map((r) => [attr(card('rate-' + r), 'data-value'), text(card('rate-' + r), '.value')]),
    funnel: [...document.querySelectorAll('[data-testid="funnel-step"]')].map((li) => ({
      stage: attr(li, 'data-stage'),
      reached: attr(li, 'data-reached'),
      conversion: attr(li, 'data-conversion'),
      now: attr(li, 'data-now'),
      kind: attr(li, 'data-kind'),
      reachedText: text(li, '[data-testid="funnel-reached"]'),
      conversionText: text(li, '[data-testid="funnel-conversion"]'),
      href: link(li) ? link(li).getAttribute('href') : null,
      label: link(li) && link(li).firstChild ? link(li).firstChild.textContent : null,
    })),
    campaigns: [...document.querySelectorAll('[data-testid="campaign-variant"]')].map((tr) => ({
      campaign: attr(tr, 'data-campaign'),
      variant: attr(tr, 'data-variant'),
      sent: attr(tr, 'data-sent'),
      holdout: attr(tr, 'data-holdout'),
      converted: attr(tr, 'data-converted'),
      rate: attr(tr, 'data-rate'),
      lift: attr(tr, 'data-lift'),
      rateText: text(tr, '[data-testid="campaign-rate"]'),
      liftText: text(tr, '[data-testid="campaign-lift"]'),
      delivered: attr(tr, 'data-delivered'),
      bounced: attr(tr, 'data-bounced'),
      opened: attr(tr, 'data-opened'),
      clicked: attr(tr, 'data-clicked'),
      openRate: attr(tr, 'data-open-rate'),
      clickRate: attr(tr, 'data-click-rate'),
    })),
    experiments: [...document.querySelectorAll('[data-testid="experiment-row"]')].map((tr) => ({
      campaign: attr(tr, 'data-campaign'),
      variant: attr(tr, 'data-variant'),
      against: attr(tr, 'data-against'),
      enoughData: attr(tr, 'data-enough-data'),
      probabilityToBeat: attr(tr, 'data-probability-to-beat'),
      chanceText: text(tr, '[data-testid="experiment-chance"]'),
    })),
    series: Object.fromEntries(['points', 'interval', 'lastActivation', 'lastRepeatCustomer', 'lastLoyalCustomer'].map((n) => [n, document.querySelector('#rates').dataset[n]])),
  };
})()`;

// Skipped only when asked to (LIFECYCLE_SKIP_BROWSER=1, as for the install); a missing browser otherwise fails.
const skip = process.env.LIFECYCLE_SKIP_BROWSER === '1' ? 'LIFECYCLE_SKIP_BROWSER=1' : false;

describe('the marketer dashboard in headless Chromium', { skip }, () => {
  let servers: LocalServers;
  let worker: AppProcess;
  let api: AppProcess;
  let base: string;
  let uiUrl: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const call = apiCaller(() => base);
  const withOutput = (err: unknown) =>
    new Error(`${(err as Error).message}\nAPI output:\n${api?.output()}\nworker output:\n${worker?.output()}`, { cause: err });

  // Seven customers across the stages; the checkout experiment reaches five (two held out).
  const customers = {
    prospect: 'pia',
    trial: 'tom',
    plainConverts: idIn('sue', ...PLAIN),
    plainStays: idIn('cal', ...PLAIN),
    discountLoyal: idIn('lou', ...DISCOUNT),
    holdoutConvertsThenChurns: idIn('hal', ...HOLDOUT),
    holdoutStays: idIn('hol', ...HOLDOUT),
  };
  const scripts: Array<[string, Array<[string, Record<string, unknown>?]>]> = [
    [customers.prospect, [['Signed Up']]],
    [customers.trial, [['Signed Up'], ['Trial Started']]],
    [customers.plainConverts, [['Signed Up'], ['Trial Started'], ['Checkout Started'], ['Subscription Started', { plan: 'light' }]]],
    [customers.plainStays, [['Signed Up'], ['Trial Started'], ['Checkout Started']]],
    [customers.discountLoyal, [['Signed Up'], ['Checkout Started'], ['Subscription Started', { plan: 'full' }], ['Subscription Renewed'], ['Subscription Renewed']]],
    [customers.holdoutConvertsThenChurns, [['Signed Up'], ['Checkout Started'], ['Subscription Started', { plan: 'light' }], ['Subscription Cancelled']]],
    [customers.holdoutStays, [['Signed Up'], ['Checkout Started']]],
  ];

  const kpis = async (): Promise<Kpis> => {
    const res = await call('GET', '/v1/kpis', { key: READ_KEY });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as Kpis;
  };

  const checkoutSettled = (userId: string) =>
    waitFor(`the checkout message of ${userId} to settle`, async () => {
      const res = await call('GET', `/v1/customers/${userId}`, { key: READ_KEY });
      const messages = (res.body?.journey?.messages ?? []) as Array<{ campaignId: string; status: string }>;
      return messages.some((m) => m.campaignId === CAMPAIGN && (m.status === 'sent' || m.status === 'holdout'));
    }).catch((err) => {
      throw withOutput(err);
    });

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/install-browser.sh (as root, or with passwordless sudo)`);
    servers = await startLocalServers('lifecycle-e2e-dashboard-', 'SG.unused');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    uiUrl = servers.temporal.uiUrl;
    const env = {
      TEMPORAL_ADDRESS: servers.temporal.address,
      TEMPORAL_UI_URL: uiUrl,
      MONGODB_URI: servers.ferret.uri('lifecycle_e2e_dashboard'),
      TASK_QUEUE: 'lifecycle-e2e-dashboard',
      DEFINITION_FILE: 'test/fixtures/dashboard-demo.yaml',
      API_PORT: String(port),
      API_KEYS: `${WRITE_KEY}=events:write,${READ_KEY}=customers:read`,
      UPSTREAM_TIMEOUT_MS: '5000',
    };
    worker = runEntry('src/worker/main.ts', env);
    api = runEntry('src/api/main.ts', env);
    await waitFor('the API to be ready', async () => (await call('GET', '/readyz')).status === 200, 60_000).catch((err) => {
      throw withOutput(err);
    });
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    await Promise.all([api?.stop(), worker?.stop()]);
    await servers?.stop();
  });

  test('journeys made through the API reach the read model: the KPIs the page must show', async () => {
    for (const [userId, events] of scripts) {
      const identified = await call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId, traits: { email: `${userId}@example.com`, firstName: userId } } });
      assert.equal(identified.status, 200, JSON.stringify(identified.body));
      let n = 0;
      for (const [event, properties] of events) {
        const res = await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId, event, messageId: `${userId}-${++n}`, ...(properties ? { properties } : {}) } });
        assert.equal(res.status, 202, JSON.stringify(res.body));
        // A conversion is attributed to a message that went out: let the delivery finish before the goal event.
        if (event === 'Checkout Started') await checkoutSettled(userId);
      }
    }
    const funnelOf = (k: Kpis) => k.funnel.map((f) => [f.stage, f.reached, f.conversion, f.kind]);
    const checkoutOf = (k: Kpis) =>
      k.campaigns.find((c) => c.campaignId === CAMPAIGN)?.variants.map((v) => [v.variant, v.sent, v.holdout, v.converted, v.conversionRate, v.lift]);
    await waitFor(
      'the journeys in the read model',
      async () => {
        const k = await kpis();
        assert.deepEqual(k.customersPerStage, { churned: 1, loyal: 1, prospect: 2, subscriber: 1, trial: 2 });
        assert.deepEqual(funnelOf(k), [
          ['prospect', 7, null, 'step'],
          ['trial', 3, 42.9, 'step'],
          ['subscriber', 3, 100, 'step'],
          ['loyal', 1, 33.3, 'step'],
          ['lapsed', 0, null, 'exit'],
          ['churned', 1, null, 'exit'],
        ]);
        assert.deepEqual(checkoutOf(k), [
          ['discount', 1, 0, 1, 100, 100],
          ['plain', 2, 0, 1, 50, 0],
          ['holdout', 0, 2, 1, 50, null],
        ]);
        assert.equal(k.campaigns.find((c) => c.campaignId === 'welcome')?.variants[0]?.sent, 7);
        return true;
      },
      60_000,
    ).catch((err) => {
      throw withOutput(err);
    });
    const k = await kpis();
    assert.deepEqual(k.counts, { paying: 3, repeat: 1, loyal: 1, reactivated: 0 });
    assert.deepEqual(k.rates, { activation: 42.9, repeatCustomer: 33.3, loyalCustomer: 100 });
  });

  test('without a session the page asks for a key; a wrong key and a key without customers:read are refused', async () => {
    const first = await page.goto(`${base}/dashboard`);
    assert.equal(first?.status(), 401);
    assert.match(first?.headers()['content-security-policy'] ?? '', /script-src 'self'/);
    assert.equal(await page.locator('[data-testid="sign-in-form"]').count(), 1);

    await page.fill('#key', 'not-a-key-of-ours-at-all');
    const wrong = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/dashboard/session')), page.click('button[type="submit"]')]);
    assert.equal(wrong[0].status(), 401);
    assert.equal(await page.textContent('[data-testid="sign-in-problem"]'), 'that key was not accepted');

    await page.fill('#key', WRITE_KEY);
    const writer = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/dashboard/session')), page.click('button[type="submit"]')]);
    assert.equal(writer[0].status(), 403);
    assert.equal(await page.textContent('[data-testid="sign-in-problem"]'), 'this key lacks the scope customers:read');
    assert.deepEqual(await context.cookies(), [], 'no session for a refused key');

    const data = await fetch(`${base}/dashboard/data`);
    assert.equal(data.status, 401, 'the data need a session or a key');
  });

  test('the right key opens the dashboard: every number equals GET /v1/kpis, stages link to the Temporal UI, the charts are drawn', async () => {
    const consoleErrors: string[] = [];
    const failed: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (err) => consoleErrors.push(`pageerror: ${err.message}`));
    page.on('requestfailed', (r) => failed.push(`${r.url()}: ${r.failure()?.errorText}`));
    page.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.url()}: HTTP ${r.status()}`);
    });

    await page.fill('#key', READ_KEY);
    await Promise.all([page.waitForURL(`${base}/dashboard`), page.click('button[type="submit"]')]);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });

    const [cookie] = await context.cookies();
    assert.ok(cookie, 'a session cookie');
    assert.deepEqual([cookie.name, cookie.path, cookie.httpOnly, cookie.sameSite], ['lifecycle_dashboard', '/dashboard', true, 'Strict']);
    assert.notEqual(cookie.value, READ_KEY);
    assert.match(cookie.value, /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/, 'a signed session token, not the key');

    const k = await kpis();
    const seriesRes = await call('GET', '/v1/kpis/timeseries?interval=day', { key: READ_KEY });
    assert.equal(seriesRes.status, 200);
    const series = seriesRes.body as KpiTimeseries;
    const dom = (await page.evaluate(READ_DOM)) as DomNumbers;

    const num = (v: number | null) => (v === null ? '' : String(v));
    const pct = (v: number | null) => (v === null ? '–' : `${v}%`);
    assert.deepEqual(dom.customers, [String(k.customers), String(k.customers)]);
    assert.deepEqual(dom.rates, [
      [num(k.rates.activation), pct(k.rates.activation)],
      [num(k.rates.repeatCustomer), pct(k.rates.repeatCustomer)],
      [num(k.rates.loyalCustomer), pct(k.rates.loyalCustomer)],
    ]);
    assert.deepEqual(
      dom.funnel,
      k.funnel.map((f) => ({
        stage: f.stage,
        reached: String(f.reached),
        conversion: num(f.conversion),
        now: String(k.customersPerStage[f.stage] ?? 0),
        kind: f.kind,
        reachedText: String(f.reached),
        conversionText: f.kind === 'exit' ? `exit · ${pct(f.shareOfCustomers)} of customers` : f.conversion === null ? 'entry' : `${pct(f.conversion)} of previous`,
        href: `${uiUrl}/namespaces/default/workflows?query=${encodeURIComponent(`LifecycleStage="${f.stage}"`)}`,
        label: f.label,
      })),
    );
    assert.equal(dom.funnel[1]!.href, `${uiUrl}/namespaces/default/workflows?query=LifecycleStage%3D%22trial%22`);
    const signed = (v: number | null) => (v === null ? '–' : `${v > 0 ? '+' : ''}${v}%`);
    assert.deepEqual(
      dom.campaigns,
      k.campaigns.flatMap((c) =>
        c.variants.map((v) => ({
          campaign: c.campaignId,
          variant: v.variant,
          sent: String(v.sent),
          holdout: String(v.holdout),
          converted: String(v.converted),
          rate: num(v.conversionRate),
          lift: num(v.lift),
          rateText: pct(v.conversionRate),
          liftText: signed(v.lift),
          delivered: String(v.delivered),
          bounced: String(v.bounced),
          opened: String(v.opened),
          clicked: String(v.clicked),
          openRate: num(v.openRate),
          clickRate: num(v.clickRate),
        })),
      ),
    );
    assert.ok(dom.campaigns.some((c) => c.variant === 'holdout') && dom.campaigns.some((c) => c.lift === '100'), 'a holdout and a lift are shown');
    // Experiments with confidence: every comparison GET /v1/kpis makes, and a handful of customers is "not enough data".
    assert.deepEqual(
      dom.experiments,
      k.campaigns.flatMap((c) =>
        c.variants.flatMap((v) =>
          v.comparisons.map((comparison) => ({
            campaign: c.campaignId,
            variant: v.variant,
            against: comparison.against,
            enoughData: String(comparison.enoughData),
            probabilityToBeat: comparison.enoughData ? String(comparison.probabilityToBeat) : '',
            chanceText: comparison.enoughData ? `${Math.round(comparison.probabilityToBeat * 1000) / 10}%` : `not enough data (under ${comparison.minimumGroupSize} in a group)`,
          })),
        ),
      ),
    );
    assert.ok(dom.experiments.some((e) => e.against === 'holdout' && e.enoughData === 'false'), 'a small experiment says "not enough data"');
    // The rates over time end where the KPIs are now.
    assert.deepEqual(series.points.at(-1)?.rates, k.rates);
    assert.deepEqual(dom.series, {
      points: String(series.points.length),
      interval: 'day',
      lastActivation: num(k.rates.activation),
      lastRepeatCustomer: num(k.rates.repeatCustomer),
      lastLoyalCustomer: num(k.rates.loyalCustomer),
    });

    const charts = await page.evaluate(() => {
      const chartJs = (window as unknown as { Chart: { getChart(id: string): { config: { type: string }; data: { datasets: Array<{ data: unknown[] }> } } | undefined } }).Chart;
      return ['funnel-chart', 'rates-chart', 'campaigns-chart'].map((id) => {
        const canvas = document.getElementById(id) as HTMLCanvasElement;
        const chart = chartJs.getChart(id);
        return { id, width: canvas.width, height: canvas.height, type: chart?.config.type ?? null, data: chart?.data.datasets.map((d) => d.data) ?? null };
      });
    });
    const rows = k.campaigns.flatMap((c) => c.variants);
    assert.deepEqual(
      charts.map((c) => [c.id, c.type, c.data]),
      [
        ['funnel-chart', 'bar', [k.funnel.map((f) => f.reached)]],
        ['rates-chart', 'line', (['activation', 'repeatCustomer', 'loyalCustomer'] as const).map((r) => series.points.map((p) => p.rates[r]))],
        [
          'campaigns-chart',
          'bar',
          [
            rows.map((v) => (v.variant === 'holdout' ? null : v.sent)),
            rows.map((v) => (v.variant === 'holdout' ? v.holdout : null)),
            rows.map((v) => v.converted),
          ],
        ],
      ],
    );
    for (const c of charts) assert.ok(c.width > 0 && c.height > 0, `${c.id} has a size`);

    // The weekly view asks for the data again.
    await Promise.all([page.waitForResponse((r) => r.url().includes('/dashboard/data?interval=week')), page.click('[data-interval="week"]')]);
    await page.waitForSelector('#rates[data-interval="week"]');
    await page.waitForSelector('body[data-state="ready"]');

    mkdirSync(join(PROJECT_ROOT, 'test-artifacts'), { recursive: true });
    await page.click('[data-interval="day"]');
    await page.waitForSelector('#rates[data-interval="day"]');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`dashboard screenshot: ${SCREENSHOT}`);
    assert.ok(existsSync(SCREENSHOT));

    assert.deepEqual(consoleErrors, [], 'no console errors or warnings');
    assert.deepEqual(failed, [], 'no failed requests');
  });

  test('scripts may send the key as a Bearer header: /dashboard/data is /v1/kpis with the rates over time and the stage links', async () => {
    const res = await call('GET', '/dashboard/data?interval=week', { key: READ_KEY });
    assert.equal(res.status, 200);
    const data = res.body as Kpis & { timeseries: KpiTimeseries; links: { temporalUi: Record<string, string> }; journey: { name: string }; rejected: { count: number } };
    const { generatedAt: _a, ...now } = await kpis();
    const { generatedAt: _b, timeseries, links, journey, rejected, ...rest } = data;
    assert.equal(rejected.count, 0, 'no refused calls: the card of the last 24 hours says none');
    assert.deepEqual(rest, now);
    assert.equal(timeseries.interval, 'week');
    assert.deepEqual(timeseries.points.at(-1)?.rates, now.rates);
    assert.deepEqual(journey, { name: 'Dashboard demo' });
    assert.equal(links.temporalUi.loyal, `${uiUrl}/namespaces/default/workflows?query=${encodeURIComponent('LifecycleStage="loyal"')}`);
    assert.equal((await call('GET', '/dashboard/data', { key: WRITE_KEY })).status, 403);
    assert.equal((await call('GET', '/dashboard/data?interval=hour', { key: READ_KEY })).status, 400);
    // Assets are a fixed list: Chart.js from the installed package, nothing else by name.
    const chartJs = await fetch(`${base}/dashboard/assets/chart.umd.js`);
    assert.deepEqual([chartJs.status, chartJs.headers.get('content-type')], [200, 'text/javascript; charset=utf-8']);
    assert.match(await chartJs.text(), /Chart\.js v4/);
    for (const name of ['constructor', '..%2Fpages.ts', 'chart.js']) assert.equal((await fetch(`${base}/dashboard/assets/${name}`)).status, 404, name);
  });

  test('signing out ends the session on every instance: the old cookie opens nothing, a tampered one never did', async () => {
    const [cookie] = await context.cookies();
    assert.ok(cookie);
    const [v, payload, signature] = cookie.value.split('.') as [string, string, string];
    const tampered = `${v}.${payload.slice(0, -1)}${payload.endsWith('A') ? 'B' : 'A'}.${signature}`;
    assert.equal((await fetch(`${base}/dashboard/data`, { headers: { cookie: `${cookie.name}=${tampered}` } })).status, 401);
    assert.equal((await fetch(`${base}/dashboard/data`, { headers: { cookie: `${cookie.name}=${cookie.value}` } })).status, 200, 'a copy works while signed in');
    const signedOut = await Promise.all([page.waitForResponse((r) => r.url() === `${base}/dashboard` && r.request().method() === 'GET'), page.click('[data-testid="sign-out"]')]);
    assert.equal(signedOut[0].status(), 401);
    assert.equal(await page.locator('[data-testid="sign-in-form"]').count(), 1);
    assert.deepEqual(await context.cookies(), []);
    // Sessions are signed tokens any API instance accepts; a sign-out is recorded in MongoDB, so a copy of the
    // cookie taken before is refused too (docs/security.md, browser sessions).
    const stale = await fetch(`${base}/dashboard/data`, { headers: { cookie: `${cookie.name}=${cookie.value}` } });
    assert.equal(stale.status, 401);
    const crossSite = await fetch(`${base}/dashboard/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://elsewhere.example' },
      body: new URLSearchParams({ key: READ_KEY }),
    });
    assert.equal(crossSite.status, 403, 'a sign-in posted from another site is refused');
    assert.equal(crossSite.headers.get('set-cookie'), null);
  });
});
