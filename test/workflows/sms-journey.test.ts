/**
 * A journey's SMS steps on the time-skipping server: the real workflow, the real activities against
 * FerretDB, the real `twilio` SDK against a local Twilio-compatible server. Quiet hours hold a transactional
 * text until morning (the journey sleeps, durably); Twilio's status callback that the number can never take
 * a text (30005), applied through the feedback sink, suppresses SMS and the next message goes by email.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { FeedbackSink } from '../../src/channels/feedback.js';
import { feedbackOfStatus } from '../../src/channels/sms-status.js';
import type { JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import { parseDefinition } from '../../src/definition-store/load-definition.js';
import { createTwilioSender } from '../../src/delivery/twilio-client.js';
import { JourneyHarness } from '../support/journey-harness.js';
import { startTwilioServer, type TwilioServer } from '../support/twilio-server.js';

const DEFINITION: JourneyDefinitionInput = {
  id: 'texts',
  name: 'Text journey',
  initialStage: 'member',
  stages: [{ id: 'member' }],
  campaigns: [
    {
      id: 'class_booked',
      name: 'Class booked',
      kind: 'transactional',
      trigger: { event: 'Live Class Booked' },
      message: { channel: 'sms', template: 'class_booked', fallback: [{ channel: 'email' }] },
    },
  ],
  templates: [{ id: 'class_booked', locales: { en: { subject: 'You are booked', html: '<p>You are booked</p>', text: '{{ event.properties.className }} is in your calendar' } } }],
};

describe('SMS steps in a journey (time-skipping server)', () => {
  let h: JourneyHarness;
  let twilio: TwilioServer;
  before(async () => {
    [h, twilio] = await Promise.all([JourneyHarness.start('workflow_sms', parseDefinition(DEFINITION, 'test')), startTwilioServer()]);
  });
  after(async () => {
    await twilio?.close();
    await h?.teardown();
  });

  test('a text due in quiet hours waits for the morning; a number Twilio says cannot exist suppresses SMS and the next one goes by email', async () => {
    const userId = 'texter';
    await h.profile(userId, { timezone: 'UTC', traits: { phone: '+4915123456789' } });
    const sms = {
      provider: createTwilioSender({ accountSid: twilio.accountSid, authToken: twilio.authToken, from: '+15005550006', apiBase: twilio.url, timeoutMs: 5_000 }),
      publicUrl: 'https://lifecycle.example.com',
      quietHours: { from: '21:00', to: '08:00' },
    };
    await h.withWorker(
      async (taskQueue) => {
        const ada = h.customer(taskQueue, userId);
        const at22 = await h.alignTo(22);
        await ada.track('Live Class Booked', { className: 'HIIT 45' });
        const held = await h.eventually('the text held for quiet hours', async () => {
          const told = JSON.stringify(await ada.journey());
          return told.includes('quiet hours') && told;
        });
        assert.match(held, /quiet hours 21:00-08:00/);
        assert.equal(twilio.messages.length, 0, 'nothing sent in quiet hours');
        await h.env.sleep(9 * 3_600_000);
        assert.equal(twilio.messages.length, 0, 'nothing sent before 08:00');
        const [text] = await h.eventually('the text sent at 08:00', async () => twilio.messages.length > 0 && twilio.messages);
        assert.equal(text!.body, 'HIIT 45 is in your calendar');
        const sent = await h.eventually('the text recorded as sent', async () => {
          const m = (await ada.journey()).messages.find((x) => x.campaignId === 'class_booked');
          return m?.status === 'sent' && m;
        });
        const sentAt = (await h.db.models.Delivery.findById(sent.key).lean())?.sentAt;
        assert.ok(sentAt, 'recorded');
        // Sent once quiet hours were over: 10 hours after 22:00, on the server's clock.
        assert.ok((await h.now()) >= at22 + 10 * 3_600_000);

        // Twilio reports the number as an unknown handset: SMS is suppressed for this customer.
        const sink = new FeedbackSink({ client: h.env.client, models: h.db.models, logger: pino({ level: 'silent' }), upstreamTimeoutMs: 5_000 });
        const feedback = feedbackOfStatus({ messageSid: text!.sid, status: 'undelivered', errorCode: 30005 }, sent.key, await h.now());
        assert.equal(await sink.apply(feedback!), 'applied');
        assert.equal(await sink.apply(feedback!), 'duplicate');

        await ada.track('Live Class Booked', { className: 'Yoga Flow' });
        const second = await h.eventually('the second booking by email', async () => {
          const m = (await ada.journey()).messages.filter((x) => x.campaignId === 'class_booked')[1];
          return m && m.status === 'sent' && m;
        });
        assert.equal((await h.db.models.Delivery.findById(second.key).lean())?.channel, 'email');
        assert.equal(twilio.messages.length, 1, 'no second text');
        assert.equal(h.sentTo(userId).length, 1, 'the email went');
      },
      { sms },
    );
  });
});
