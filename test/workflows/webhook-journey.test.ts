/**
 * A journey's webhook steps end to end on the time-skipping server: the real workflow, the real activities
 * against FerretDB, and a local receiver that verifies signatures and keeps one message per
 * Idempotency-Key. The provider's 500 and 429 are retried by Temporal's retry policy (Retry-After as the
 * next delay), an endpoint the worker lacks fails the step with its reason, and the journey goes on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import { parseDefinition } from '../../src/definition-store/load-definition.js';
import { createWebhookChannel } from '../../src/delivery/webhook-channel.js';
import type { JourneyView } from '../../src/temporal/contract.js';
import { JourneyHarness, type Customer } from '../support/journey-harness.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = 'whsec_workflow_0123456789abcdef';

const DEFINITION: JourneyDefinitionInput = {
  id: 'pushes',
  name: 'Push journey',
  initialStage: 'member',
  stages: [{ id: 'member' }],
  campaigns: [
    { id: 'class_booked', name: 'Class booked', kind: 'transactional', trigger: { event: 'Live Class Booked' }, message: { channel: 'webhook', endpoint: 'push', template: 'class_booked' } },
    { id: 'coach_note', name: 'Coach note', kind: 'transactional', trigger: { event: 'Coach Note Posted' }, message: { channel: 'webhook', endpoint: 'inapp', template: 'class_booked' } },
  ],
  templates: [{ id: 'class_booked', locales: { en: { subject: 'You are booked', html: '<p>unused</p>', text: '{{ event.properties.className }} is in your calendar' } } }],
};

/** Query the journey until `done` holds: the outcome arrives after the activity, on the workflow's next task. */
async function journeyWhen(customer: Customer, done: (view: JourneyView) => boolean): Promise<JourneyView> {
  for (let i = 0; i < 600; i++) {
    const view = await customer.journey();
    if (done(view)) return view;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return customer.journey();
}

describe('webhook steps in a journey (time-skipping server)', () => {
  let h: JourneyHarness;
  let receiver: WebhookReceiver;
  before(async () => {
    [h, receiver] = await Promise.all([JourneyHarness.start('workflow_webhook', parseDefinition(DEFINITION, 'test')), startWebhookReceiver({ secret: SECRET })]);
  });
  after(async () => {
    await receiver?.close();
    await h?.teardown();
  });

  test('a booking reaches the push endpoint exactly once through a 500 and a 429; an endpoint the worker lacks fails the step and the journey goes on', async () => {
    const userId = 'pusher';
    await h.db.models.Customer.create({ _id: userId, firstName: 'Ada', traits: {} });
    const webhooks = createWebhookChannel({ endpoints: [{ id: 'push', url: receiver.url, secret: SECRET }], timeoutMs: 5_000 });
    await h.withWorker(
      async (taskQueue) => {
        const ada = h.customer(taskQueue, userId);
        receiver.injectFaults([{ status: 500 }, { status: 429, retryAfter: '3' }]);
        await ada.track('Live Class Booked', { className: 'HIIT 45' });
        const [first] = await receiver.waitForMessages(1);
        const key = `customer-${userId}/class_booked/1`;
        assert.equal(first!.idempotencyKey, key);
        assert.equal(first!.message.body, 'HIIT 45 is in your calendar');
        assert.equal(first!.message.title, 'You are booked');

        let view = await journeyWhen(ada, (v) => v.messages.some((m) => m.campaignId === 'class_booked' && m.status !== 'pending'));
        assert.deepEqual(
          view.messages.map((m) => [m.key, m.status, m.providerMessageId]),
          [[key, 'sent', 'msg-1']],
        );

        await ada.track('Coach Note Posted');
        view = await journeyWhen(ada, (v) => v.messages.some((m) => m.campaignId === 'coach_note' && m.status !== 'pending'));
        const note = view.messages.find((m) => m.campaignId === 'coach_note')!;
        assert.equal(note.status, 'failed');
        assert.equal(note.reason, 'webhook endpoint "inapp" is not configured on this worker (WEBHOOK_ENDPOINTS; configured: push)');

        await ada.track('Live Class Booked', { className: 'Yoga Flow' });
        await receiver.waitForMessages(2);
        view = await journeyWhen(ada, (v) => v.messages.filter((m) => m.status === 'sent').length === 2);
        assert.deepEqual(
          view.messages.map((m) => [m.campaignId, m.status]),
          [
            ['class_booked', 'sent'],
            ['coach_note', 'failed'],
            ['class_booked', 'sent'],
          ],
        );

        assert.equal(receiver.requestsFor(key), 3, 'the 500, the 429, then the delivery');
        assert.deepEqual(
          receiver.messages.map((m) => [m.idempotencyKey, m.message.body]),
          [
            [key, 'HIIT 45 is in your calendar'],
            [`customer-${userId}/class_booked/2`, 'Yoga Flow is in your calendar'],
          ],
        );
        assert.equal(receiver.badSignatures, 0);
        assert.equal(receiver.duplicates, 0);
        const deliveries = await h.db.models.Delivery.find({ userId }).sort({ _id: 1 }).lean();
        assert.deepEqual(
          deliveries.map((d) => [d._id, d.status, d.provider, d.endpoint, d.attempts]),
          [
            [key, 'sent', 'webhook', 'push', 3],
            [`customer-${userId}/class_booked/2`, 'sent', 'webhook', 'push', 1],
            [`customer-${userId}/coach_note/1`, 'failed', 'webhook', 'inapp', 1],
          ],
        );
        assert.equal(h.sentTo(userId).length, 0, 'no email');
      },
      { webhooks },
    );
  });
});
