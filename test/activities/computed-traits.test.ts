/**
 * syncComputedTraits against the real MongoDB-compatible server (embedded FerretDB): the journey's computed
 * traits land on the profile under computed.<id>, an older write never replaces a newer one, no profile is
 * created, and segments on computed.<id> match what was written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { createJourneyActivities } from '../../activities/journey-activities.js';
import { createOutboxMailer } from '../../src/delivery/mailer.js';
import { DefinitionStore } from '../../src/definition-store/definition-store.js';
import { loadDefinitionFile, type LoadedDefinition } from '../../src/definition-store/load-definition.js';
import { queriesTo, startTestDatabase, type TestDatabase } from '../support/database.js';

const T0 = Date.UTC(2026, 0, 1);

describe('syncComputedTraits', () => {
  let db: TestDatabase;
  let coaching: LoadedDefinition;
  let activities: ReturnType<typeof createJourneyActivities>;
  const ref = () => ({ id: coaching.definition.id, version: coaching.version });

  before(async () => {
    db = await startTestDatabase('activities_computed_traits');
    coaching = await loadDefinitionFile('definitions/coachinglive.yaml');
    const store = new DefinitionStore(db.models, coaching);
    await store.publish();
    activities = createJourneyActivities({
      models: db.models,
      definitions: store,
      mailer: createOutboxMailer(db.models),
      emailFrom: 'CoachingLive <hello@coachinglive.example>',
      logger: pino({ level: 'silent' }),
    });
    await db.models.Customer.create({ _id: 'ct-ada', email: 'ada@example.com', traits: { satisfaction: 5 } });
  });
  after(async () => {
    await db?.teardown();
  });

  const stored = async (userId: string) => {
    const doc = await db.models.Customer.findById(userId).lean();
    return doc ? { computed: doc.computed, computedAt: doc.computedAt?.getTime(), traits: doc.traits, email: doc.email } : null;
  };

  test('writes every value under computed, beside the customer’s own traits, and segments match them', async () => {
    const traits = { engaged: true, frequent: false, responsive: true, loyal: false, favourite_programme: 'yoga' };
    await activities.syncComputedTraits({ userId: 'ct-ada', traits, at: T0 });
    assert.deepEqual(await stored('ct-ada'), { computed: traits, computedAt: T0, traits: { satisfaction: 5 }, email: 'ada@example.com' });
    assert.deepEqual((await activities.evaluateSegments({ userId: 'ct-ada', definition: ref() })).sort(), [
      'engaged',
      'not_loyal',
      'rare',
      'reachable_by_email',
      'responsive',
      'satisfied',
      'with_favourite_programme',
    ]);
  });

  test('a later write replaces the values (a trait no longer declared goes); an older one, a retry overtaken, changes nothing', async () => {
    const newer = { engaged: false, frequent: false, responsive: true, loyal: false, favourite_programme: 'yoga' };
    await activities.syncComputedTraits({ userId: 'ct-ada', traits: newer, at: T0 + 1_000 });
    await activities.syncComputedTraits({ userId: 'ct-ada', traits: { engaged: true, old_trait: 1 }, at: T0 + 500 });
    assert.deepEqual((await stored('ct-ada'))?.computed, newer);
    await activities.syncComputedTraits({ userId: 'ct-ada', traits: { ...newer, loyal: true }, at: T0 + 1_000 });
    assert.equal((await stored('ct-ada'))?.computed?.loyal, true, 'a write at the same journey time applies');
    assert.ok((await activities.evaluateSegments({ userId: 'ct-ada', definition: ref() })).includes('unengaged'));
  });

  test('overlapping writes of one customer (in one worker) keep the newest', async () => {
    for (let round = 0; round < 4; round++) {
      const userId = `ct-race-${round}`;
      await db.models.Customer.create({ _id: userId, email: `${userId}@example.com`, traits: {} });
      const times = round % 2 === 0 ? [1, 2, 3] : [3, 2, 1];
      await Promise.all(times.map((t) => activities.syncComputedTraits({ userId, traits: { engaged: t === 3, favourite_programme: `p${t}` }, at: T0 + t * 1_000 })));
      const doc = await stored(userId);
      assert.deepEqual([doc?.computed, doc?.computedAt], [{ engaged: true, favourite_programme: 'p3' }, T0 + 3_000], `round ${round}`);
    }
  });

  test('every lookup and write starts from `_id` alone: FerretDB scans every profile for anything more', async () => {
    const { queries: filters } = await queriesTo(db.models.Customer, async () => {
      await activities.syncComputedTraits({ userId: 'ct-ada', traits: { engaged: true }, at: T0 + 5_000 });
      await activities.syncComputedTraits({ userId: 'ct-ada', traits: { engaged: false }, at: T0 + 4_000 });
    });
    assert.deepEqual(filters, ['findOne {"_id":"ct-ada"}', 'updateOne {"_id":"ct-ada"}', 'findOne {"_id":"ct-ada"}']);
    assert.deepEqual((await stored('ct-ada'))?.computed, { engaged: true });
  });

  test('syncProfile matches segments against the profile its write read: one read and one write, the segments a read after it gives', async () => {
    await db.models.Customer.create({ _id: 'ct-sync', email: 'sync@example.com', traits: { satisfaction: 2 } });
    const traits = { engaged: true, frequent: true, responsive: false, loyal: true, favourite_programme: 'hiit' };
    const { result: segments, queries: filters } = await queriesTo(db.models.Customer, () => activities.syncProfile({ userId: 'ct-sync', definition: ref(), traits, at: T0 }));
    assert.deepEqual(filters, ['findOne {"_id":"ct-sync"}', 'updateOne {"_id":"ct-sync"}']);
    assert.deepEqual((await stored('ct-sync'))?.computed, traits);
    assert.deepEqual(segments.sort(), (await activities.evaluateSegments({ userId: 'ct-sync', definition: ref() })).sort());
    assert.ok(segments.includes('loyal_customers') && segments.includes('frequent') && !segments.includes('satisfied'), segments.join());

    // An older write changes nothing: the segments are the stored profile's, with the newer traits.
    const older = await activities.syncProfile({ userId: 'ct-sync', definition: ref(), traits: { ...traits, loyal: false, frequent: false }, at: T0 - 1_000 });
    assert.deepEqual(older.sort(), segments);
    assert.deepEqual(await activities.syncProfile({ userId: 'ct-nobody-yet', definition: ref(), traits, at: T0 }), []);
    assert.equal(await stored('ct-nobody-yet'), null);
  });

  test('no profile yet: nothing is written, and no profile is created', async () => {
    await activities.syncComputedTraits({ userId: 'ct-nobody', traits: { engaged: true }, at: T0 });
    assert.equal(await stored('ct-nobody'), null);
  });

  test('a userId that is not a plain string is refused', async () => {
    await assert.rejects(activities.syncComputedTraits({ userId: { $ne: null } as never, traits: { engaged: true }, at: T0 }), /userId must be a non-empty string/);
  });
});
