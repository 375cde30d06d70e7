import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { addMonths } from '../../src/core/dates.js';
import { advance, initialState, nextActionAt, type BehaviourState, type EmittedEvent, type ReceivedMessage, type SimCustomer } from '../../src/sim/behaviour.js';
import { BehaviourModelError, loadBehaviourModel, mergeModel, parseBehaviourModel, type BehaviourModel } from '../../src/sim/behaviour-model.js';
import { drawCustomer } from '../../src/sim/population.js';
import { actionInstant, DAY, HOUR, hourOf, MINUTE, phaseMs, PHASE_PERIOD_HOURS } from '../../src/sim/time-grid.js';

const START = Date.UTC(2039, 11, 1);

/** Run one customer's behaviour alone (no journey) until `until`, waking at every planned action, messages at given hours. */
function live(model: BehaviourModel, customer: SimCustomer, until: number, messages: ReceivedMessage[] = []) {
  let state: BehaviourState = initialState(customer);
  const events: EmittedEvent[] = [];
  const pending = [...messages].sort((a, b) => a.hour - b.hour);
  for (let guard = 0; guard < 100_000; guard++) {
    const nextAction = nextActionAt(START, state) ?? Infinity;
    const nextMessage = pending.length > 0 ? START + pending[0]!.hour * HOUR : Infinity;
    const now = Math.min(nextAction, nextMessage);
    if (now >= until) break;
    const arrived = nextMessage <= nextAction ? pending.splice(0, 1) : [];
    const result = advance(model, customer, START, state, now, arrived);
    state = result.state;
    events.push(...result.events);
  }
  return { state, events };
}

describe('simulator time grid', () => {
  test('customers act 30 seconds off the minute, between minute 5 and 51 of the hour', () => {
    for (let hour = 0; hour < 24 * 400; hour++) {
      const phase = phaseMs(hour);
      assert.equal(phase % MINUTE, 30_000);
      assert.ok(phase >= 5 * MINUTE && phase <= 51 * MINUTE + 30_000);
      assert.equal(hourOf(START, actionInstant(START, hour)), hour);
    }
  });

  test('an action never shares its instant with a deadline a whole number of days or months after an earlier action (within a year)', () => {
    for (let from = 0; from < 24 * 30; from++) {
      for (let days = 1; days <= 366; days++) {
        const to = from + days * 24;
        assert.equal(phaseMs(to) === phaseMs(from), days % PHASE_PERIOD_HOURS === 0, `${from} + ${days} days`);
      }
      for (let months = 1; months <= 12; months++) {
        const to = hourOf(START, addMonths(actionInstant(START, from), months));
        assert.notEqual(phaseMs(to), phaseMs(from), `${from} + ${months} months`);
      }
    }
  });
});

describe('simulated customer behaviour', () => {
  let model: BehaviourModel;
  before(async () => {
    model = await loadBehaviourModel();
  });

  test('the behaviour model file is valid, and an override changes only what it names', async () => {
    assert.equal(model.trial.lengthDays, 30);
    const merged = parseBehaviourModel(mergeModel(model, { prospect: { startTrial: { probability: 1 } } }), 'test');
    assert.equal(merged.prospect.startTrial.probability, 1);
    assert.equal(merged.prospect.startTrial.meanDays, model.prospect.startTrial.meanDays);
    assert.deepEqual(merged.population, model.population);
    assert.throws(() => parseBehaviourModel(mergeModel(model, { trial: { subscribe: 2 } }), 'bad'), BehaviourModelError);
  });

  test('a drawn customer is the same for the same seed and index, whatever else is drawn', () => {
    assert.deepEqual(drawCustomer(model, 1, 5, START), drawCustomer(model, 1, 5, START));
    assert.notDeepEqual(drawCustomer(model, 1, 5, START), drawCustomer(model, 2, 5, START));
    const { customer, profile } = drawCustomer(model, 1, 5, START);
    assert.equal(customer.userId, 'sim-000006');
    assert.equal(profile.email, 'sim-000006@sim.coachinglive.example');
    assert.ok(customer.signUpHour >= 0 && customer.signUpHour < 24);
  });

  test('signs up at the sign-up hour; a customer certain to start the trial starts it, works out, and stops working out when it ends', () => {
    const certain = parseBehaviourModel(
      mergeModel(model, { prospect: { startTrial: { probability: 1, meanDays: 2 }, subscribeWithoutTrial: { probability: 0 } }, trial: { subscribe: 0, paywallViewsPerWeek: 0, goQuietPerWeek: 0 }, churned: { resubscribePerMonth: 0 } }),
      'test',
    );
    const customer: SimCustomer = { userId: 'u1', seed: 99, engagement: 1, activeFromUtc: 8, activeHours: 12, signUpHour: 9 };
    const { state, events } = live(certain, customer, START + 60 * DAY);
    assert.equal(events[0]!.event, 'Signed Up');
    assert.equal(events[0]!.at, actionInstant(START, 9));
    const trial = events.find((e) => e.event === 'Trial Started')!;
    assert.ok(trial.at > events[0]!.at);
    const workouts = events.filter((e) => e.event === 'Workout Logged');
    assert.ok(workouts.length > 3, `${workouts.length} workouts`);
    assert.ok(workouts.every((w) => w.at > trial.at && w.at <= trial.at + 30 * DAY), 'workouts only during the trial');
    assert.equal(state.phase, 'churned');
    assert.ok(events.every((e, i) => i === 0 || e.at >= events[i - 1]!.at), 'events in time order');
    assert.ok(workouts.every((w) => ((w.at - START) % DAY) / HOUR >= 8 && ((w.at - START) % DAY) / HOUR < 20), 'inside the active hours (08-20 UTC)');
  });

  test('a message whose goal the customer is sure to answer brings the goal inside its window; the same message twice answers once', () => {
    const responsive = parseBehaviourModel(
      mergeModel(model, { prospect: { startTrial: { probability: 0 }, subscribeWithoutTrial: { probability: 0 } }, responses: { byGoal: { 'Trial Started': 1 } } }),
      'test',
    );
    const customer: SimCustomer = { userId: 'u2', seed: 7, engagement: 1, activeFromUtc: 8, activeHours: 12, signUpHour: 9 };
    const nudge: ReceivedMessage = { key: 'customer-u2/prospect_nudge/1', campaignId: 'prospect_nudge', kind: 'marketing', variant: 'friendly', goal: 'Trial Started', withinHours: 168, hour: 33 };
    const { events } = live(responsive, customer, START + 20 * DAY, [nudge, { ...nudge, hour: 34 }]);
    const trials = events.filter((e) => e.event === 'Trial Started');
    assert.equal(trials.length, 1);
    const hoursAfter = (trials[0]!.at - START) / HOUR - 33;
    assert.ok(hoursAfter > 1 && hoursAfter < 168, `${hoursAfter} hours after the message`);

    const silent = live(responsive, customer, START + 20 * DAY);
    assert.equal(silent.events.filter((e) => e.event === 'Trial Started').length, 0, 'no message (a holdout): no trial');
  });

  test('pure: the same state, time and messages give the same result', () => {
    const customer = drawCustomer(model, 3, 11, START).customer;
    const a = live(model, customer, START + 200 * DAY);
    const b = live(model, customer, START + 200 * DAY);
    assert.deepEqual(a, b);
  });

  test('over a population, the default model gives a plausible mix: some trials, fewer subscriptions', () => {
    let trials = 0;
    let subscriptions = 0;
    const n = 400;
    for (let i = 0; i < n; i++) {
      const { events } = live(model, drawCustomer(model, 1, i, START).customer, START + 365 * DAY);
      if (events.some((e) => e.event === 'Trial Started')) trials += 1;
      if (events.some((e) => e.event === 'Subscription Started')) subscriptions += 1;
    }
    assert.ok(trials > n * 0.25 && trials < n * 0.5, `${trials} trials`);
    assert.ok(subscriptions > n * 0.03 && subscriptions < trials, `${subscriptions} subscriptions`);
  });
});
