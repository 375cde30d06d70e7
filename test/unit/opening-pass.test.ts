import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { tagPlan } from '../../src/core/definition-tags.js';
import type { JourneyPlan } from '../../src/core/journey-definition.js';
import type { ReadModelBatch } from '../../src/core/journey-facts.js';
import type { JourneyInput } from '../../src/core/journey-state.js';
import { step } from '../../src/core/journey-reducer.js';
import { mergeRecords, openingPass, openingSegments, passOutbox } from '../../src/core/opening-pass.js';
import type { LoadedDefinition } from '../../src/definition-store/load-definition.js';
import { SimStore } from '../../src/sim/memory-store.js';
import { createSimActivities } from '../../src/sim/sim-activities.js';
import { coachingLive } from '../support/definitions.js';
import { T0 } from './fixtures.js';

const noClient = { workflow: { getHandle: () => ({ signal: async () => undefined }) } } as unknown as Client;

/**
 * openJourney (journey code version 11) sends a new journey's opening pass ahead: its profile work and its
 * read-model write. The workflow takes what was sent where it is what its own pass would send, so the two
 * must compute the same pass from the same plan and inputs. Checked here against the simulator's in-memory
 * profiles and read model (the same activities the simulation runs), with the CoachingLive journey.
 */
describe('the opening pass, sent ahead by openJourney', () => {
  let definition: LoadedDefinition;
  before(async () => {
    definition = await coachingLive();
  });

  const workout = (userId: string, n: number, at: number): JourneyInput => ({ type: 'event', now: at, event: { messageId: `${userId}-${n}`, event: 'Workout Logged', timestamp: new Date(at).toISOString() } });

  function setup() {
    const store = new SimStore();
    const activities = createSimActivities({ store, definition, client: noClient, taskQueue: 'simulation' });
    store.profiles.set('ada', { _id: 'ada', email: 'ada@example.com', locale: 'en-GB', timezone: 'UTC', traits: {} } as never);
    return { store, activities };
  }

  /** The workflow's side: the plan as it receives it, its own opening pass, the segments answer applied. */
  function workflowPass(plan: JourneyPlan, userId: string, now: number, inputs: JourneyInput[], segments: string[] | undefined) {
    const tagged = tagPlan(plan);
    const pass = openingPass(tagged, userId, now, inputs);
    const outbox = passOutbox(pass.commands);
    if (!segments) return { outbox, record: outbox.record };
    const after = step(tagged, pass.state, openingSegments(now, segments));
    const record = passOutbox(after.commands).record;
    return { outbox, record: record ? mergeRecords(outbox.record, record) : outbox.record, state: after.state };
  }

  test("a new customer's first workouts: the traits written, the segments they put the customer in, one record, all as the workflow computes them", async () => {
    const { store, activities } = setup();
    const inputs = [workout('ada', 1, T0), workout('ada', 2, T0 + 60_000)];
    const opened = await activities.openJourney({ ref: { id: definition.plan.id }, userId: 'ada', now: T0 + 60_000, inputs });

    assert.equal(opened.plan.version, definition.plan.version, 'the live plan');
    const mine = workflowPass(JSON.parse(JSON.stringify(opened.plan)) as JourneyPlan, 'ada', T0 + 60_000, inputs, opened.profile?.segments);
    assert.deepEqual(opened.profile?.traits, mine.outbox.traits, 'the traits the workflow would write');
    assert.ok(opened.profile?.traits?.traits.engaged === true, 'the workouts made the customer engaged');
    assert.deepEqual(store.profiles.get('ada')?.computed, opened.profile?.traits?.traits, 'written to the profile');
    assert.ok(opened.profile?.segments.includes('engaged'), `segments evaluated after the traits were written: ${opened.profile?.segments.join()}`);
    assert.deepEqual(JSON.parse(JSON.stringify(opened.recorded)), JSON.parse(JSON.stringify(mine.record)), 'the record the workflow would write');
    assert.deepEqual(opened.recorded?.snapshot.segments, [...opened.profile!.segments].sort(), 'with the segments');
    assert.equal(store.journeys.get('ada')?.seq, opened.recorded?.snapshot.seq, 'written to the read model');
  });

  test('a retry sends the same again and changes nothing', async () => {
    const { store, activities } = setup();
    const inputs = [workout('ada', 1, T0)];
    const first = await activities.openJourney({ ref: { id: definition.plan.id }, userId: 'ada', now: T0, inputs });
    const journey = structuredClone(store.journeys.get('ada'));
    const again = await activities.openJourney({ ref: { id: definition.plan.id }, userId: 'ada', now: T0, inputs });
    assert.deepEqual(again, first);
    assert.deepEqual(store.journeys.get('ada'), journey);
  });

  test("a pass's commands gathered as the workflow gathers them: facts in order, the newest snapshot, traits merged as of the newest", () => {
    const snapshot = (seq: number) => ({ seq }) as ReadModelBatch['snapshot'];
    const fact = (id: string) => ({ id }) as unknown as ReadModelBatch['facts'][number];
    const outbox = passOutbox([
      { type: 'record', batch: { snapshot: snapshot(1), facts: [fact('a')] } },
      { type: 'syncComputedTraits', traits: { engaged: true, frequent: false }, at: 1 },
      { type: 'deliver', request: {} as never },
      { type: 'record', batch: { snapshot: snapshot(2), facts: [fact('b')] } },
      { type: 'syncComputedTraits', traits: { frequent: true }, at: 2 },
    ]);
    assert.deepEqual(outbox, { record: { snapshot: snapshot(2), facts: [fact('a'), fact('b')] }, traits: { traits: { engaged: true, frequent: true }, at: 2 }, evaluate: false });
    assert.deepEqual(passOutbox([{ type: 'evaluateSegments' }]), { evaluate: true });
  });
});
