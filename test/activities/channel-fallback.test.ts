/**
 * deliverMessage with fallback channels, through the channel seam: the first channel the customer can be
 * reached on and has not said no to takes the message; the outcome says which and why the others were
 * passed over; a retry keeps to the channel an earlier attempt chose. Against the real MongoDB-compatible
 * server (FerretDB), the outbox and a local webhook receiver that verifies signatures; nothing is mocked.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { createJourneyActivities, type ActivityDeps } from '../../activities/journey-activities.js';
import { defaultConsent, type ConsentCheck } from '../../src/channels/consent.js';
import type { JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import type { DeliveryRequest } from '../../src/core/journey-state.js';
import { createOutboxMailer } from '../../src/delivery/mailer.js';
import { createWebhookChannel } from '../../src/delivery/webhook-channel.js';
import { startTestDatabase, type TestDatabase } from '../support/database.js';
import { definitionStore } from '../support/definitions.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = 'whsec_fallback_0123456789abcdef';

const DEFINITION: JourneyDefinitionInput = {
  id: 'fallbacks',
  name: 'Fallback test journey',
  initialStage: 'member',
  stages: [{ id: 'member' }],
  campaigns: [
    {
      id: 'streak',
      name: 'Streak',
      kind: 'marketing',
      trigger: { event: 'Workout Completed' },
      message: { channel: 'webhook', endpoint: 'push', template: 'streak', fallback: [{ channel: 'email', template: 'streak_mail' }] },
    },
  ],
  templates: [
    { id: 'streak', locales: { en: { subject: 'Streak!', html: '<p>unused</p>', text: '{{ profile.firstName }}, 5 in a row' } } },
    { id: 'streak_mail', locales: { en: { subject: 'Your streak, {{ profile.firstName }}', html: '<p>5 in a row</p>' } } },
  ],
};

describe('deliverMessage with fallback channels', () => {
  let db: TestDatabase;
  let receiver: WebhookReceiver;
  let deps: ActivityDeps;
  let version: string;
  let n = 0;

  before(async () => {
    [db, receiver] = await Promise.all([startTestDatabase('activities_channel_fallback'), startWebhookReceiver({ secret: SECRET })]);
    const definitions = await definitionStore(db.models, DEFINITION);
    version = definitions.current.version;
    deps = {
      models: db.models,
      definitions,
      mailer: createOutboxMailer(db.models),
      webhooks: createWebhookChannel({ endpoints: [{ id: 'push', url: receiver.url, secret: SECRET }], timeoutMs: 5_000 }),
      emailFrom: 'Coach <coach@example.com>',
      logger: pino({ level: 'silent' }),
    };
  });
  after(async () => {
    await receiver?.close();
    await db?.teardown();
  });
  beforeEach(() => receiver.reset());

  async function customer(fields: Record<string, unknown> = {}): Promise<string> {
    const userId = `f-${++n}`;
    await db.models.Customer.create({ _id: userId, firstName: 'Ada', email: `${userId}@example.com`, traits: {}, ...fields });
    return userId;
  }

  /** The request the core makes for this campaign: email first, the push endpoint after it, or the other way round. */
  function request(userId: string, overrides: Partial<DeliveryRequest> = {}): DeliveryRequest {
    return {
      key: `customer-${userId}/streak/1`,
      userId,
      campaignId: 'streak',
      occurrence: 1,
      kind: 'marketing',
      template: 'streak',
      segments: [],
      definition: { id: 'fallbacks', version },
      summary: 'send Streak',
      channel: 'webhook',
      endpoint: 'push',
      fallback: [{ channel: 'email', template: 'streak_mail' }],
      ...overrides,
    };
  }

  /** Push only for customers who turned it on (a trait): the consent hook the preferences plug into. */
  const pushOptIn: ConsentCheck = (profile, req, channel) =>
    channel === 'webhook' && profile.traits?.pushOptIn !== true ? { allowed: false, reason: 'push not turned on' } : defaultConsent(profile, req, channel);

  test('the first channel that can take it does: push when allowed, else email with why push was passed over', async () => {
    const activities = createJourneyActivities({ ...deps, consent: pushOptIn });
    const pushed = await customer({ traits: { pushOptIn: true } });
    assert.deepEqual(await activities.deliverMessage(request(pushed)), { status: 'sent', provider: 'webhook', providerMessageId: 'msg-1', channel: 'webhook' });
    assert.equal(receiver.messages.length, 1);

    const mailed = await customer();
    const outcome = await activities.deliverMessage(request(mailed));
    assert.deepEqual(outcome, {
      status: 'sent',
      provider: 'outbox',
      providerMessageId: `customer-${mailed}/streak/1`,
      channel: 'email',
      passedOver: [{ channel: 'webhook', reason: 'push not turned on' }],
    });
    assert.equal(receiver.messages.length, 1, 'nothing more was pushed');
    // The fallback's own template, and the channel on the delivery record.
    const mail = await db.models.Outbox.findById(`customer-${mailed}/streak/1`).lean();
    assert.equal(mail?.subject, 'Your streak, Ada');
    assert.deepEqual((await db.models.Delivery.findById(`customer-${mailed}/streak/1`).lean())?.channel, 'email');
  });

  test('no address on the first channel passes it over; none left: skipped with every reason, nothing sent', async () => {
    const activities = createJourneyActivities(deps);
    const noEmail = await customer({ email: undefined });
    const emailFirst = request(noEmail, { channel: undefined, endpoint: undefined, template: 'streak_mail', fallback: [{ channel: 'webhook', endpoint: 'push', template: 'streak' }] });
    assert.deepEqual(await activities.deliverMessage(emailFirst), {
      status: 'sent',
      provider: 'webhook',
      providerMessageId: 'msg-1',
      channel: 'webhook',
      passedOver: [{ channel: 'email', reason: 'no email address on the profile' }],
    });
    assert.equal(receiver.messages[0]!.message.body, 'Ada, 5 in a row', 'the push carries the fallback’s own template');

    const nowhere = await customer({ email: undefined });
    const refusing = createJourneyActivities({ ...deps, consent: pushOptIn });
    const skipped = await refusing.deliverMessage(request(nowhere, { passedOver: [{ channel: 'webhook', reason: 'noted by the journey' }], fallback: [{ channel: 'email' }] }));
    assert.deepEqual(skipped, {
      status: 'skipped',
      reason: 'no channel could take it: webhook: noted by the journey; webhook: push not turned on; email: no email address on the profile',
    });
    assert.equal(receiver.messages.length, 1);
  });

  test('a retry after a cut-off attempt keeps to the channel that attempt chose', async () => {
    const activities = createJourneyActivities({ ...deps, consent: pushOptIn });
    const userId = await customer();
    const req = request(userId);
    // An earlier attempt chose email (push was off then) and was cut off after claiming; now push is on.
    await db.models.Delivery.create({
      _id: req.key,
      userId,
      campaignId: 'streak',
      occurrence: 1,
      kind: 'marketing',
      template: 'streak_mail',
      definitionVersion: version,
      status: 'sending',
      channel: 'email',
      provider: 'outbox',
      attempts: 1,
    });
    await db.models.Customer.updateOne({ _id: userId }, { $set: { 'traits.pushOptIn': true } });
    const outcome = await activities.deliverMessage(req);
    assert.deepEqual([outcome.status, (outcome as { channel?: string }).channel], ['sent', 'email']);
    assert.equal(receiver.messages.length, 0, 'not pushed as well');
    assert.equal((await db.models.Delivery.findById(req.key).lean())?.attempts, 2);
  });
});
