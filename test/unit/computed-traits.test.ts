/**
 * Computed profile traits (definition `computedTraits`) in the pure core: each kind's value, the write to
 * the profile only when a value changes, the durable wake-up when a window ends, and the playbook segments
 * CoachingLive builds on them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JourneyDefinitionInput, JourneyPlan } from '../../src/core/journey-definition.js';
import { MAX_TALLIED_VALUES } from '../../src/core/computed-traits.js';
import type { ComputedValue, JourneyCommand, JourneyInput, JourneyState } from '../../src/core/journey-state.js';
import { timelineOf } from '../../src/core/journey-timeline.js';
import { journeyView } from '../../src/core/journey-view.js';
import { nextWakeUp, startJourney, step } from '../../src/core/journey-reducer.js';
import { nextDeadline } from '../../src/core/deadlines.js';
import { deliveryKey } from '../../src/core/ids.js';
import { resumeJourney } from '../../src/core/resume-journey.js';
import { DefinitionError, loadDefinitionFile, parseDefinition } from '../../src/definition-store/load-definition.js';
import { renderMessage } from '../../src/delivery/render-message.js';
import { profileTest } from '../../src/segments/segment-matcher.js';
import { COACHINGLIVE_PATH, DAY, HOUR, T0, ev, minimalDefinition, planOf, tick } from './fixtures.js';

const TRAITS: JourneyDefinitionInput['computedTraits'] = [
  { id: 'engaged', activeWithin: '30 days' },
  { id: 'responsive', emailEngagedWithin: '90 days' },
  { id: 'frequent', eventCount: { event: 'Workout Logged', within: '30 days', gte: 4 } },
  { id: 'rare', eventCount: { event: 'Workout Logged', within: '30 days', lte: 1 } },
  { id: 'workouts_30d', eventCount: { event: 'Workout Logged', within: '30 days' } },
  { id: 'customer', inStage: { stages: ['customer'] } },
  { id: 'ever_customer', inStage: { stages: ['customer'], ever: true } },
  { id: 'favourite', mostFrequent: { event: 'Workout Logged', property: 'programme' } },
];
const plan = planOf(
  minimalDefinition({
    id: 'traits',
    activity: { ignore: ['Refunded'] },
    transitions: [
      { from: ['lead'], on: { event: 'Bought' }, to: 'customer' },
      { from: ['customer'], on: { event: 'Refunded' }, to: 'lead' },
    ],
    computedTraits: TRAITS,
  }),
);

const INITIAL: Record<string, ComputedValue> = {
  engaged: false,
  responsive: false,
  frequent: false,
  rare: true,
  workouts_30d: 0,
  customer: false,
  ever_customer: false,
  favourite: null,
};

const syncs = (commands: JourneyCommand[]) => commands.filter((c): c is Extract<JourneyCommand, { type: 'syncComputedTraits' }> => c.type === 'syncComputedTraits');
const workout = (at: number, programme?: string) => ev('Workout Logged', at, programme ? { properties: { programme } } : {});

/** Apply inputs one by one; returns the final state and every sync command on the way. */
function run(state: JourneyState, ...inputs: JourneyInput[]) {
  const all: JourneyCommand[] = [];
  for (const input of inputs) {
    const result = step(plan, state, input);
    state = result.state;
    all.push(...result.commands);
  }
  return { state, syncs: syncs(all), commands: all };
}

describe('computed traits: writing to the profile', () => {
  test('the journey starts by writing every value, in place of a bare segment evaluation (the write is followed by one)', () => {
    const { state, commands } = startJourney(plan, 'ct', T0);
    assert.deepEqual(
      commands.filter((c) => c.type !== 'record'),
      [{ type: 'syncComputedTraits', traits: INITIAL, at: T0 }],
    );
    assert.deepEqual(state.computed?.values, INITIAL);
    assert.equal(state.computed?.due, undefined, 'nothing can change by itself yet');
  });

  test('written only when a value changes', () => {
    const started = startJourney(plan, 'ct', T0).state;
    const first = run(started, workout(T0, 'yoga'));
    assert.deepEqual(first.syncs, [{ type: 'syncComputedTraits', traits: { ...INITIAL, engaged: true, rare: true, workouts_30d: 1, favourite: 'yoga' }, at: T0 }]);
    const same = run(first.state, ev('Ping', T0 + HOUR));
    assert.deepEqual(same.syncs, [], 'another activity changes no value');
    assert.deepEqual(run(first.state, { type: 'segments', now: T0 + HOUR, segments: ['a'] }).syncs, []);
  });

  test('an identify writes them again even unchanged (the profile may not have existed), and that write re-evaluates segments', () => {
    const started = startJourney(plan, 'ct', T0).state;
    const { commands } = run(started, { type: 'profile', now: T0 + HOUR, change: { traits: ['email'] } });
    assert.deepEqual(
      commands.filter((c) => c.type !== 'record'),
      [{ type: 'syncComputedTraits', traits: INITIAL, at: T0 }],
    );
  });

  test('a definition without computed traits (and a plan recorded before there were any) behaves as before: no writes, nothing kept', () => {
    const plain = planOf(minimalDefinition());
    const recorded = { ...plan, computedTraits: undefined } as JourneyPlan;
    for (const p of [plain, recorded]) {
      const started = startJourney(p, 'ct', T0);
      assert.deepEqual(started.commands.filter((c) => c.type !== 'record'), [{ type: 'evaluateSegments' }]);
      let state = started.state;
      for (const input of [workout(T0), ev('Bought', T0 + DAY), tick(T0 + 40 * DAY), { type: 'profile', now: T0 + 41 * DAY, change: { traits: ['x'] } } as JourneyInput]) {
        const result = step(p, state, input);
        assert.deepEqual(syncs(result.commands), []);
        state = result.state;
      }
      assert.equal(state.computed, undefined);
      assert.equal(nextWakeUp(state), nextDeadline(state));
    }
  });
});

describe('computed traits: each kind', () => {
  test('activity within a window: true from the event, false exactly 30 days later, when the journey wakes up', () => {
    const started = startJourney(plan, 'ct', T0).state;
    const active = run(started, ev('Opened App', T0 + 5 * HOUR)).state;
    assert.equal(active.computed?.values.engaged, true);
    assert.deepEqual(nextWakeUp(active), { at: T0 + 5 * HOUR + 30 * DAY, summary: 'engagement window ends (engaged)' });
    assert.equal(run(active, tick(T0 + 5 * HOUR + 30 * DAY - 1)).syncs.length, 0, 'a moment before, still engaged');
    const ended = run(active, tick(T0 + 5 * HOUR + 30 * DAY));
    assert.deepEqual(ended.syncs.map((s) => [s.traits.engaged, s.at]), [[false, T0 + 5 * HOUR + 30 * DAY]]);
    assert.equal(ended.state.computed?.due, undefined);
  });

  test('a later activity moves the window’s end', () => {
    const state = run(startJourney(plan, 'ct', T0).state, ev('Opened App', T0), ev('Opened App', T0 + 10 * DAY)).state;
    assert.equal(nextWakeUp(state)?.at, T0 + 40 * DAY);
  });

  test('email engagement within a window: an open makes the customer responsive for 90 days; a machine open does not', () => {
    const started = startJourney(plan, 'ct', T0).state;
    const key = deliveryKey('ct', 'hello', 1);
    const machine = run(started, { type: 'emailEvent', now: T0 + HOUR, event: { id: 'm', type: 'open', deliveryKey: key, at: T0 + HOUR, machine: true } });
    assert.equal(machine.state.computed?.values.responsive, false);
    const opened = run(started, { type: 'emailEvent', now: T0 + HOUR, event: { id: 'o', type: 'open', deliveryKey: key, at: T0 + HOUR, localHour: 8 } });
    assert.equal(opened.state.computed?.values.responsive, true);
    assert.deepEqual(nextWakeUp(opened.state), { at: T0 + HOUR + 90 * DAY, summary: 'engagement window ends (responsive)' });
    assert.equal(run(opened.state, tick(T0 + HOUR + 90 * DAY)).state.computed?.values.responsive, false);
  });

  test('event rate over a rolling window, with thresholds and as a count: day buckets leave the window 30 days after their day ends', () => {
    // Workouts on days 0, 1, 2, 3 (at noon): frequent from the 4th, rare no longer from the 2nd.
    let state = startJourney(plan, 'ct', T0).state;
    const values: Array<[ComputedValue, ComputedValue, ComputedValue]> = [];
    for (const day of [0, 1, 2, 3]) {
      state = run(state, workout(T0 + day * DAY + 12 * HOUR)).state;
      values.push([state.computed!.values.frequent!, state.computed!.values.rare!, state.computed!.values.workouts_30d!]);
    }
    assert.deepEqual(values, [
      [false, true, 1],
      [false, false, 2],
      [false, false, 3],
      [true, false, 4],
    ]);
    // Day 0's workout leaves at the end of day 0 + 30 days: the count (and frequent) change then, together.
    assert.deepEqual(nextWakeUp(state), { at: T0 + 31 * DAY, summary: 'engagement window ends (frequent, workouts_30d)' });
    const dayOneLeaves = run(state, tick(T0 + 31 * DAY));
    assert.deepEqual(dayOneLeaves.syncs.map((s) => [s.traits.frequent, s.traits.workouts_30d, s.traits.rare]), [[false, 3, false]]);
    // Two more days leave before rare turns true (count 1); engaged ends on day 33.5 in between.
    assert.deepEqual(nextWakeUp(dayOneLeaves.state), { at: T0 + 32 * DAY, summary: 'engagement window ends (workouts_30d)' });
    const later = run(dayOneLeaves.state, tick(T0 + 32 * DAY), tick(T0 + 33 * DAY));
    assert.deepEqual(later.syncs.map((s) => [s.at, s.traits.workouts_30d, s.traits.rare]), [
      [T0 + 32 * DAY, 2, false],
      [T0 + 33 * DAY, 1, true],
    ]);
  });

  test('the day buckets stay bounded by the window', () => {
    let state = startJourney(plan, 'ct', T0).state;
    for (let day = 0; day < 120; day++) state = run(state, workout(T0 + day * DAY), workout(T0 + day * DAY + HOUR)).state;
    const days = state.computed!.days.workouts_30d!;
    assert.ok(days.length <= 31, `${days.length} buckets`);
    // At 01:00 on day 119: today and the 30 whole days before it, two workouts each.
    assert.equal(state.computed!.values.workouts_30d, 62);
  });

  test('in a stage, and ever in it: a refund takes the customer out of the stage, not out of "ever"', () => {
    const started = startJourney(plan, 'ct', T0).state;
    const bought = run(started, ev('Bought', T0 + DAY));
    assert.deepEqual([bought.state.computed?.values.customer, bought.state.computed?.values.ever_customer], [true, true]);
    const refunded = run(bought.state, ev('Refunded', T0 + 2 * DAY));
    assert.equal(refunded.state.stage, 'lead');
    assert.deepEqual([refunded.state.computed?.values.customer, refunded.state.computed?.values.ever_customer], [false, true]);
  });

  test('most frequent property value: the most used, ties to the most recent, bounded', () => {
    let state = startJourney(plan, 'ct', T0).state;
    const favourites: ComputedValue[] = [];
    for (const [i, programme] of ['yoga', 'hiit', 'hiit', 'yoga', '', 'yoga'].entries()) {
      state = run(state, workout(T0 + i * HOUR, programme || undefined)).state;
      favourites.push(state.computed!.values.favourite!);
    }
    assert.deepEqual(favourites, ['yoga', 'hiit', 'hiit', 'yoga', 'yoga', 'yoga']);
    for (let i = 0; i < 40; i++) state = run(state, workout(T0 + DAY + i * HOUR, `p${i}`)).state;
    assert.equal(Object.keys(state.computed!.tallies.favourite!).length, MAX_TALLIED_VALUES);
    assert.equal(state.computed!.values.favourite, 'yoga', 'the favourite is kept while one-offs come and go');
  });
});

describe('computed traits in the journey view and on resume', () => {
  test('the view shows the values, and the window end as a pending wake-up', () => {
    const state = run(startJourney(plan, 'ct', T0).state, workout(T0, 'yoga')).state;
    const view = journeyView(plan, state);
    assert.deepEqual(view.computed, { ...INITIAL, engaged: true, workouts_30d: 1, favourite: 'yoga' });
    assert.deepEqual(view.pending, [{ kind: 'traits', what: 'engagement window ends (engaged)', at: new Date(T0 + 30 * DAY).toISOString() }]);
    assert.deepEqual(timelineOf(view).at(-1), { at: new Date(T0 + 30 * DAY).toISOString(), kind: 'pending', text: 'engagement window ends (engaged)' });
  });

  test('resumed under a version without computed traits: nothing is left to wake up for', () => {
    const state = run(startJourney(plan, 'ct', T0).state, workout(T0)).state;
    const without = planOf(minimalDefinition({ id: 'traits', transitions: [{ from: ['lead'], on: { event: 'Bought' }, to: 'customer' }] }));
    const resumed = resumeJourney(without, state, T0 + HOUR);
    assert.equal(resumed.computed, undefined);
    assert.equal(nextWakeUp(resumed), undefined);
  });
});

describe('computed traits in the definition', () => {
  const invalid = (traits: unknown, segments: unknown[] = []) => {
    try {
      parseDefinition(minimalDefinition({ computedTraits: traits as never, segments: segments as never }));
      return [];
    } catch (err) {
      assert.ok(err instanceof DefinitionError, String(err));
      return err.violations.map((v) => `${v.path}: ${v.message}`);
    }
  };

  test('every problem is reported: duplicate ids, unknown stages, impossible ranges, segments on undeclared traits, long windows', () => {
    assert.deepEqual(
      invalid(
        [
          { id: 'engaged', activeWithin: '30 days' },
          { id: 'engaged', activeWithin: '7 days' },
          { id: 'member', inStage: { stages: ['nowhere'] } },
          { id: 'odd', eventCount: { event: 'X', within: '30 days', gte: 5, lte: 2 } },
        ],
        [{ id: 'typo', filter: { $or: [{ 'computed.engagd': true }, { 'computed.member': true }] } }],
      ),
      [
        'computedTraits: "engaged" is declared more than once',
        'computedTraits[2].inStage.stages[0]: unknown stage "nowhere"',
        'computedTraits[3].eventCount: gte 5 is above lte 2: never true',
        'segments[0].filter: "computed.engagd": no computed trait "engagd" is declared',
      ],
    );
    assert.deepEqual(invalid([{ id: 'long', activeWithin: '401 days' }]), ['computedTraits.0.activeWithin: a trait window is at most 400 days']);
  });

  test('a definition without the section keeps its version (the section is absent, not empty, by default)', () => {
    const loaded = parseDefinition(minimalDefinition());
    assert.equal('computedTraits' in loaded.definition, false);
  });
});

describe('CoachingLive’s playbook segments', async () => {
  const loaded = await loadDefinitionFile(COACHINGLIVE_PATH);
  const segmentsOf = (computed: Record<string, unknown>) =>
    loaded.plan.segments.filter((s) => profileTest(s.filter)({ _id: 'p', email: 'p@example.com', traits: {}, computed })).map((s) => s.id);

  test('each pair splits the customers the journey has computed; a profile not yet computed is in neither', () => {
    assert.deepEqual(segmentsOf({ engaged: true, frequent: true, responsive: true, loyal: true, favourite_programme: 'yoga' }), [
      'reachable_by_email',
      'engaged',
      'frequent',
      'responsive',
      'loyal_customers',
      'with_favourite_programme',
    ]);
    assert.deepEqual(segmentsOf({ engaged: false, frequent: false, responsive: false, loyal: false, favourite_programme: null }), [
      'reachable_by_email',
      'unengaged',
      'rare',
      'non_responsive',
      'not_loyal',
    ]);
    assert.deepEqual(segmentsOf({}), ['reachable_by_email']);
  });

  test('the traits behind them', () => {
    assert.deepEqual(
      (loaded.plan.computedTraits ?? []).map((t) => t.id),
      ['engaged', 'frequent', 'responsive', 'loyal', 'favourite_programme'],
    );
    assert.equal(loaded.plan.timing?.optimise, true, 'marketing timing is optimised');
  });

  test('a loyal customer who works out weekly, with yoga most: the journey computes it', () => {
    let state = startJourney(loaded.plan, 'cl', T0).state;
    const inputs: JourneyInput[] = [ev('Subscription Started', T0, { properties: { plan: 'full' } })];
    for (let week = 0; week < 5; week++) inputs.push(workout(T0 + week * 7 * DAY + DAY, week === 2 ? 'hiit' : 'yoga'));
    for (const input of inputs) state = step(loaded.plan, state, input).state;
    assert.deepEqual(state.computed?.values, { engaged: true, frequent: true, responsive: false, loyal: false, favourite_programme: 'yoga' });
  });

  test('templates can read the favourite programme', async () => {
    const profile = { _id: 'p', email: 'p@example.com', firstName: 'Ada', traits: {}, computed: { favourite_programme: 'yoga' }, createdAt: new Date(0), updatedAt: new Date(0) };
    const rendered = await renderMessage(loaded.definition, 'we_miss_you', profile, undefined);
    assert.equal(rendered.html, '<p>Come back this week and your next month is half price. New yoga sessions are waiting for you.</p>');
    const plain = await renderMessage(loaded.definition, 'we_miss_you', { ...profile, computed: {} }, undefined);
    assert.equal(plain.html, '<p>Come back this week and your next month is half price.</p>');
  });
});
