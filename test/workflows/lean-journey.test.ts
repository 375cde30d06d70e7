import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import proto from '@temporalio/proto';
import { saveHistory } from '../support/histories.js';
import { JourneyHarness, MINUTE } from '../support/journey-harness.js';

const EventType = proto.temporal.api.enums.v1.EventType;

/** What a run's history holds, by kind: regular activities by name, local activities as markers. */
async function historyOf(handle: { fetchHistory(): Promise<proto.temporal.api.history.v1.IHistory> }) {
  const events = (await handle.fetchHistory()).events ?? [];
  const count = (type: number) => events.filter((e) => e.eventType === type).length;
  return {
    total: events.length,
    workflowTasks: count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
    markers: count(EventType.EVENT_TYPE_MARKER_RECORDED),
    activities: events.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : [])),
  };
}

describe('lean journeys (code version 8, time-skipping server)', () => {
  let h: JourneyHarness;
  before(async () => {
    h = await JourneyHarness.start('workflow_lean');
  });
  after(async () => {
    await h?.teardown();
  });

  test('a sign-up with a trial start: the delivery is the one regular activity; read model, segments and traits are local and written once a pass', async () => {
    const userId = 'lean-sign-up';
    await h.profile(userId, { timezone: 'Europe/Berlin', traits: { plan_interest: 'pro' } });
    await h.withWorker(async (taskQueue) => {
      await h.alignTo(6);
      const c = h.customer(taskQueue, userId);
      await c.track('Signed Up');
      await c.track('Trial Started');
      const [welcome] = await h.sendgrid.waitForMessages(1);
      assert.equal(welcome!.customArgs.delivery_key, `customer-${userId}/welcome/1`);
      await h.env.sleep(MINUTE);

      const journey = await c.journey();
      assert.equal(journey.stage, 'trial');
      const stored = await h.eventually('the read model to show the trial', async () => {
        const doc = await h.db.models.JourneyRecord.findById(userId).lean();
        return doc?.stage === 'trial' ? doc : undefined;
      });
      assert.deepEqual([...stored.segments].sort(), [...journey.segments].sort(), 'the read model has the segments the journey found');
      const facts = await h.db.models.JourneyFactRecord.find({ userId }).lean();
      assert.ok(facts.some((f) => f.kind === 'message'), `the welcome is in the read model (${facts.map((f) => f.kind).join(', ')})`);

      const history = await historyOf(c.handle!);
      assert.deepEqual(history.activities, ['deliverMessage'], 'every other round trip is a local activity');
      // Start + sign-up, trial start, the delivery's answer: a workflow task each (two when the signal comes in between).
      assert.ok(history.workflowTasks <= 4, `workflow tasks: ${history.workflowTasks}`);
      // Code version 5 wrote 49-61 events for the same two inputs (four recordJourney activities among them).
      assert.ok(history.total <= 30, `history events: ${history.total}`);
      await saveHistory(c.handle!, 'lean-sign-up');
    });
  });
});
