import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { JourneyFact, JourneySnapshot } from '../../src/core/journey-facts.js';
import type { LoadedDefinition } from '../../src/definition-store/load-definition.js';
import { foldKpis } from '../../src/kpis/compute-kpis.js';
import { SimStore } from '../../src/sim/memory-store.js';
import { buildReport, compareReports, formatComparison, formatExperiments, formatReport, type SimulationReport } from '../../src/sim/report.js';
import { coachingLive } from '../support/definitions.js';

const T = Date.UTC(2039, 11, 1);

function snapshot(userId: string, stage: string, payments: number, reactivations = 0): JourneySnapshot {
  return { userId, seq: 5, definitionVersion: 'v', stage, stageEnteredAt: T, plan: null, segments: [], counters: {}, payments, everLoyal: false, reactivations, lastActivityAt: T, startedAt: T };
}

function message(id: string, userId: string, campaignId: string, variant: string | null, status: 'sent' | 'skipped' | 'holdout' | 'cancelled'): JourneyFact {
  return { kind: 'message', id, userId, at: T, key: `customer-${userId}/${campaignId}/1`, campaignId, variant, messageKind: 'marketing', status };
}

function stage(id: string, userId: string, to: string): JourneyFact {
  return { kind: 'stage', id, userId, at: T, stage: to, from: null, cause: { kind: 'start' } };
}

describe('simulation report', () => {
  let definition: LoadedDefinition;
  let report: SimulationReport;
  before(async () => {
    definition = await coachingLive();
    const store = new SimStore();
    store.writeSnapshot(snapshot('a', 'prospect', 0));
    store.writeSnapshot(snapshot('b', 'subscriber', 2));
    store.writeSnapshot(snapshot('c', 'churned', 1, 1));
    assert.equal(store.writeSnapshot({ ...snapshot('c', 'trial', 0), seq: 4 }), 'stale', 'an older snapshot does not replace a newer one');
    store.addFacts([
      stage('a/1', 'a', 'prospect'),
      stage('b/1', 'b', 'prospect'),
      stage('b/2', 'b', 'trial'),
      stage('b/3', 'b', 'subscriber'),
      stage('c/1', 'c', 'prospect'),
      stage('c/2', 'c', 'subscriber'),
      stage('c/3', 'c', 'churned'),
      message('a/2', 'a', 'prospect_nudge', 'friendly', 'sent'),
      message('b/4', 'b', 'prospect_nudge', 'friendly', 'sent'),
      message('c/4', 'c', 'prospect_nudge', 'holdout', 'holdout'),
      message('c/5', 'c', 'prospect_nudge', 'holdout', 'holdout'),
      { kind: 'conversion', id: 'b/5', userId: 'b', at: T, campaignId: 'prospect_nudge', variant: 'friendly', goalEvent: 'Trial Started', messageKey: 'k' },
      { kind: 'conversion', id: 'c/6', userId: 'c', at: T, campaignId: 'prospect_nudge', variant: 'holdout', goalEvent: 'Trial Started', messageKey: 'k' },
    ]);
    store.addFacts([message('a/2', 'a', 'prospect_nudge', 'friendly', 'skipped')]); // the same id again: ignored
    store.countEvent('Signed Up');
    report = buildReport(store.summary(), { definition, definitionFile: 'definitions/coachinglive.yaml', model: 'default', seed: 1, customers: 3, days: 30, start: T, end: T + 30 * 86_400_000, broadcastCampaigns: [] });
  });

  test('KPIs are folded as GET /v1/kpis folds them, with the funnel of stages ever reached', () => {
    assert.deepEqual(report.kpis.customersPerStage, { churned: 1, prospect: 1, subscriber: 1 });
    assert.deepEqual(report.kpis.counts, { paying: 2, repeat: 1, loyal: 0, reactivated: 1 });
    assert.deepEqual(report.kpis.rates, { activation: 66.7, repeatCustomer: 50, loyalCustomer: 0 });
    const nudge = report.kpis.campaigns.find((c) => c.campaignId === 'prospect_nudge')!;
    assert.deepEqual(
      nudge.variants.map((v) => [v.variant, v.sent, v.holdout, v.converted, v.conversionRate, v.lift]),
      [
        ['friendly', 2, 0, 1, 50, 0],
        ['holdout', 0, 2, 1, 50, null],
      ],
    );
    assert.deepEqual(
      report.funnel.map((s) => [s.stage, s.reached, s.kind]),
      [
        ['prospect', 3, 'step'],
        ['trial', 1, 'step'],
        ['subscriber', 2, 'step'],
        ['loyal', 0, 'step'],
        ['lapsed', 0, 'exit'],
        ['churned', 1, 'exit'],
      ],
    );
    assert.deepEqual(report.events, { 'Signed Up': 1 });
  });

  test('the text report lists stages, rates and every campaign variant', () => {
    const text = formatReport(report);
    assert.match(text, /^CoachingLive lifecycle \(coachinglive@/);
    assert.match(text, /activation \(ever paid \/ customers\)\s+66\.7%\s+2 paying/);
    assert.match(text, /prospect_nudge\s+friendly\s+2\s+0\s+0\s+0\s+1\s+50\.0%\s+0%/);
    assert.match(text, /prospect_nudge\s+holdout\s+0\s+0\s+0\s+2\s+1\s+50\.0%/);
    // Two messaged customers against two held out: the experiment says so instead of a lift.
    assert.match(text, /"not enough data" under 30 customers in either group/);
    assert.match(text, /prospect_nudge\s+friendly\s+50\.0% \[9\.5%, 90\.5%\]\s+holdout\s+not enough data/);
  });

  test('an experiment with enough customers shows the intervals and the probability to beat the holdout', () => {
    const kpis = foldKpis([], 0, [
      { _id: { kind: 'message', campaignId: 'trial', variant: 'B', status: 'sent' }, n: 70 },
      { _id: { kind: 'conversion', campaignId: 'trial', variant: 'B' }, n: 56 },
      { _id: { kind: 'message', campaignId: 'trial', variant: 'holdout', status: 'holdout' }, n: 80 },
      { _id: { kind: 'conversion', campaignId: 'trial', variant: 'holdout' }, n: 48 },
    ]);
    const b = kpis.campaigns[0]!.variants[0]!;
    assert.equal(b.probabilityToBeatHoldout, 0.996);
    const withKpis: SimulationReport = { ...structuredClone(report), kpis };
    assert.deepEqual(
      compareReports(report, withKpis).find((r) => r.metric === 'trial/B chance to beat holdout'),
      { metric: 'trial/B chance to beat holdout', a: null, b: 99.6, difference: null, unit: 'percent' },
      'a compare run shows the chance to beat the holdout',
    );
    // Newcombe (1998b), Table II, example (a): 56/70 - 48/80 = 0.2000 [0.0524, 0.3339].
    assert.match(formatExperiments(kpis)!, /trial\s+B\s+80\.0% \[69\.2%, 87\.7%\]\s+holdout\s+\+20 pp \[5\.2 pp, 33\.4 pp\]\s+\+33\.3% \[7\.8%, 66\.3%\]\s+0\.996/);
  });

  test('a comparison lists both values and the difference of every metric', () => {
    const better: SimulationReport = structuredClone(report);
    better.kpis.rates.activation = 70;
    better.kpis.customersPerStage = { churned: 0, prospect: 1, subscriber: 2 };
    const rows = compareReports(report, better);
    assert.deepEqual(rows.find((r) => r.metric === 'activation rate'), { metric: 'activation rate', a: 66.7, b: 70, difference: 3.3, unit: 'percent' });
    assert.deepEqual(rows.find((r) => r.metric === 'customers in subscriber'), { metric: 'customers in subscriber', a: 1, b: 2, difference: 1, unit: 'count' });
    assert.deepEqual(rows.find((r) => r.metric === 'prospect_nudge/holdout sent'), { metric: 'prospect_nudge/holdout sent', a: 2, b: 2, difference: 0, unit: 'count' });
    const text = formatComparison(report, better, rows);
    assert.match(text, /activation rate\s+66\.7%\s+70\.0%\s+\+3\.3 pp/);
    assert.match(text, /customers in churned\s+1\s+0\s+-1/);
    assert.match(text, /3 of \d+ metrics differ\.$/);
    assert.match(formatComparison(report, report, compareReports(report, report)), /No differences\.$/);
  });
});
