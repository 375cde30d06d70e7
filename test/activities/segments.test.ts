/**
 * evaluateSegments, checkAudience and loadJourneyPlan against the real MongoDB-compatible server
 * (embedded FerretDB): segment filters run as MongoDB queries on the stored customer profiles.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { pino } from 'pino';
import { createJourneyActivities } from '../../activities/journey-activities.js';
import type { JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import { createOutboxMailer } from '../../src/delivery/mailer.js';
import { DefinitionStore } from '../../src/definition-store/definition-store.js';
import { parseDefinition, type LoadedDefinition } from '../../src/definition-store/load-definition.js';
import { startTestDatabase, type TestDatabase } from '../support/database.js';

const SEGMENTS = [
  { id: 'reachable', filter: { email: { $exists: true } } },
  { id: 'full_plan', filter: { 'traits.plan': 'full' } },
  { id: 'regular', description: 'Ten workouts or more.', filter: { 'traits.workouts': { $gte: 10 } } },
  { id: 'german', filter: { locale: { $in: ['de', 'de-AT'] } } },
];

function definition(overrides: Partial<JourneyDefinitionInput> = {}): JourneyDefinitionInput {
  return {
    id: 'segs',
    name: 'Segments test journey',
    initialStage: 'trial',
    stages: [{ id: 'trial' }, { id: 'subscriber' }, { id: 'churned' }],
    timers: [{ id: 'trial_end', summary: 'trial ends', after: '30 days', anchor: 'stageEntry', whileIn: ['trial'] }],
    transitions: [
      { from: ['trial'], on: { event: 'Subscribed', where: { plan: 'full' } }, to: 'subscriber' },
      { from: ['trial'], on: { timer: 'trial_end' }, to: 'churned' },
    ],
    segments: SEGMENTS,
    campaigns: [
      {
        id: 'reminder',
        name: 'Reminder',
        kind: 'marketing',
        trigger: { timer: 'trial_end', offset: '-3 days' },
        delay: '1 hour',
        audience: { stages: ['trial'], segments: ['reachable', 'regular'] },
        goal: { event: 'Subscribed', within: '7 days' },
        message: { template: 'reminder' },
      },
    ],
    templates: [{ id: 'reminder', locales: { en: { subject: 'Hi {{ profile.firstName }}', html: '<p>3 days left</p>' } } }],
    ...overrides,
  };
}

describe('segments', () => {
  let db: TestDatabase;
  let current: LoadedDefinition;
  let activities: ReturnType<typeof createJourneyActivities>;
  const ref = () => ({ id: current.definition.id, version: current.version });

  function activitiesWith(store: DefinitionStore) {
    return createJourneyActivities({
      models: db.models,
      definitions: store,
      mailer: createOutboxMailer(db.models),
      emailFrom: 'Segs <hello@segs.example>',
      logger: pino({ level: 'silent' }),
    });
  }

  before(async () => {
    db = await startTestDatabase('activities_segments');
    current = parseDefinition(definition(), 'segments test');
    const store = new DefinitionStore(db.models, current);
    await store.publish();
    activities = activitiesWith(store);
    await db.models.Customer.create([
      { _id: 'u-everything', email: 'e@example.com', locale: 'de-AT', traits: { plan: 'full', workouts: 12 } },
      { _id: 'u-light', email: 'l@example.com', locale: 'en', traits: { plan: 'light', workouts: 3 } },
      { _id: 'u-no-email', locale: 'de', traits: { plan: 'full', workouts: 10 } },
      { _id: 'u-empty', traits: {} },
    ]);
  });
  after(async () => {
    await db?.teardown();
  });

  test('evaluateSegments returns the ids of the segments the customer is in', async () => {
    const segmentsOf = (userId: string) => activities.evaluateSegments({ userId, definition: ref() });
    assert.deepEqual(await segmentsOf('u-everything'), ['reachable', 'full_plan', 'regular', 'german']);
    assert.deepEqual(await segmentsOf('u-light'), ['reachable']);
    assert.deepEqual(await segmentsOf('u-no-email'), ['full_plan', 'regular', 'german']);
    assert.deepEqual(await segmentsOf('u-empty'), []);
    assert.deepEqual(await segmentsOf('u-nobody'), [], 'no profile: in no segment');
  });

  test('a segment reflects the profile as it is now', async () => {
    await db.models.Customer.create({ _id: 'u-grows', email: 'g@example.com', traits: { workouts: 9 } });
    assert.deepEqual(await activities.evaluateSegments({ userId: 'u-grows', definition: ref() }), ['reachable']);
    await db.models.Customer.updateOne({ _id: 'u-grows' }, { $set: { 'traits.workouts': 10 } });
    assert.deepEqual(await activities.evaluateSegments({ userId: 'u-grows', definition: ref() }), ['reachable', 'regular']);
  });

  test('checkAudience: in every segment, or not, naming the segment that failed', async () => {
    const check = (userId: string, segments: string[]) => activities.checkAudience({ userId, definition: ref(), segments });
    assert.deepEqual(await check('u-everything', ['reachable', 'regular', 'german']), { inAudience: true });
    assert.deepEqual(await check('u-light', []), { inAudience: true });

    const light = await check('u-light', ['reachable', 'regular']);
    assert.equal(light.inAudience, false);
    assert.match(light.reason ?? '', /regular/);
    assert.doesNotMatch(light.reason ?? '', /reachable/);

    const noEmail = await check('u-no-email', ['reachable', 'full_plan']);
    assert.equal(noEmail.inAudience, false);
    assert.match(noEmail.reason ?? '', /reachable/);
  });

  test('checkAudience with a segment the definition does not declare fails for good', async () => {
    await assert.rejects(activities.checkAudience({ userId: 'u-light', definition: ref(), segments: ['vip'] }), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'UnknownSegment');
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /vip/);
      return true;
    });
  });

  test('operator-looking trait data is compared as data, never run as a query operator', async () => {
    // MongoDB 5+ stores nested `$` keys; FerretDB refuses them ("key must not start with '$'"), so a profile
    // cannot hold { plan: { $ne: null } } here. The operators arrive as text instead, as a JSON body would carry them.
    await assert.rejects(
      db.models.Customer.create({ _id: 'u-sneaky-object', email: 'o@example.com', traits: { plan: { $ne: null } } }),
      /must not start with '\$'/,
    );
    await db.models.Customer.create([
      { _id: 'u-sneaky-text', email: 't@example.com', traits: { plan: '{"$ne": null}', workouts: '{"$gte": 0}' } },
      { _id: 'u-sneaky-nested', email: 'n@example.com', traits: { plan: { ne: null, eq: 'full' }, workouts: [{ gte: 0 }] } },
    ]);
    for (const userId of ['u-sneaky-text', 'u-sneaky-nested']) {
      assert.deepEqual(await activities.evaluateSegments({ userId, definition: ref() }), ['reachable'], userId);
      const check = await activities.checkAudience({ userId, definition: ref(), segments: ['full_plan'] });
      assert.equal(check.inAudience, false, userId);
      assert.match(check.reason ?? '', /full_plan/);
    }
  });

  test('a userId that is not a string is refused, never used as a query operator', async () => {
    // The activity's input arrives as JSON: an object smuggled in where the userId belongs would otherwise
    // match (or load the profile of) some other customer.
    const sneaky = { $ne: null } as unknown as string;
    const isRefused = (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.nonRetryable, true);
      assert.equal(err.type, 'InvalidInput');
      return true;
    };
    await assert.rejects(activities.evaluateSegments({ userId: sneaky, definition: ref() }), isRefused);
    await assert.rejects(activities.checkAudience({ userId: sneaky, definition: ref(), segments: ['full_plan'] }), isRefused);
    await assert.rejects(
      activities.deliverMessage({
        key: 'sneaky/reminder/1',
        userId: sneaky,
        campaignId: 'reminder',
        occurrence: 1,
        kind: 'transactional',
        template: 'reminder',
        segments: [],
        definition: ref(),
        summary: 'sneaky',
      }),
      isRefused,
    );
    assert.equal(await db.models.Outbox.countDocuments({}), 0, 'nobody was sent anything');
  });

  test('loadJourneyPlan returns the plan without message bodies', async () => {
    const plan = await activities.loadJourneyPlan({ id: 'segs' });
    assert.equal(plan.version, current.version);
    assert.deepEqual(plan, current.plan);
    assert.equal('templates' in plan, false);
  });

  test('an earlier version is loaded from MongoDB by a worker serving a newer one', async () => {
    // Version A was published by an earlier deploy; this worker serves version B.
    const older = parseDefinition(
      definition({ segments: [...SEGMENTS, { id: 'old_timers', filter: { 'traits.workouts': { $lt: 2 } } }] }),
      'version A',
    );
    assert.notEqual(older.version, current.version);
    await new DefinitionStore(db.models, older).publish();

    const fresh = activitiesWith(new DefinitionStore(db.models, current));
    const plan = await fresh.loadJourneyPlan({ id: 'segs', version: older.version });
    assert.deepEqual(plan, older.plan, 'the stored version reads back exactly as it was published');
    assert.equal(plan.version, older.version);
    assert.deepEqual(await fresh.evaluateSegments({ userId: 'u-light', definition: { id: 'segs', version: older.version } }), ['reachable']);
    await db.models.Customer.create({ _id: 'u-beginner', email: 'b@example.com', traits: { workouts: 1 } });
    assert.deepEqual(await fresh.evaluateSegments({ userId: 'u-beginner', definition: { id: 'segs', version: older.version } }), [
      'reachable',
      'old_timers',
    ]);
    assert.deepEqual(await fresh.evaluateSegments({ userId: 'u-beginner', definition: ref() }), ['reachable'], 'version B lacks the segment');
  });

  test('a stored version whose event filters use property names like "delay" or "offset" reads back unchanged', async () => {
    const raw = definition({
      name: 'Segments test journey, with numeric event filters',
      transitions: [
        { from: ['trial'], on: { event: 'Subscribed', where: { delay: 0, offset: 2, within: 3, after: 4 } }, to: 'subscriber' },
        { from: ['trial'], on: { timer: 'trial_end' }, to: 'churned' },
      ],
      segments: [...SEGMENTS, { id: 'delayed', filter: { traits: { delay: 5 } } }],
    });
    const older = parseDefinition(raw, 'version with numeric event filters');
    await new DefinitionStore(db.models, older).publish();
    const fresh = activitiesWith(new DefinitionStore(db.models, current));
    const plan = await fresh.loadJourneyPlan({ id: 'segs', version: older.version });
    assert.deepEqual(plan, older.plan);
  });

  test('a stored version that parses to another hash under newer code keeps its identity (a later schema added defaults)', async () => {
    // As published by an earlier release: the same document, stored under the version that release computed.
    const older = parseDefinition(definition({ name: 'Published by an earlier release' }), 'earlier release');
    await db.models.Definition.create({ _id: 'segs@0123456789ab', definitionId: 'segs', version: '0123456789ab', json: JSON.stringify(older.raw) });
    const fresh = activitiesWith(new DefinitionStore(db.models, current));
    const plan = await fresh.loadJourneyPlan({ id: 'segs', version: '0123456789ab' });
    assert.equal(plan.version, '0123456789ab');
    assert.deepEqual({ ...plan, version: older.version }, older.plan, 'the same structure, under the identity it was published with');
    assert.deepEqual(await fresh.evaluateSegments({ userId: 'u-light', definition: { id: 'segs', version: '0123456789ab' } }), ['reachable']);
  });

  test('an unknown version is an error', async () => {
    const fresh = activitiesWith(new DefinitionStore(db.models, current));
    await assert.rejects(fresh.loadJourneyPlan({ id: 'segs', version: '000000000000' }), /segs@000000000000 is unknown/);
    await assert.rejects(fresh.evaluateSegments({ userId: 'u-light', definition: { id: 'segs', version: 'deadbeef0000' } }), /unknown/);
    await assert.rejects(fresh.loadJourneyPlan({ id: 'other' }), /journey "other" has no live version \(this worker serves "segs"\)/);
  });

  test('the in-process matcher answers every allowed operator exactly as the database does', async () => {
    const profiles = [
      { _id: 'd-1', email: 'a@example.com', locale: 'de', traits: { nps: 9, satisfaction: 2, tags: ['yoga', 'hiit'], level: 3, note: 'Coach me' } },
      { _id: 'd-2', locale: 'en-US', traits: { nps: 4, satisfaction: 5, tags: ['yoga'], level: null } },
      { _id: 'd-3', email: 'c@example.com', traits: { tags: [], scores: [3, 9] } },
      { _id: 'd-4', email: 'd@example.com', unsubscribedAt: new Date('2026-01-01T00:00:00Z'), traits: { satisfaction: '5' } },
    ];
    await db.models.Customer.create(profiles);
    const filters: Array<Record<string, unknown>> = [
      { email: { $exists: true } },
      { email: { $exists: false } },
      { 'traits.nps': { $gte: 9 } },
      { $or: [{ 'traits.satisfaction': { $gte: 4 } }, { 'traits.nps': { $gte: 9 } }] },
      { $nor: [{ locale: 'de' }, { locale: { $exists: false } }] },
      { 'traits.satisfaction': { $ne: 5 } },
      { 'traits.satisfaction': { $lt: 3 } },
      { locale: { $in: ['de', 'de-AT'] } },
      { locale: { $nin: ['de', 'de-AT'] } },
      { 'traits.tags': 'yoga' },
      { 'traits.tags': { $all: ['yoga', 'hiit'] } },
      { 'traits.tags': { $size: 0 } },
      { 'traits.scores': { $elemMatch: { $gte: 8 } } },
      { 'traits.level': null },
      { 'traits.level': { $eq: 3 } },
      { 'traits.note': { $regex: '^coach', $options: 'i' } },
      { 'traits.nps': { $not: { $gte: 9 } } },
      { unsubscribedAt: { $exists: true } },
      { $and: [{ email: { $exists: true } }, { 'traits.satisfaction': { $gte: 2 } }] },
    ];
    const { profileTest } = await import('../../src/segments/segment-matcher.js');
    const stored = await db.models.Customer.find({ _id: { $in: profiles.map((p) => p._id) } }).lean();
    for (const filter of filters) {
      const inDb = (await db.models.Customer.find({ $and: [{ _id: { $in: profiles.map((p) => p._id) } }, filter] }, { _id: 1 }).lean()).map((d) => d._id).sort();
      const inProcess = stored.filter((p) => profileTest(filter)(p)).map((p) => p._id).sort();
      assert.deepEqual(inProcess, inDb, `filter ${JSON.stringify(filter)}`);
    }
  });
});
