/**
 * In-app messages in a journey on the time-skipping server: the real workflow, the real activities
 * against FerretDB writing the customer's inbox, and the inbox's own reports (the code behind
 * POST /v1/inbox/:id/seen) telling the journey through the channel feedback path. A seen message is
 * engagement, in the journey and its timeline, and stops a series that says `exitOn.engaged`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { FeedbackSink } from '../../src/channels/feedback.js';
import type { JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import { timelineOf } from '../../src/core/journey-timeline.js';
import { parseDefinition } from '../../src/definition-store/load-definition.js';
import { Inbox, messageIdOf } from '../../src/inbox/inbox-store.js';
import { saveHistory } from '../support/histories.js';
import { JourneyHarness } from '../support/journey-harness.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const DEFINITION: JourneyDefinitionInput = {
  id: 'inapp_prompts',
  name: 'In-app prompts',
  initialStage: 'member',
  stages: [{ id: 'member' }],
  campaigns: [
    {
      id: 'review_prompt',
      name: 'Review prompt',
      kind: 'transactional',
      trigger: { event: 'Class Completed' },
      steps: [{ after: '0 days' }, { after: '2 days' }],
      exitOn: { engaged: true },
      message: { channel: 'inapp', template: 'review', expiresAfter: '7 days' },
    },
  ],
  templates: [{ id: 'review', locales: { en: { subject: 'How was {{ event.properties.className }}?', html: '<p>unused</p>', text: 'Rate your class' } } }],
};

describe('in-app messages in a journey (time-skipping server)', () => {
  let h: JourneyHarness;
  before(async () => {
    h = await JourneyHarness.start('workflow_inapp', parseDefinition(DEFINITION, 'test'));
  });
  after(async () => {
    await h?.teardown();
  });

  test('the first prompt lands in the inbox; seen in the app, it is engagement in the journey and its timeline, and the reminder is not sent', async () => {
    const userId = 'inapp-reader';
    await h.profile(userId, { timezone: 'UTC' });
    const logger = pino({ level: 'silent' });
    const inbox = new Inbox({ models: h.db.models, feedback: new FeedbackSink({ client: h.env.client, models: h.db.models, logger, upstreamTimeoutMs: 5_000 }), logger });
    await h.withWorker(async (taskQueue) => {
      const c = h.customer(taskQueue, userId);
      await c.track('Class Completed', { className: 'HIIT 45' });
      const key = `customer-${userId}/review_prompt/1`;
      const listed = await h.eventually('the prompt in the inbox', async () => {
        const page = await inbox.list(userId, { limit: 10 });
        return page.messages.length > 0 && page;
      });
      assert.deepEqual(listed.messages.map((m) => [m.id, m.title, m.body, m.state]), [[messageIdOf(key), 'How was HIIT 45?', 'Rate your class', 'unread']]);
      await h.eventually('the send recorded', async () => (await c.journey()).messages.some((m) => m.key === key && m.status === 'sent'));

      const seen = await inbox.report(userId, messageIdOf(key), 'seen', Date.now());
      assert.equal(seen!.state, 'seen');
      // The app reports it again (a retry): the journey hears it once.
      await inbox.report(userId, messageIdOf(key), 'seen', Date.now());
      const journey = await h.eventually('the sighting in the journey', async () => {
        const j = await c.journey();
        return j.messages.some((m) => m.key === key && m.openedAt) && j;
      });
      assert.equal(journey.engagement.opens, 1);
      const reminder = journey.messages.find((m) => m.key === `customer-${userId}/review_prompt/2`);
      assert.deepEqual([reminder?.status, reminder?.reason], ['cancelled', `exited: in-app message seen (${key})`]);
      assert.deepEqual(
        timelineOf(journey)
          .filter((e) => e.campaignId === 'review_prompt')
          .map((e) => [e.kind, e.status]),
        [
          ['message', 'sent'],
          ['message', 'cancelled'],
          ['email', 'opened'],
        ],
      );

      // Two days on, nothing more reached the inbox.
      await h.env.sleep(2 * DAY + HOUR);
      assert.equal(await h.db.models.InboxEntry.countDocuments({ userId }), 1);
      const events = await h.db.models.ChannelEvent.find({ userId }).lean();
      assert.deepEqual(
        events.map((e) => [e._id, e.type, e.status]),
        [[`inapp:${key}/seen`, 'opened', 'signalled']],
      );
      await saveHistory(c.handle!, 'inapp-seen-stops-series');
    });
  });
});
