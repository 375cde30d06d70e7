/**
 * A journey's push steps on the time-skipping server: the real workflow, the real activities against
 * FerretDB, real web-push against the local HTTPS push service that verifies VAPID and decrypts. The push
 * service's 500 and 429 are retried by Temporal (Retry-After as the next delay) and the browser gets the
 * message once; once every subscription is gone (410) the campaign's email fallback takes it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import webPush from 'web-push';
import type { JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import { parseDefinition } from '../../src/definition-store/load-definition.js';
import { createWebPushSender } from '../../src/delivery/web-push-sender.js';
import { PushSubscriptions } from '../../src/push/push-subscriptions.js';
import { JourneyHarness, type Customer } from '../support/journey-harness.js';
import type { JourneyView } from '../../src/temporal/contract.js';
import { startPushService, type PushService } from '../support/push-service.js';

const VAPID = { ...webPush.generateVAPIDKeys(), subject: 'mailto:push@coachinglive.example' };

const DEFINITION: JourneyDefinitionInput = {
  id: 'web_pushes',
  name: 'Web push journey',
  initialStage: 'member',
  stages: [{ id: 'member' }],
  campaigns: [
    {
      id: 'class_booked',
      name: 'Class booked',
      kind: 'transactional',
      trigger: { event: 'Live Class Booked' },
      message: { channel: 'push', template: 'class_booked', fallback: [{ channel: 'email' }] },
    },
  ],
  templates: [{ id: 'class_booked', locales: { en: { subject: 'You are booked', html: '<p>You are booked.</p>', text: '{{ event.properties.className }} is in your calendar' } } }],
};

describe('push steps in a journey (time-skipping server)', () => {
  let h: JourneyHarness;
  let service: PushService;
  before(async () => {
    [h, service] = await Promise.all([JourneyHarness.start('workflow_push', parseDefinition(DEFINITION, 'test')), startPushService()]);
  });
  /** The journey once `done` holds (the outcome arrives after the activity, on the workflow's next task). */
  const journeyWhen = (customer: Customer, done: (view: JourneyView) => boolean) =>
    h.eventually('the journey to record the outcome', async () => {
      const view = await customer.journey();
      return done(view) && view;
    });
  after(async () => {
    await service?.close();
    await h?.teardown();
  });

  test('through a 500 and a 429 the browser gets it once; with the subscription gone (410) the email fallback takes the next', async () => {
    const userId = 'pusher';
    await h.db.models.Customer.create({ _id: userId, firstName: 'Ada', email: 'ada@example.com', traits: {} });
    const browser = service.subscribe({ applicationServerKey: VAPID.publicKey });
    await new PushSubscriptions(h.db.models).register(userId, browser.json);
    const webPushDeps = { sender: createWebPushSender({ vapid: VAPID, timeoutMs: 5_000, agent: service.agent }), ttlSeconds: 600, services: [service.origin] };
    await h.withWorker(
      async (taskQueue) => {
        const ada = h.customer(taskQueue, userId);
        service.injectFaults(browser.id, [{ status: 500 }, { status: 429, retryAfter: '3' }]);
        await ada.track('Live Class Booked', { className: 'HIIT 45' });
        const [first] = await service.waitForReceived(1);
        assert.deepEqual([(first!.json as { title: string }).title, (first!.json as { body: string }).body], ['You are booked', 'HIIT 45 is in your calendar']);
        let view = await journeyWhen(ada, (v) => v.messages.some((m) => m.status !== 'pending'));
        assert.deepEqual(view.messages.map((m) => [m.key, m.status, m.providerMessageId]), [[`customer-${userId}/class_booked/1`, 'sent', first!.location]]);
        assert.equal(service.requestsFor(browser.id), 3, 'the 500, the 429, then the delivery');

        service.unsubscribe(browser.id);
        await ada.track('Live Class Booked', { className: 'Yoga Flow' });
        view = await journeyWhen(ada, (v) => v.messages.filter((m) => m.status !== 'pending').length === 2);
        const second = view.messages[1]!;
        assert.equal(second.status, 'sent');
        assert.equal(h.sentTo(userId).length, 1, 'the email fallback sent it');
        assert.equal(service.received.length, 1, 'nothing more was pushed');
        const delivery = await h.db.models.Delivery.findById(`customer-${userId}/class_booked/2`).lean();
        assert.deepEqual([delivery?.channel, delivery?.provider], ['email', 'sendgrid']);
        assert.equal((await h.db.models.PushSubscription.countDocuments({ userId })), 0);
      },
      { webPush: webPushDeps },
    );
  });
});
