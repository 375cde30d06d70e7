/**
 * The funnel and the rates over time as pure folds (what the dashboard and GET /v1/kpis/timeseries show),
 * the query they are asked with, the payment facts the core records for them, and the dashboard's sessions.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { JourneyFact } from '../../src/core/journey-facts.js';
import { startJourney, step } from '../../src/core/journey-reducer.js';
import { loadDefinitionFile } from '../../src/definition-store/load-definition.js';
import { percent } from '../../src/kpis/compute-kpis.js';
import { foldFunnel } from '../../src/kpis/funnel.js';
import { KpiTimeseriesQuery, kpiPlanOf } from '../../src/kpis/kpi-report.js';
import { foldTimeseries, MAX_POINTS, periodCount, periodStart, periodsOf, seriesRange, type TimeseriesEvents } from '../../src/kpis/kpi-timeseries.js';
import { COACHINGLIVE_PATH, DAY, HOUR, ev } from './fixtures.js';

const coachinglive = await loadDefinitionFile(COACHINGLIVE_PATH);
const plan = kpiPlanOf(coachinglive.definition);
const utc = (text: string) => Date.parse(text);

describe('the funnel', () => {
  test('CoachingLive: the definition gives the steps up to the loyal stage, then the exits, with their labels', () => {
    assert.deepEqual(plan, {
      name: 'CoachingLive lifecycle',
      stages: [
        { id: 'prospect', label: 'Prospect' },
        { id: 'trial', label: 'In trial' },
        { id: 'subscriber', label: 'Subscriber' },
        { id: 'loyal', label: 'Loyal' },
        { id: 'lapsed', label: 'Lapsed' },
        { id: 'churned', label: 'Churned' },
      ],
      loyalStage: 'loyal',
    });
  });

  test('ever-reached counts in the definition order; conversion from the previous step; exits carry their share of customers', () => {
    const funnel = foldFunnel(
      plan,
      [
        { stage: 'trial', n: 6 },
        { stage: 'prospect', n: 10 },
        { stage: 'subscriber', n: 3 },
        { stage: 'churned', n: 2 },
        { stage: 'lapsed', n: 1 },
        { stage: 'retired_stage', n: 4 },
      ],
      10,
    );
    assert.deepEqual(
      funnel.map((f) => [f.stage, f.label, f.reached, f.conversion, f.shareOfCustomers, f.kind]),
      [
        ['prospect', 'Prospect', 10, null, 100, 'step'],
        ['trial', 'In trial', 6, 60, 60, 'step'],
        ['subscriber', 'Subscriber', 3, 50, 30, 'step'],
        ['loyal', 'Loyal', 0, 0, 0, 'step'],
        ['lapsed', 'Lapsed', 1, null, 10, 'exit'],
        ['churned', 'Churned', 2, null, 20, 'exit'],
      ],
    );
  });

  test('a step after an empty one has no conversion; groups of one stage add up; without a loyal stage every stage is a step', () => {
    const funnel = foldFunnel(
      { stages: [{ id: 'lead' }, { id: 'customer', label: 'Customer' }, { id: 'fan' }] },
      [
        { stage: 'customer', n: 1 },
        { stage: 'customer', n: 2 },
        { stage: 'fan', n: 1 },
      ],
      0,
    );
    assert.deepEqual(
      funnel.map((f) => [f.stage, f.label, f.reached, f.conversion, f.shareOfCustomers, f.kind]),
      [
        ['lead', 'lead', 0, null, null, 'step'],
        ['customer', 'Customer', 3, null, null, 'step'],
        ['fan', 'fan', 1, 33.3, null, 'step'],
      ],
    );
  });
});

describe('periods', () => {
  test('days start at UTC midnight, weeks on Monday', () => {
    assert.equal(periodStart(utc('2026-01-01T17:30:00Z'), 'day'), utc('2026-01-01T00:00:00Z'));
    assert.equal(periodStart(utc('2026-01-01T17:30:00Z'), 'week'), utc('2025-12-29T00:00:00Z'), 'Thursday 1 January is in the week of Monday 29 December');
    assert.equal(periodStart(utc('2026-01-04T23:59:59.999Z'), 'week'), utc('2025-12-29T00:00:00Z'), 'Sunday');
    assert.equal(periodStart(utc('2026-01-05T00:00:00Z'), 'week'), utc('2026-01-05T00:00:00Z'), 'Monday');
  });

  test('from the period holding `from` to the one holding `to`, each as of its last millisecond, the last as of `to`', () => {
    const from = utc('2026-01-01T10:00:00Z');
    const to = utc('2026-01-03T08:15:00Z');
    assert.deepEqual(
      periodsOf(from, to, 'day').map((p) => [new Date(p.start).toISOString(), new Date(p.asOf).toISOString()]),
      [
        ['2026-01-01T00:00:00.000Z', '2026-01-01T23:59:59.999Z'],
        ['2026-01-02T00:00:00.000Z', '2026-01-02T23:59:59.999Z'],
        ['2026-01-03T00:00:00.000Z', '2026-01-03T08:15:00.000Z'],
      ],
    );
    assert.equal(periodCount(from, to, 'day'), 3);
    assert.deepEqual(
      periodsOf(from, utc('2026-01-12T00:00:00Z'), 'week').map((p) => [new Date(p.start).toISOString(), new Date(p.asOf).toISOString()]),
      [
        ['2025-12-29T00:00:00.000Z', '2026-01-04T23:59:59.999Z'],
        ['2026-01-05T00:00:00.000Z', '2026-01-11T23:59:59.999Z'],
        ['2026-01-12T00:00:00.000Z', '2026-01-12T00:00:00.000Z'],
      ],
    );
    assert.equal(periodCount(from, utc('2026-01-12T00:00:00Z'), 'week'), 3);
    assert.equal(periodCount(to, from, 'day'), 0);
  });

  test('the default range starts at the first journey, at most MAX_POINTS periods back; an asked-for range is kept', () => {
    const now = utc('2026-06-30T12:00:00Z');
    const events: TimeseriesEvents = { started: [{ at: utc('2026-03-02T09:00:00Z'), n: 1 }, { at: utc('2026-02-10T09:00:00Z'), n: 2 }], payments: [], loyal: [] };
    assert.deepEqual(seriesRange(events, { interval: 'day' }, now), { from: utc('2026-02-10T09:00:00Z'), to: now });
    const old: TimeseriesEvents = { started: [{ at: utc('2020-01-01T00:00:00Z'), n: 1 }], payments: [], loyal: [] };
    const clamped = seriesRange(old, { interval: 'day' }, now);
    assert.equal(periodCount(clamped.from, clamped.to, 'day'), MAX_POINTS);
    assert.deepEqual(seriesRange({ started: [], payments: [], loyal: [] }, { interval: 'week' }, now), { from: now, to: now }, 'nothing yet: one period, now');
    assert.deepEqual(seriesRange(old, { interval: 'day', from: 5, to: 10 }, now), { from: 5, to: 10 });
  });
});

describe('the rates over time', () => {
  const T = utc('2026-01-05T00:00:00Z'); // a Monday
  const at = (day: number, hour = 12) => T + day * DAY + hour * HOUR;

  test('cumulative counts as of each period end; payments past the second and events after the end do not count', () => {
    const events: TimeseriesEvents = {
      started: [
        { at: at(0), n: 4 },
        { at: at(2), n: 1 },
        { at: at(1, 0), n: 5 },
      ],
      payments: [
        { at: at(1), payments: 1, n: 2 },
        { at: at(0, 23) + 59 * 60_000 + 59_999, payments: 1, n: 1 }, // the last millisecond of day 0
        { at: at(2), payments: 2, n: 1 },
        { at: at(2), payments: 3, n: 1 },
        { at: at(9), payments: 1, n: 7 },
      ],
      loyal: [
        { at: at(2), delta: 1 },
        { at: at(3), delta: -1 },
        { at: at(3), delta: 1 },
        { at: at(3, 18), delta: -1 },
      ],
    };
    const points = foldTimeseries(events, periodsOf(at(0), at(3, 17), 'day'));
    assert.deepEqual(
      points.map((p) => [p.period.slice(0, 10), p.asOf, p.customers, p.paying, p.repeat, p.loyal, p.rates.activation, p.rates.repeatCustomer, p.rates.loyalCustomer]),
      [
        ['2026-01-05', '2026-01-05T23:59:59.999Z', 4, 1, 0, 0, 25, 0, null],
        ['2026-01-06', '2026-01-06T23:59:59.999Z', 9, 3, 0, 0, 33.3, 0, null],
        ['2026-01-07', '2026-01-07T23:59:59.999Z', 10, 3, 1, 1, 30, 33.3, 100],
        ['2026-01-08', '2026-01-08T17:00:00.000Z', 10, 3, 1, 1, 30, 33.3, 100],
      ],
    );
  });

  test('weekly: the same moments, cut by week', () => {
    const events: TimeseriesEvents = { started: [{ at: at(0), n: 2 }, { at: at(8), n: 2 }], payments: [{ at: at(9), payments: 1, n: 1 }], loyal: [] };
    const points = foldTimeseries(events, periodsOf(at(0), at(10), 'week'));
    assert.deepEqual(
      points.map((p) => [p.period, p.customers, p.paying, p.rates.activation]),
      [
        ['2026-01-05T00:00:00.000Z', 2, 0, 0],
        ['2026-01-12T00:00:00.000Z', 4, 1, 25],
      ],
    );
  });

  test('property: the point as of now has the rates GET /v1/kpis computes from the customers as they are now', () => {
    const customer = fc.record({
      start: fc.integer({ min: 0, max: 60 * DAY }),
      payments: fc.array(fc.integer({ min: 1, max: 10 * DAY }), { maxLength: 5 }),
      loyalMoves: fc.array(fc.integer({ min: 1, max: 10 * DAY }), { maxLength: 4 }),
    });
    fc.assert(
      fc.property(fc.array(customer, { maxLength: 30 }), fc.constantFrom('day' as const, 'week' as const), (customers, interval) => {
        const events: TimeseriesEvents = { started: [], payments: [], loyal: [] };
        let [paying, repeat, loyal] = [0, 0, 0];
        for (const c of customers) {
          events.started.push({ at: T + c.start, n: 1 });
          let t = T + c.start;
          c.payments.forEach((gap, i) => events.payments.push({ at: (t += gap), payments: i + 1, n: 1 }));
          t = T + c.start;
          c.loyalMoves.forEach((gap, i) => events.loyal.push({ at: (t += gap), delta: i % 2 === 0 ? 1 : -1 }));
          if (c.payments.length >= 1) paying += 1;
          if (c.payments.length >= 2) repeat += 1;
          if (c.loyalMoves.length % 2 === 1) loyal += 1;
        }
        const now = T + 120 * DAY;
        const { from, to } = seriesRange(events, { interval }, now);
        const last = foldTimeseries(events, periodsOf(from, to, interval)).at(-1)!;
        assert.equal(last.asOf, new Date(now).toISOString());
        assert.deepEqual([last.customers, last.paying, last.repeat, last.loyal], [customers.length, paying, repeat, loyal]);
        assert.deepEqual(last.rates, { activation: percent(paying, customers.length), repeatCustomer: percent(repeat, paying), loyalCustomer: percent(loyal, repeat) });
      }),
      { seed: 4, numRuns: 200 },
    );
  });
});

describe('GET /v1/kpis/timeseries query', () => {
  const issues = (query: Record<string, unknown>) => {
    const result = KpiTimeseriesQuery.safeParse(query);
    return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  test('defaults to daily; dates are UTC days, date-times any instant', () => {
    assert.deepEqual(KpiTimeseriesQuery.parse({}), { interval: 'day' });
    assert.deepEqual(KpiTimeseriesQuery.parse({ interval: 'week', from: '2026-01-01', to: '2026-02-01T10:00:00+01:00' }), {
      interval: 'week',
      from: utc('2026-01-01T00:00:00Z'),
      to: utc('2026-02-01T09:00:00Z'),
    });
  });

  test('every problem is named', () => {
    assert.deepEqual(issues({ interval: 'month' }), ['interval: interval is day or week']);
    assert.deepEqual(issues({ from: 'yesterday' }), ['from: an ISO 8601 date (2026-01-31) or date-time with offset (2026-01-31T10:00:00Z)']);
    assert.deepEqual(issues({ from: '2026-02-01', to: '2026-01-01' }), ['from: from must not be after to']);
    assert.deepEqual(issues({ from: '2024-01-01', to: '2026-01-01' }), [`from: at most ${MAX_POINTS} days from from to to: shorten the range or use interval=week`]);
    assert.deepEqual(issues({ interval: 'week', from: '2024-01-01', to: '2026-01-01' }), []);
    assert.deepEqual(issues({ since: '2026-01-01' }), [': Unrecognized key: "since"']);
    assert.equal(issues({ interval: ['day', 'week'] }).length, 1, 'a repeated parameter is refused');
  });
});

describe('payment facts', () => {
  test('each payment the definition counts is a fact with the count so far: the first and the second are what the rates need', () => {
    const { plan: journeyPlan } = coachinglive;
    const T0 = utc('2026-01-01T09:00:00Z');
    let { state } = startJourney(journeyPlan, 'pay', T0);
    const facts: JourneyFact[] = [];
    const apply = (name: string, when: number, properties?: Record<string, unknown>) => {
      const result = step(journeyPlan, state, ev(name, when, properties ? { properties } : {}));
      state = result.state;
      for (const c of result.commands) if (c.type === 'record') facts.push(...c.batch.facts);
    };
    apply('Signed Up', T0);
    apply('Subscription Started', T0 + HOUR, { plan: 'light' });
    apply('Workout Logged', T0 + 2 * HOUR);
    apply('Subscription Renewed', T0 + 3 * HOUR);
    assert.deepEqual(
      facts.filter((f) => f.kind === 'payment'),
      [
        { kind: 'payment', id: facts.find((f) => f.kind === 'payment')!.id, userId: 'pay', at: T0 + HOUR, payments: 1 },
        { kind: 'payment', id: facts.filter((f) => f.kind === 'payment')[1]!.id, userId: 'pay', at: T0 + 3 * HOUR, payments: 2 },
      ],
    );
    assert.equal(new Set(facts.map((f) => f.id)).size, facts.length, 'fact ids stay unique');
  });
});
