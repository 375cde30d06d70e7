/**
 * The journey map at /dashboard/journey in a real headless Chromium (playwright-core driving the system's
 * /usr/bin/chromium), served by the API over the real MongoDB-compatible server: the CoachingLive journey
 * drawn with the read model's figures, a stage linking to the Temporal Web UI's list, the version picker,
 * and the side-by-side view of what changed between two versions. Screenshots land in test-artifacts/.
 */
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { createApp } from '../../src/api/app.js';
import type { CustomerService } from '../../src/api/customer-service.js';
import type { JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import { DefinitionStore } from '../../src/definition-store/definition-store.js';
import { parseDefinition } from '../../src/definition-store/load-definition.js';
import { KpiReport, kpiPlanOf } from '../../src/kpis/kpi-report.js';
import { readDefaultBehaviourModel } from '../../src/sim/behaviour-model.js';
import { PROJECT_ROOT } from '../../src/servers/local-servers.js';
import { coachingLive } from '../support/definitions.js';
import { startTestDatabase, type TestDatabase } from '../support/database.js';

const KEY = 'e2e-journey-map-key-0123456789';
const ARTIFACTS = join(PROJECT_ROOT, 'test-artifacts');
const UI = 'http://localhost:8233';

describe('the journey map in Chromium', () => {
  let db: TestDatabase;
  let server: Server;
  let base: string;
  let browser: Browser;
  let page: Page;
  let store: DefinitionStore;
  let candidateVersion: string;
  const problems: string[] = [];

  before(async () => {
    db = await startTestDatabase('lifecycle_journey_map');
    const seed = await coachingLive();
    store = new DefinitionStore(db.models, seed);
    await store.publish();
    // A second version: the 7-day reminder dropped, the nudge's experiment reweighted, a new win-back stage hook.
    const raw = seed.raw as JourneyDefinitionInput;
    const candidate = parseDefinition({
      ...raw,
      campaigns: (raw.campaigns ?? [])
        .filter((c) => c.id !== 'trial_ending_7d')
        .map((c) => (c.id === 'prospect_nudge' && c.experiment ? { ...c, experiment: { ...c.experiment, holdout: 0.2 } } : c)),
    });
    candidateVersion = candidate.version;
    await store.makeLive({ loaded: candidate, kind: 'publish', by: 'e2e', note: 'one trial reminder; bigger nudge holdout', expectedFrom: seed.version });

    // The read model: customers standing in stages, stage entries, messages sent and skipped, conversions.
    const now = Date.now();
    const at = (hoursAgo: number) => new Date(now - hoursAgo * 3_600_000);
    const stand: Array<[string, number]> = [['prospect', 14], ['trial', 31], ['subscriber', 22], ['loyal', 6], ['lapsed', 5], ['churned', 9]];
    let u = 0;
    const journeys = [];
    const facts: Array<Record<string, unknown>> = [];
    for (const [stage, count] of stand) {
      for (let i = 0; i < count; i++) {
        const userId = `map-${u++}`;
        journeys.push({ _id: userId, seq: 1, definitionVersion: seed.version, stage, stageEnteredAt: at(i * 5), startedAt: at(200), payments: 0 });
        facts.push({ _id: `${userId}:stage`, kind: 'stage', userId, at: at(i * 5), stage, from: null, cause: { kind: 'event', event: 'x' } });
      }
    }
    const message = (campaignId: string, status: string, n: number, reason?: string, variant: string | null = null) => {
      for (let i = 0; i < n; i++) facts.push({ _id: `${campaignId}:${status}:${reason ?? ''}:${i}`, kind: 'message', userId: `map-${i}`, at: at(i + 1), key: `k-${campaignId}-${status}-${i}-${reason ?? ''}`, campaignId, variant, messageKind: 'marketing', status, ...(reason ? { reason } : {}) });
    };
    message('welcome', 'sent', 60);
    message('prospect_nudge', 'sent', 21, undefined, 'friendly');
    message('prospect_nudge', 'holdout', 4, undefined, 'holdout');
    message('prospect_nudge', 'skipped', 7, 'outside the send window', 'friendly');
    message('prospect_nudge', 'skipped', 3, 'frequency cap reached', 'friendly');
    message('trial_ending_1d', 'sent', 12);
    message('trial_ending_1d', 'skipped', 2, 'no marketing consent');
    for (let i = 0; i < 5; i++) facts.push({ _id: `conv-${i}`, kind: 'conversion', userId: `map-${i}`, at: at(i + 2), campaignId: 'prospect_nudge', variant: 'friendly', goalEvent: 'Trial Started', messageKey: `k-${i}` });
    await db.models.JourneyRecord.insertMany(journeys);
    await db.models.JourneyFactRecord.insertMany(facts);

    const app = createApp({
      customers: {} as CustomerService,
      apiKeys: new Map([[KEY, new Set(['customers:read', 'definitions:read'] as const)]]),
      logger: pino({ level: 'silent' }),
      temporalUiUrl: UI,
      namespace: 'default',
      reports: new KpiReport({ models: db.models, plan: kpiPlanOf(seed.definition) }),
      definitions: { store, models: db.models, defaultModel: await readDefaultBehaviourModel() },
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1900, height: 1000 } })).newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('requestfailed', (r) => problems.push(`${r.url()}: ${r.failure()?.errorText}`));
  });

  after(async () => {
    await browser?.close();
    server?.close();
    await db?.teardown();
  });

  test('signed out, the map asks for the key', async () => {
    const res = await fetch(`${base}/dashboard/journey`);
    assert.equal(res.status, 401);
  });

  test('the live version drawn with live figures; a stage opens its customers in the Temporal UI', async () => {
    await page.goto(`${base}/dashboard`);
    await page.fill('#key', KEY);
    await page.click('button[type="submit"]');
    await page.waitForURL(`${base}/dashboard`);
    // The dashboard loads its figures after the page; leaving before they arrive would abort that request.
    await page.waitForLoadState('networkidle');
    problems.length = 0; // the sign-in page itself answers 401
    await page.click('[data-testid="journey-map-link"]');
    await page.waitForSelector('[data-testid="journey-map"]');
    assert.equal(await page.textContent('[data-testid="map-version"]'), candidateVersion);

    const stages = await page.$$eval('[data-testid="map-stage"]', (els) => els.map((e) => [e.getAttribute('data-stage'), e.getAttribute('data-now'), e.getAttribute('data-entered'), e.getAttribute('href')]));
    assert.deepEqual(
      stages.map(([s, now]) => [s, now]),
      [['prospect', '14'], ['trial', '31'], ['subscriber', '22'], ['loyal', '6'], ['lapsed', '5'], ['churned', '9']],
    );
    // Entered in the last 7 days: every 5 hours back from now, so all 31 trial entries (150 hours) are in it.
    assert.equal(stages.find(([s]) => s === 'trial')![2], '31');
    assert.equal(stages[1]![3], `${UI}/namespaces/default/workflows?query=${encodeURIComponent('LifecycleStage="trial"')}`);

    const nudge = await page.$eval('[data-testid="map-campaign"][data-campaign="prospect_nudge"]', (e) => ({
      sent: e.getAttribute('data-sent'),
      skipped: e.getAttribute('data-skipped'),
      converted: e.getAttribute('data-converted'),
      heldOut: e.getAttribute('data-held-out'),
      experiment: e.getAttribute('data-experiment'),
      text: e.textContent,
    }));
    assert.deepEqual([nudge.sent, nudge.skipped, nudge.converted, nudge.heldOut], ['21', '10', '5', '4']);
    assert.match(nudge.experiment ?? '', /holdout 20%/);
    assert.match(nudge.text ?? '', /skipped 7: outside the send window/);
    assert.equal(await page.locator('[data-testid="map-campaign"][data-campaign="trial_ending_7d"]').count(), 0, 'not in this version');
    const transitions = await page.locator('[data-testid="map-transition"]').count();
    assert.equal(transitions, (await coachingLive()).definition.transitions.length);
    await page.screenshot({ path: join(ARTIFACTS, 'journey-map.png'), fullPage: true });
    assert.deepEqual(problems, []);
  });

  test('the picker shows an earlier version; the side-by-side view says what changed', async () => {
    await page.selectOption('[data-testid="map-version-select"]', candidateVersion);
    await page.selectOption('[data-testid="map-compare-select"]', store.current.version);
    await page.click('[data-testid="map-picker"] button[type="submit"]');
    await page.waitForSelector('[data-testid="map-diff"]');
    const changes = await page.$$eval('[data-testid="map-change"]', (els) => els.map((e) => `${e.getAttribute('data-change')} ${e.getAttribute('data-subject')} ${e.getAttribute('data-id')}`));
    assert.deepEqual(changes.sort(), ['changed campaign prospect_nudge', 'removed campaign trial_ending_7d']);
    const row = await page.textContent('[data-testid="map-change"][data-id="prospect_nudge"]');
    assert.match(row ?? '', /holdout 10%[\s\S]*holdout 20%/);
    await page.screenshot({ path: join(ARTIFACTS, 'journey-map-diff.png'), fullPage: true });

    await page.selectOption('[data-testid="map-version-select"]', store.current.version);
    await page.selectOption('[data-testid="map-compare-select"]', '');
    await page.click('[data-testid="map-picker"] button[type="submit"]');
    await page.waitForSelector('[data-testid="journey-map"]');
    assert.equal(await page.textContent('[data-testid="map-version"]'), store.current.version);
    assert.equal(await page.locator('[data-testid="map-campaign"][data-campaign="trial_ending_7d"]').count(), 1);
    assert.deepEqual(problems, []);
  });
});
