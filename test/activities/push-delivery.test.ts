/**
 * deliverMessage on the push channel with the real `web-push` library, against the real MongoDB-compatible
 * server (embedded FerretDB) and a local HTTPS push service that checks each request's VAPID signature and
 * decrypts its body with the subscription's private key (test/support/push-service.ts). Nothing of ours is
 * mocked.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { ApplicationFailure } from '@temporalio/activity';
import { pino } from 'pino';
import webPush from 'web-push';
import { createJourneyActivities, type ActivityDeps } from '../../activities/journey-activities.js';
import { ALL_GONE, NOT_CONFIGURED, NO_SUBSCRIPTION } from '../../src/channels/push.js';
import type { JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import type { DeliveryRequest } from '../../src/core/journey-state.js';
import { createOutboxMailer } from '../../src/delivery/mailer.js';
import { pushTopic } from '../../src/delivery/push-message.js';
import { createWebPushSender } from '../../src/delivery/web-push-sender.js';
import { PushSubscriptions, pushSubscriptionId } from '../../src/push/push-subscriptions.js';
import { startTestDatabase, type TestDatabase } from '../support/database.js';
import { definitionStore } from '../support/definitions.js';
import { isFailure } from '../support/failures.js';
import { startPushService, type BrowserSubscription, type PushService } from '../support/push-service.js';

const VAPID = { ...webPush.generateVAPIDKeys(), subject: 'mailto:push@coachinglive.example' };

const DEFINITION: JourneyDefinitionInput = {
  id: 'pushes',
  name: 'Push test journey',
  defaultLocale: 'en',
  initialStage: 'member',
  stages: [{ id: 'member' }],
  campaigns: [
    {
      id: 'class_starting',
      name: 'Class starting',
      kind: 'transactional',
      trigger: { event: 'Class Booked' },
      message: { channel: 'push', template: 'class_starting', url: '/classes/next', icon: 'https://cdn.coachinglive.example/icon.png', urgency: 'high' },
    },
    {
      id: 'streak',
      name: 'Streak',
      kind: 'marketing',
      trigger: { event: 'Workout Completed' },
      message: { channel: 'push', template: 'class_starting', fallback: [{ channel: 'email', template: 'streak_mail' }] },
    },
  ],
  templates: [
    {
      id: 'class_starting',
      locales: {
        en: { subject: 'Starts in 15 minutes', html: '<p>unused</p>', text: '{{ profile.firstName }}, {{ event.properties.className }} starts soon' },
        de: { subject: 'Gleich geht es los', html: '<p>unused</p>', text: '{{ profile.firstName }}, {{ event.properties.className }} beginnt gleich' },
      },
    },
    { id: 'streak_mail', locales: { en: { subject: 'Your streak, {{ profile.firstName }}', html: '<p>5 in a row</p>' } } },
  ],
};

describe('deliverMessage on the push channel', () => {
  let db: TestDatabase;
  let service: PushService;
  let deps: ActivityDeps;
  let activities: ReturnType<typeof createJourneyActivities>;
  let subscriptions: PushSubscriptions;
  let version: string;
  let n = 0;

  before(async () => {
    [db, service] = await Promise.all([startTestDatabase('activities_push'), startPushService()]);
    const definitions = await definitionStore(db.models, DEFINITION);
    version = definitions.current.version;
    deps = {
      models: db.models,
      definitions,
      mailer: createOutboxMailer(db.models),
      emailFrom: 'Coach <coach@example.com>',
      logger: pino({ level: 'silent' }),
      webPush: { sender: createWebPushSender({ vapid: VAPID, timeoutMs: 5_000, agent: service.agent }), ttlSeconds: 3_600, services: [service.origin] },
    };
    activities = createJourneyActivities(deps);
    subscriptions = new PushSubscriptions(db.models);
  });
  after(async () => {
    await service?.close();
    await db?.teardown();
  });
  beforeEach(() => service.reset());

  /** A customer with `devices` browsers subscribed (made for our VAPID key, as an app does). */
  async function customer(devices: number, fields: Record<string, unknown> = {}): Promise<{ userId: string; browsers: BrowserSubscription[] }> {
    const userId = `p-${++n}`;
    await db.models.Customer.create({ _id: userId, firstName: 'Ada', email: `${userId}@example.com`, traits: {}, ...fields });
    const browsers = [];
    for (let i = 0; i < devices; i++) {
      const browser = service.subscribe({ applicationServerKey: VAPID.publicKey });
      await subscriptions.register(userId, browser.json);
      browsers.push(browser);
    }
    return { userId, browsers };
  }

  function request(userId: string, overrides: Partial<DeliveryRequest> = {}): DeliveryRequest {
    const campaignId = overrides.campaignId ?? 'class_starting';
    return {
      key: `customer-${userId}/${campaignId}/1`,
      userId,
      campaignId,
      occurrence: 1,
      kind: 'transactional',
      template: 'class_starting',
      segments: [],
      definition: { id: 'pushes', version },
      summary: `send ${campaignId}`,
      eventProperties: { className: 'HIIT 45' },
      channel: 'push',
      options: { url: '/classes/next', icon: 'https://cdn.coachinglive.example/icon.png', urgency: 'high' },
      ...overrides,
    };
  }

  const streak = (userId: string): DeliveryRequest =>
    request(userId, { campaignId: 'streak', kind: 'marketing', options: undefined, fallback: [{ channel: 'email', template: 'streak_mail' }] });
  const sendsOf = async (key: string) => Object.fromEntries((await db.models.PushSend.find({ deliveryKey: key }).lean()).map((r) => [r.subscriptionId, r.status]));

  test('every subscription gets the message, VAPID-signed and encrypted: it decrypts to the rendered notification; a retry sends nothing', async () => {
    const { userId, browsers } = await customer(2, { locale: 'de-AT' });
    const req = request(userId);
    const outcome = await activities.deliverMessage(req);
    assert.equal(outcome.status, 'sent');
    assert.equal(service.refused.length, 0, service.refused.join('; '));
    assert.equal(service.received.length, 2);
    for (const [i, browser] of browsers.entries()) {
      const got = service.received[i]!;
      assert.equal(got.subscriptionId, browser.id);
      assert.deepEqual(got.json, {
        title: 'Gleich geht es los',
        body: 'Ada, HIIT 45 beginnt gleich',
        url: '/classes/next',
        icon: 'https://cdn.coachinglive.example/icon.png',
        tag: pushTopic(req.key),
        deliveryKey: req.key,
        campaignId: 'class_starting',
        locale: 'de',
      });
      assert.equal(got.topic, pushTopic(req.key));
      assert.equal(got.urgency, 'high');
      assert.equal(got.ttl, 3_600);
      assert.deepEqual([got.vapid.aud, got.vapid.sub], [service.origin, VAPID.subject]);
    }
    assert.deepEqual(outcome, { status: 'sent', provider: 'web-push', providerMessageId: service.received[0]!.location });
    const doc = await db.models.Delivery.findById(req.key).lean();
    assert.deepEqual([doc?.status, doc?.channel, doc?.provider, doc?.locale, doc?.attempts], ['sent', 'push', 'web-push', 'de', 1]);
    assert.deepEqual(await sendsOf(req.key), Object.fromEntries(browsers.map((b) => [pushSubscriptionId(b.json.endpoint), 'sent'])));

    assert.deepEqual(await activities.deliverMessage(req), { ...outcome, duplicate: true });
    assert.equal(service.received.length, 2, 'the retry contacted no push service');
    assert.equal(await db.models.Outbox.countDocuments({ userId }), 0, 'no email went out');
  });

  test('410 and 404 remove those subscriptions; the others still get it; when every one is gone the customer is unreachable on push', async () => {
    const { userId, browsers } = await customer(3);
    service.unsubscribe(browsers[0]!.id);
    service.expire(browsers[1]!.id);
    assert.equal((await activities.deliverMessage(request(userId))).status, 'sent');
    assert.deepEqual(service.received.map((r) => r.subscriptionId), [browsers[2]!.id]);
    assert.deepEqual((await subscriptions.list(userId)).map((s) => s.endpoint), [browsers[2]!.json.endpoint], 'the gone ones were removed');

    // The last one goes too: nothing went out, so the message is skipped as unreachable (no fallback here).
    service.unsubscribe(browsers[2]!.id);
    const next = request(userId, { key: `customer-${userId}/class_starting/2`, occurrence: 2 });
    assert.deepEqual(await activities.deliverMessage(next), { status: 'skipped', reason: ALL_GONE });
    assert.equal((await subscriptions.list(userId)).length, 0);
    // And the one after that never asks the push service: no subscription at all.
    const third = request(userId, { key: `customer-${userId}/class_starting/3`, occurrence: 3 });
    const requests = service.requestsFor(browsers[2]!.id);
    assert.deepEqual(await activities.deliverMessage(third), { status: 'skipped', reason: NO_SUBSCRIPTION });
    assert.equal(service.requestsFor(browsers[2]!.id), requests);
  });

  test('429 with Retry-After: retried after exactly that long, then sent once', async () => {
    const { userId, browsers } = await customer(1);
    const req = request(userId);
    service.injectFaults(browsers[0]!.id, [{ status: 429, retryAfter: '7' }]);
    await assert.rejects(activities.deliverMessage(req), (err: unknown) => {
      isFailure('DeliveryDeferred', true)(err);
      assert.equal((err as ApplicationFailure).nextRetryDelay, 7_000);
      assert.match((err as Error).message, /^push service https:\/\/127\.0\.0\.1:\d+ answered 429/);
      return true;
    });
    assert.equal(service.received.length, 0);
    assert.equal((await activities.deliverMessage(req)).status, 'sent');
    assert.equal(service.received.length, 1);
    assert.equal(service.requestsFor(browsers[0]!.id), 2);
  });

  test('a 5xx at one device after another took it: the retry sends only to the one still to go', async () => {
    const { userId, browsers } = await customer(2);
    const req = request(userId);
    service.injectFaults(browsers[1]!.id, [{ status: 500 }, { status: 503 }]);
    for (const status of [500, 503]) {
      await assert.rejects(activities.deliverMessage(req), (err: unknown) => {
        isFailure('DeliveryDeferred', true)(err);
        assert.equal((err as ApplicationFailure).nextRetryDelay, undefined, 'the activity retry policy decides');
        assert.match((err as Error).message, new RegExp(`answered ${status}`));
        return true;
      });
    }
    assert.equal((await activities.deliverMessage(req)).status, 'sent');
    assert.deepEqual([service.requestsFor(browsers[0]!.id), service.requestsFor(browsers[1]!.id)], [1, 3]);
    assert.deepEqual(service.received.map((r) => r.subscriptionId), [browsers[0]!.id, browsers[1]!.id], 'each device got it once');
    assert.equal((await db.models.Delivery.findById(req.key).lean())?.attempts, 3);
  });

  test('a crash between the push service\'s answer and our record: the retry sends only where the outcome is unknown, under the same Topic, and the device keeps one', async () => {
    const { userId, browsers } = await customer(2);
    const req = request(userId);
    assert.equal((await activities.deliverMessage(req)).status, 'sent');
    const [a, b] = browsers.map((x) => pushSubscriptionId(x.json.endpoint)) as [string, string];
    // What a worker killed after the service answered for the second device, before it was recorded, leaves.
    await db.models.Delivery.updateOne({ _id: req.key }, { $set: { status: 'sending', sendingAt: new Date() }, $unset: { sentAt: 1 } });
    await db.models.PushSend.updateOne({ _id: `${req.key}|${b}` }, { $set: { status: 'sending' } });

    assert.equal((await activities.deliverMessage(req)).status, 'sent');
    assert.deepEqual([service.requestsFor(browsers[0]!.id), service.requestsFor(browsers[1]!.id)], [1, 2], 'the recorded device is not sent to again');
    assert.deepEqual(
      service.received.filter((r) => r.subscriptionId === browsers[1]!.id).map((r) => r.topic),
      [pushTopic(req.key), pushTopic(req.key)],
      'both attempts carry the same Topic',
    );
    assert.equal(service.queued(browsers[1]!.id).length, 1, 'the push service replaced the first copy: the device shows the message once');
    assert.deepEqual(await sendsOf(req.key), { [a]: 'sent', [b]: 'sent' });

    // Killed after every device was recorded, before the delivery was: nothing is sent again.
    await db.models.Delivery.updateOne({ _id: req.key }, { $set: { status: 'sending', sendingAt: new Date() } });
    assert.equal((await activities.deliverMessage(req)).status, 'sent');
    assert.deepEqual([service.requestsFor(browsers[0]!.id), service.requestsFor(browsers[1]!.id)], [1, 2]);
  });

  test('a connection cut after the push service took the message: retried, and the second copy replaces the first', async () => {
    const { userId, browsers } = await customer(1);
    const req = request(userId);
    service.injectFaults(browsers[0]!.id, [{ cut: 'after' }]);
    await assert.rejects(activities.deliverMessage(req), (err: unknown) => {
      isFailure('DeliveryDeferred', true)(err);
      assert.match((err as Error).message, /unreachable: ECONNRESET/);
      return true;
    });
    assert.ok((await db.models.Delivery.findById(req.key).lean())?.sendingAt, 'the outcome is unknown: sendingAt kept');
    assert.equal((await activities.deliverMessage(req)).status, 'sent');
    assert.equal(service.received.length, 2);
    assert.equal(service.queued(browsers[0]!.id).length, 1);
  });

  test('400 and 413: failed for good with the push service\'s words; the subscription is kept', async () => {
    const { userId, browsers } = await customer(1);
    const req = request(userId);
    service.injectFaults(browsers[0]!.id, [{ status: 413, message: 'payload too large' }]);
    await assert.rejects(activities.deliverMessage(req), (err: unknown) => {
      isFailure('DeliveryRejected', false)(err);
      assert.match((err as Error).message, /answered 413: payload too large$/);
      return true;
    });
    const doc = await db.models.Delivery.findById(req.key).lean();
    assert.equal(doc?.status, 'failed');
    assert.equal((await subscriptions.list(userId)).length, 1);
    await assert.rejects(activities.deliverMessage(req), isFailure('DeliveryRejected', false));
    assert.equal(service.requestsFor(browsers[0]!.id), 1);
  });

  test('push falls back to email: no subscription, push turned off in the preferences, or every subscription gone at send time', async () => {
    const none = await customer(0);
    assert.deepEqual(await activities.deliverMessage(streak(none.userId)), {
      status: 'sent',
      provider: 'outbox',
      providerMessageId: `customer-${none.userId}/streak/1`,
      channel: 'email',
      passedOver: [{ channel: 'push', reason: NO_SUBSCRIPTION }],
    });
    assert.equal((await db.models.Outbox.findById(`customer-${none.userId}/streak/1`).lean())?.subject, 'Your streak, Ada');

    const optedOut = await customer(1, { preferences: { channels: { push: false } } });
    const off = await activities.deliverMessage(streak(optedOut.userId));
    assert.deepEqual([off.status, off.status === 'sent' && off.channel, off.status === 'sent' && off.passedOver], [
      'sent',
      'email',
      [{ channel: 'push', reason: 'preferences: the customer turned marketing by push off' }],
    ]);

    const gone = await customer(2);
    gone.browsers.forEach((b) => service.unsubscribe(b.id));
    const key = `customer-${gone.userId}/streak/1`;
    assert.deepEqual(await activities.deliverMessage(streak(gone.userId)), {
      status: 'sent',
      provider: 'outbox',
      providerMessageId: key,
      channel: 'email',
      passedOver: [{ channel: 'push', reason: ALL_GONE }],
    });
    assert.equal((await db.models.Delivery.findById(key).lean())?.channel, 'email');
    assert.equal(service.received.length, 0, 'nothing was pushed');
    assert.equal((await subscriptions.list(gone.userId)).length, 0);
  });

  test('a worker without VAPID keys fails push messages for good; a subscription outside WEB_PUSH_SERVICES is never contacted', async () => {
    const { userId, browsers } = await customer(1);
    const bare = createJourneyActivities({ ...deps, webPush: undefined });
    await assert.rejects(bare.deliverMessage(request(userId)), (err: unknown) => {
      isFailure('DeliveryRejected', false)(err);
      assert.equal((err as Error).message, NOT_CONFIGURED);
      return true;
    });
    const other = await customer(1);
    const strict = createJourneyActivities({ ...deps, webPush: { ...deps.webPush!, services: ['https://fcm.googleapis.com'] } });
    await assert.rejects(strict.deliverMessage(request(other.userId)), (err: unknown) => {
      isFailure('DeliveryRejected', false)(err);
      assert.match((err as Error).message, /is not one this deployment sends to \(WEB_PUSH_SERVICES: https:\/\/fcm\.googleapis\.com\)/);
      return true;
    });
    assert.equal(service.requestsFor(browsers[0]!.id) + service.requestsFor(other.browsers[0]!.id), 0);
  });
});
