/** What changed between two definitions, as the publish gate and the journey map's side-by-side view name it. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JourneyDefinition, type JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import { definitionChanges } from '../../src/definition-store/definition-changes.js';

const base: JourneyDefinitionInput = {
  id: 'j',
  name: 'J',
  initialStage: 'trial',
  stages: [{ id: 'trial' }, { id: 'subscriber' }, { id: 'lapsed' }],
  attributes: [{ id: 'plan', values: ['light', 'full'], setFrom: [{ event: 'Subscribed', property: 'plan' }] }],
  counters: [{ id: 'workouts', on: [{ event: 'Workout Logged' }] }],
  timers: [{ id: 'lapse', summary: 'lapses', after: '14 days', anchor: 'lastActivity', whileIn: ['trial', 'subscriber'] }],
  transitions: [
    { from: ['trial'], on: { event: 'Subscribed' }, to: 'subscriber' },
    { from: ['trial', 'subscriber'], on: { timer: 'lapse' }, to: 'lapsed' },
  ],
  campaigns: [
    { id: 'nudge', name: 'Nudge', kind: 'marketing', trigger: { stageEntry: 'trial' }, message: { template: 't' }, experiment: { holdout: 0.1, variants: [{ id: 'a' }, { id: 'b' }] } },
    { id: 'hello', name: 'Hello', kind: 'transactional', trigger: { event: 'Signed Up' }, message: { template: 't' } },
  ],
  templates: [{ id: 't', locales: { en: { subject: 'Hi', html: '<p>Hi</p>' } } }],
};
const parse = (d: JourneyDefinitionInput) => JourneyDefinition.parse(d);
const summary = (a: JourneyDefinitionInput, b: JourneyDefinitionInput) =>
  definitionChanges(parse(a), parse(b)).map((c) => `${c.change} ${c.subject} ${c.id} ${c.stages === '*' ? '*' : c.stages.join(',')}${c.blocks ? ' BLOCKS' : ''}`);

describe('definition changes', () => {
  test('the same definition, or one differing only in a message’s wording, changes nothing', () => {
    assert.deepEqual(summary(base, base), []);
    assert.deepEqual(summary(base, { ...base, templates: [{ id: 't', locales: { en: { subject: 'Hello', html: '<p>Hello</p>' } } }] }), []);
  });

  test('a stage removed blocks; transitions, timers and campaigns are named with the stages they reach', () => {
    const b: JourneyDefinitionInput = {
      ...base,
      stages: [{ id: 'trial' }, { id: 'subscriber' }],
      timers: [{ id: 'lapse', summary: 'lapses', after: '21 days', anchor: 'lastActivity', whileIn: ['trial', 'subscriber'] }],
      transitions: [{ from: ['trial'], on: { event: 'Subscribed' }, to: 'subscriber' }],
      campaigns: [{ ...base.campaigns![0]!, experiment: { holdout: 0.2, variants: [{ id: 'a' }, { id: 'b' }] } }],
    };
    assert.deepEqual(summary(base, b).sort(), [
      'changed campaign nudge trial',
      'changed timer lapse trial,subscriber',
      'removed campaign hello *',
      'removed stage lapsed lapsed BLOCKS',
      'removed transition trial|subscriber -> lapsed on timer lapse trial,subscriber',
    ]);
  });

  test('an attribute type change blocks: values narrowed, a choice turned free text, an attribute turned counter', () => {
    const narrowed = { ...base, attributes: [{ ...base.attributes![0]!, values: ['full'] }] };
    assert.deepEqual(summary(base, narrowed), ['changed attribute plan * BLOCKS']);
    const widened = { ...base, attributes: [{ ...base.attributes![0]!, values: ['light', 'full', 'family'] }] };
    assert.deepEqual(summary(base, widened), ['changed attribute plan *'], 'a value added strands nobody');
    const free = { ...base, attributes: [{ id: 'plan', setFrom: [{ event: 'Subscribed', property: 'plan' }] }] };
    assert.deepEqual(summary(base, free), ['changed attribute plan * BLOCKS']);
    const counter = { ...base, attributes: [], counters: [...base.counters!, { id: 'plan', on: [{ event: 'Subscribed' }] }] };
    assert.ok(summary(base, counter).includes('changed counter plan * BLOCKS'));
  });
});
