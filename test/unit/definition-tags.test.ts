import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JourneyPlan } from '../../src/core/journey-definition.js';
import { tagPlan, untagDefinition } from '../../src/core/definition-tags.js';
import { startJourney, step } from '../../src/core/journey-reducer.js';
import { loadDefinitionFile, parseDefinition } from '../../src/definition-store/load-definition.js';
import { COACHINGLIVE_PATH, DAY, ev, minimalDefinition, T0 } from './fixtures.js';

/** A definition with every tagged union in it: transitions on an event and on activity, three trigger kinds, two computed traits. */
const everyUnion = minimalDefinition({
  transitions: [
    { from: ['lead'], on: { event: 'Bought' }, to: 'customer' },
    { from: '*', on: { activity: true }, to: 'lead' },
  ],
  computedTraits: [
    { id: 'engaged', activeWithin: '30 days' },
    { id: 'buys', eventCount: { event: 'Bought', within: '7 days', gte: 1 } },
  ],
  timers: [{ id: 'wait', summary: 'wait', after: '3 days', anchor: 'stageEntry', whileIn: ['lead'] }],
  campaigns: [
    {
      id: 'hello',
      name: 'Hello',
      kind: 'transactional',
      trigger: [{ event: 'Signed Up' }, { stageEntry: 'customer' }, { timer: 'wait', offset: '-1 day' }],
      message: { template: 'hello' },
    },
  ],
});

/** What a plan looked like in a history recorded before the tags: the same plan without them. */
function recordedBeforeTags(plan: JourneyPlan): JourneyPlan {
  return JSON.parse(
    JSON.stringify(plan, (key, value) => {
      // A timer counted from its stage entry or the last activity said so as a bare string.
      if (key === 'anchor' && (value.kind === 'stageEntry' || value.kind === 'lastActivity')) return value.kind;
      return key === 'kind' && typeof value === 'string' && value !== 'transactional' && value !== 'marketing' ? undefined : value;
    }),
  );
}

describe('tagged unions in definitions', () => {
  test('the YAML is written as before; the parsed value carries each variant as `kind`', () => {
    const { plan } = parseDefinition(everyUnion);
    assert.deepEqual(plan.transitions.map((t) => t.on.kind), ['event', 'activity']);
    assert.deepEqual(plan.campaigns[0]!.trigger.map((t) => t.kind), ['event', 'stageEntry', 'timer']);
    assert.deepEqual(plan.computedTraits!.map((t) => t.kind), ['activeWithin', 'eventCount']);
  });

  test('timer anchors: written as before, parsed with a tag, hashed without it, tagged again from a recorded plan', () => {
    const anchors = ['stageEntry' as const, 'lastActivity' as const, { event: 'Bought' }];
    const everyAnchor = minimalDefinition({
      timers: anchors.map((anchor, i) => ({ id: `t${i}`, summary: `timer ${i}`, after: '3 days', anchor, whileIn: ['lead'] })),
    });
    const { plan, definition } = parseDefinition(everyAnchor);
    assert.deepEqual(plan.timers.map((t) => t.anchor), [{ kind: 'stageEntry' }, { kind: 'lastActivity' }, { kind: 'event', event: 'Bought' }]);
    assert.deepEqual((untagDefinition(definition) as { timers: Array<{ anchor: unknown }> }).timers.map((t) => t.anchor), anchors);
    assert.deepEqual(tagPlan(recordedBeforeTags(plan)), plan);
    const broken = recordedBeforeTags(plan);
    (broken.timers[2] as { anchor: unknown }).anchor = { evnt: 'Bought' };
    assert.throws(() => tagPlan(broken), /cannot tell what timer anchor \{"evnt":"Bought"\} is/);
  });

  test('the tags leave the version alone: the same definition keeps the version it had before them', async () => {
    // Pinned from the code before the tags existed (commit 1f27b64): stored versions and pinned journeys keep their identity.
    assert.equal(parseDefinition(everyUnion).version, 'e1e082bf5286');
    assert.equal(parseDefinition(minimalDefinition()).version, '33b4673cde47');
    const shipped = await loadDefinitionFile(COACHINGLIVE_PATH);
    assert.equal(JSON.stringify(untagDefinition(shipped.definition)).includes('"kind":"event"'), false);
  });

  test('a plan recorded before the tags gets them, equal to the plan parsed today; a tagged plan is returned as it is', async () => {
    for (const plan of [parseDefinition(everyUnion).plan, (await loadDefinitionFile(COACHINGLIVE_PATH)).plan]) {
      const old = recordedBeforeTags(plan);
      assert.equal(JSON.stringify(old).includes('"kind":"event"'), false);
      assert.deepEqual(tagPlan(old), plan);
      assert.equal(tagPlan(plan), plan);
    }
  });

  test('a recorded plan, once tagged, runs a journey exactly as the parsed one does', () => {
    const plan = parseDefinition(everyUnion).plan;
    const run = (p: JourneyPlan) => {
      const started = startJourney(p, 'u1', T0);
      const bought = step(p, started.state, ev('Bought', T0 + DAY, { messageId: 'm1' }));
      return [started, bought];
    };
    assert.deepEqual(run(tagPlan(recordedBeforeTags(plan))), run(plan));
  });

  test('a variant nobody can tell apart is refused by name, not run as some other kind', () => {
    const plan = parseDefinition(everyUnion).plan;
    const broken = recordedBeforeTags(plan);
    (broken.campaigns[0]!.trigger as unknown[])[0] = { evnt: 'Signed Up' };
    assert.throws(() => tagPlan(broken), /cannot tell what \{"evnt":"Signed Up"\} is \(expected one of event, stageEntry, timer, counter, broadcast\)/);
  });
});
