/**
 * The funnel and the rates over time (KpiReport, GET /v1/kpis, GET /v1/kpis/timeseries) over a read model
 * the real core wrote: CoachingLive journeys driven through the pure core with fixed times, their record
 * batches written by the real recordJourney activity into the MongoDB-compatible server (embedded FerretDB).
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { pino } from 'pino';
import { createReadModelActivities } from '../../activities/read-model-activities.js';
import { createApp } from '../../src/api/app.js';
import { CustomerService } from '../../src/api/customer-service.js';
import type { Scope } from '../../src/config/config.js';
import type { ReadModelBatch } from '../../src/core/journey-facts.js';
import type { JourneyCommand, JourneyInput, JourneyState } from '../../src/core/journey-state.js';
import { startJourney, step } from '../../src/core/journey-reducer.js';
import { nextDeadline } from '../../src/core/deadlines.js';
import { loadDefinitionFile } from '../../src/definition-store/load-definition.js';
import { computeKpis } from '../../src/kpis/compute-kpis.js';
import { KpiReport, kpiPlanOf } from '../../src/kpis/kpi-report.js';
import { startTestDatabase, type TestDatabase } from '../support/database.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 5); // a Monday
const at = (day: number, hour = 12) => T0 + day * DAY + hour * HOUR;
const NOW = at(10);
const loaded = await loadDefinitionFile('definitions/coachinglive.yaml');

/** Drives one journey through the core as the workflow does (segments and deliveries answered at once) and keeps its record batches. */
function journey(userId: string, start: number, events: Array<[number, string, Record<string, unknown>?]>): ReadModelBatch[] {
  const batches: ReadModelBatch[] = [];
  const queue: JourneyInput[] = [];
  const take = (input: JourneyInput, commands: JourneyCommand[]) => {
    for (const c of commands) {
      if (c.type === 'record') batches.push(c.batch);
      else if (c.type === 'evaluateSegments' || c.type === 'syncComputedTraits') queue.push({ type: 'segments', now: input.now, segments: ['reachable_by_email'] });
      else queue.push({ type: 'delivery', now: input.now, key: c.request.key, outcome: { status: 'sent', provider: 'outbox' } });
    }
  };
  const started = startJourney(loaded.plan, userId, start);
  let state: JourneyState = started.state;
  const run = (input: JourneyInput) => {
    queue.push(input);
    while (queue.length > 0) {
      const next = queue.shift()!;
      const result = step(loaded.plan, state, next);
      state = result.state;
      take(next, result.commands);
    }
  };
  take({ type: 'tick', now: start }, started.commands);
  run({ type: 'tick', now: start });
  let n = 0;
  for (const [when, event, properties] of events) {
    for (let d = nextDeadline(state); d && d.at <= when; d = nextDeadline(state)) run({ type: 'tick', now: d.at });
    run({ type: 'event', now: when, event: { messageId: `${userId}-${++n}`, event, ...(properties ? { properties } : {}) } });
  }
  for (let d = nextDeadline(state); d && d.at <= NOW; d = nextDeadline(state)) run({ type: 'tick', now: d.at });
  return batches;
}

describe('KPI funnel and rates over time, over a read model the core wrote', () => {
  let db: TestDatabase & { stopServer(): Promise<void> };
  let report: KpiReport;

  before(async () => {
    db = await startTestDatabase('kpi_report_test');
    report = new KpiReport({ models: db.models, plan: kpiPlanOf(loaded.definition) });
    const { recordJourney } = createReadModelActivities({ models: db.models, logger: pino({ level: 'silent' }) });
    const customers = [
      journey('ann', at(0, 9), [[at(0, 9), 'Signed Up']]),
      journey('ben', at(0, 10), [
        [at(0, 10), 'Signed Up'],
        [at(1), 'Trial Started'],
      ]),
      journey('cat', at(0, 11), [
        [at(0, 11), 'Signed Up'],
        [at(1), 'Trial Started'],
        [at(2), 'Subscription Started', { plan: 'light' }],
      ]),
      // Subscribes without a trial, renews three times (loyal on day 6), cancels on day 8.
      journey('dan', at(1, 8), [
        [at(1, 8), 'Signed Up'],
        [at(1, 9), 'Subscription Started', { plan: 'full' }],
        [at(3), 'Subscription Renewed'],
        [at(5), 'Workout Logged'],
        [at(5, 13), 'Subscription Renewed'],
        [at(6), 'Subscription Renewed'],
        [at(8), 'Subscription Cancelled'],
      ]),
      // Loyal from day 5 on.
      journey('eve', at(2, 8), [
        [at(2, 8), 'Signed Up'],
        [at(2, 9), 'Subscription Started', { plan: 'light' }],
        [at(3, 9), 'Subscription Renewed'],
        [at(4), 'Workout Logged'],
        [at(4, 13), 'Subscription Renewed'],
        [at(5), 'Subscription Renewed'],
      ]),
    ];
    // Out of order across customers, as activities land: the fold must not care.
    for (const batch of customers.flat().reverse()) await recordJourney(batch);
  });

  after(async () => {
    await db?.teardown();
  });

  test('the KPIs and the funnel: ever-reached counts in the definition order, conversion from the previous step', async () => {
    const kpis = await report.kpis();
    assert.deepEqual(kpis.customersPerStage, { churned: 1, loyal: 1, prospect: 1, subscriber: 1, trial: 1 });
    assert.deepEqual(kpis.counts, { paying: 3, repeat: 2, loyal: 1, reactivated: 0 });
    assert.deepEqual(kpis.rates, { activation: 60, repeatCustomer: 66.7, loyalCustomer: 50 });
    assert.deepEqual(
      kpis.funnel.map((f) => [f.stage, f.reached, f.conversion, f.shareOfCustomers, f.kind]),
      [
        ['prospect', 5, null, 100, 'step'],
        ['trial', 2, 40, 40, 'step'],
        ['subscriber', 3, 150, 60, 'step'], // dan and eve subscribed without a trial
        ['loyal', 2, 66.7, 40, 'step'],
        ['lapsed', 0, null, 0, 'exit'],
        ['churned', 1, null, 20, 'exit'],
      ],
    );
    const { funnel: _funnel, ...rest } = kpis;
    assert.deepEqual(rest, await computeKpis(db.models), 'the KPIs are those of computeKpis, plus the funnel');
  });

  test('daily: each point as it stood at the end of its day; the last one, as of now, has the KPIs rates', async () => {
    const series = await report.timeseries({ interval: 'day' }, NOW);
    assert.equal(series.from, new Date(at(0, 9)).toISOString(), 'from the first journey');
    assert.equal(series.to, new Date(NOW).toISOString());
    assert.deepEqual(
      series.points.map((p) => [p.period.slice(0, 10), p.customers, p.paying, p.repeat, p.loyal, p.rates.activation, p.rates.repeatCustomer, p.rates.loyalCustomer]),
      [
        ['2026-01-05', 3, 0, 0, 0, 0, null, null],
        ['2026-01-06', 4, 1, 0, 0, 25, 0, null],
        ['2026-01-07', 5, 3, 0, 0, 60, 0, null],
        ['2026-01-08', 5, 3, 2, 0, 60, 66.7, 0],
        ['2026-01-09', 5, 3, 2, 0, 60, 66.7, 0],
        ['2026-01-10', 5, 3, 2, 1, 60, 66.7, 50],
        ['2026-01-11', 5, 3, 2, 2, 60, 66.7, 100],
        ['2026-01-12', 5, 3, 2, 2, 60, 66.7, 100],
        ['2026-01-13', 5, 3, 2, 1, 60, 66.7, 50],
        ['2026-01-14', 5, 3, 2, 1, 60, 66.7, 50],
        ['2026-01-15', 5, 3, 2, 1, 60, 66.7, 50],
      ],
    );
    const last = series.points.at(-1)!;
    assert.equal(last.asOf, new Date(NOW).toISOString());
    const kpis = await report.kpis();
    assert.deepEqual([last.customers, last.paying, last.repeat, last.loyal], [kpis.customers, kpis.counts.paying, kpis.counts.repeat, kpis.counts.loyal]);
    assert.deepEqual(last.rates, kpis.rates);
  });

  test('weekly, and a range asked for', async () => {
    const weekly = await report.timeseries({ interval: 'week' }, NOW);
    assert.deepEqual(
      weekly.points.map((p) => [p.period.slice(0, 10), p.asOf, p.customers, p.loyal]),
      [
        ['2026-01-05', '2026-01-11T23:59:59.999Z', 5, 2],
        ['2026-01-12', new Date(NOW).toISOString(), 5, 1],
      ],
    );
    const ranged = await report.timeseries({ interval: 'day', from: at(3, 0), to: at(4, 0) }, NOW);
    assert.deepEqual(
      ranged.points.map((p) => [p.period.slice(0, 10), p.asOf, p.customers, p.repeat]),
      [
        ['2026-01-08', '2026-01-08T23:59:59.999Z', 5, 2],
        ['2026-01-09', '2026-01-09T00:00:00.000Z', 5, 2],
      ],
    );
  });

  test('over HTTP: GET /v1/kpis has the funnel, GET /v1/kpis/timeseries validates its query; both need customers:read and answer 503 without MongoDB', async () => {
    const customers = new CustomerService({
      client: undefined as unknown as Client, // KPIs never touch Temporal
      models: db.models,
      taskQueue: 'kpi-report-test',
      definition: { id: 'coachinglive' },
      upstreamTimeoutMs: 1_000,
    });
    const apiKeys = new Map<string, Set<Scope>>([
      ['reader-key-0123456789', new Set<Scope>(['customers:read'])],
      ['writer-key-0123456789', new Set<Scope>(['events:write'])],
    ]);
    const app = createApp({ customers, apiKeys, logger: pino({ level: 'silent' }), temporalUiUrl: 'http://ui', namespace: 'default', reports: report });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const get = async (path: string, key?: string) => {
      const res = await fetch(`${base}${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
      return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
    };
    const reader = 'reader-key-0123456789';
    try {
      const kpis = await get('/v1/kpis', reader);
      assert.equal(kpis.status, 200);
      assert.deepEqual((kpis.body.funnel as Array<{ stage: string }>).map((f) => f.stage), ['prospect', 'trial', 'subscriber', 'loyal', 'lapsed', 'churned']);

      assert.equal((await get('/v1/kpis/timeseries')).status, 401);
      assert.equal((await get('/v1/kpis/timeseries', 'writer-key-0123456789')).status, 403);
      const ok = await get('/v1/kpis/timeseries?interval=week&from=2026-01-05&to=2026-01-15T12:00:00Z', reader);
      assert.equal(ok.status, 200);
      assert.deepEqual({ ...ok.body, generatedAt: undefined }, { generatedAt: undefined, ...(await report.timeseries({ interval: 'week', from: T0, to: NOW })) });

      const bad = await get('/v1/kpis/timeseries?interval=month&from=soon&extra=1', reader);
      assert.equal(bad.status, 400);
      assert.deepEqual(
        (bad.body.error as { issues: Array<{ path: string; message: string }> }).issues.map((i) => `${i.path}: ${i.message}`).sort(),
        [': Unrecognized key: "extra"', 'from: an ISO 8601 date (2026-01-31) or date-time with offset (2026-01-31T10:00:00Z)', 'interval: interval is day or week'],
      );
      const backwards = await get('/v1/kpis/timeseries?from=2026-02-01&to=2026-01-01', reader);
      assert.equal(backwards.status, 400);
      assert.match(JSON.stringify(backwards.body), /from must not be after to/);

      await db.stopServer();
      for (const path of ['/v1/kpis', '/v1/kpis/timeseries']) {
        const down = await get(path, reader);
        assert.equal(down.status, 503, path);
        assert.equal(down.headers.get('retry-after'), '5');
      }
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
