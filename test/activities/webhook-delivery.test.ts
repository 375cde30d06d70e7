/**
 * deliverMessage on the webhook channel, against the real MongoDB-compatible server (embedded FerretDB)
 * and a local receiver that verifies each message's signature and keeps one message per Idempotency-Key,
 * over real HTTP with Node's fetch. Nothing of ours is mocked.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { pino } from 'pino';
import { createJourneyActivities, type ActivityDeps } from '../../activities/journey-activities.js';
import type { JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import type { DeliveryRequest } from '../../src/core/journey-state.js';
import { createOutboxMailer } from '../../src/delivery/mailer.js';
import { createWebhookChannel } from '../../src/delivery/webhook-channel.js';
import { freePort } from '../../src/servers/local-servers.js';
import { startTestDatabase, type TestDatabase } from '../support/database.js';
import { definitionStore } from '../support/definitions.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';
import { isFailure } from '../support/failures.js';

const SECRET = 'whsec_activities_0123456789abcdef';

const DEFINITION: JourneyDefinitionInput = {
  id: 'hooks',
  name: 'Webhook test journey',
  defaultLocale: 'en',
  initialStage: 'member',
  stages: [{ id: 'member' }],
  campaigns: [
    { id: 'class_starting', name: 'Class starting', kind: 'transactional', trigger: { event: 'Class Booked' }, message: { channel: 'webhook', endpoint: 'push', template: 'class_starting' } },
    { id: 'streak_push', name: 'Streak push', kind: 'marketing', trigger: { event: 'Workout Completed' }, message: { channel: 'webhook', endpoint: 'push', template: 'class_starting' } },
    { id: 'inbox_note', name: 'In-app note', kind: 'transactional', trigger: { event: 'Note' }, message: { channel: 'webhook', endpoint: 'inapp', template: 'class_starting' } },
  ],
  templates: [
    {
      id: 'class_starting',
      locales: {
        en: { subject: 'Starts in 15 minutes', html: '<p>unused</p>', text: '{{ profile.firstName }}, {{ event.properties.className }} starts soon' },
        de: { subject: 'Gleich geht es los', html: '<p>unused</p>', text: '{{ profile.firstName }}, {{ event.properties.className }} beginnt gleich' },
      },
    },
  ],
};

describe('deliverMessage on the webhook channel', () => {
  let db: TestDatabase;
  let receiver: WebhookReceiver;
  let deps: ActivityDeps;
  let activities: ReturnType<typeof createJourneyActivities>;
  let version: string;
  let n = 0;

  before(async () => {
    [db, receiver] = await Promise.all([startTestDatabase('activities_webhook'), startWebhookReceiver({ secret: SECRET })]);
    const definitions = await definitionStore(db.models, DEFINITION);
    version = definitions.current.version;
    deps = {
      models: db.models,
      definitions,
      mailer: createOutboxMailer(db.models),
      webhooks: createWebhookChannel({ endpoints: [{ id: 'push', url: receiver.url, secret: SECRET }], timeoutMs: 5_000 }),
      emailFrom: 'Hooks <hello@hooks.example>',
      logger: pino({ level: 'silent' }),
    };
    activities = createJourneyActivities(deps);
  });
  after(async () => {
    await receiver?.close();
    await db?.teardown();
  });
  beforeEach(() => receiver.reset());

  /** A fresh customer with a profile but no email address (a push provider knows them by userId). */
  async function customer(fields: Record<string, unknown> = {}): Promise<string> {
    const userId = `u-${++n}`;
    await db.models.Customer.create({ _id: userId, firstName: 'Ada', traits: {}, ...fields });
    return userId;
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
      definition: { id: 'hooks', version },
      summary: `send ${campaignId}`,
      eventProperties: { className: 'HIIT 45' },
      channel: 'webhook',
      endpoint: 'push',
      ...overrides,
    };
  }

  test('posts one signed message and records it; a retry with the same request is a duplicate and posts nothing', async () => {
    const userId = await customer({ locale: 'de-AT' });
    const req = request(userId, { variant: 'short' });
    const before = Date.now();

    const first = await activities.deliverMessage(req);
    assert.deepEqual(first, { status: 'sent', provider: 'webhook', providerMessageId: 'msg-1' });
    assert.equal(receiver.requests, 1);
    assert.equal(receiver.badSignatures, 0);
    assert.equal(receiver.messages.length, 1);
    const [received] = receiver.messages;
    assert.equal(received!.idempotencyKey, req.key);
    const { sentAt, ...rest } = received!.message;
    assert.deepEqual(rest, {
      deliveryKey: req.key,
      userId,
      campaignId: 'class_starting',
      variant: 'short',
      kind: 'transactional',
      locale: 'de',
      title: 'Gleich geht es los',
      body: 'Ada, HIIT 45 beginnt gleich',
    });
    assert.ok(Date.parse(sentAt) >= before - 1_000 && Date.parse(sentAt) <= Date.now(), sentAt);
    assert.ok(received!.signedAt >= Math.floor(before / 1_000) - 1 && received!.signedAt <= Math.ceil(Date.now() / 1_000));

    const retry = await activities.deliverMessage(req);
    assert.deepEqual(retry, { status: 'sent', provider: 'webhook', providerMessageId: 'msg-1', duplicate: true });
    assert.equal(receiver.requests, 1, 'the retry did not contact the endpoint');

    const doc = await db.models.Delivery.findById(req.key).lean();
    assert.equal(doc?.status, 'sent');
    assert.equal(doc?.provider, 'webhook');
    assert.equal(doc?.endpoint, 'push');
    assert.equal(doc?.providerMessageId, 'msg-1');
    assert.equal(doc?.locale, 'de');
    assert.equal(doc?.attempts, 1);
    assert.equal(doc?.definitionVersion, version);
    assert.ok(doc?.sentAt instanceof Date);
    assert.equal(await db.models.Outbox.countDocuments({ userId }), 0, 'no email went out');
  });

  test('a crash after the endpoint took the message, before it was recorded: the retry posts the same key, the receiver keeps one', async () => {
    const userId = await customer();
    const req = request(userId);
    assert.equal((await activities.deliverMessage(req)).status, 'sent');
    // What a worker killed between the POST and the record leaves behind: the claim still "sending".
    await db.models.Delivery.updateOne({ _id: req.key }, { $set: { status: 'sending' }, $unset: { sentAt: 1, providerMessageId: 1 } });

    const outcome = await activities.deliverMessage(req);
    assert.deepEqual(outcome, { status: 'sent', provider: 'webhook', providerMessageId: 'msg-1' });
    assert.equal(receiver.requestsFor(req.key), 2, 'posted again with the same Idempotency-Key');
    assert.equal(receiver.duplicates, 1);
    assert.equal(receiver.messages.length, 1, 'the receiver delivered it once');
    const doc = await db.models.Delivery.findById(req.key).lean();
    assert.equal(doc?.status, 'sent');
    assert.equal(doc?.attempts, 2);
    assert.equal(doc?.providerMessageId, 'msg-1');

    assert.equal((await activities.deliverMessage(req)).status, 'sent');
    assert.equal(receiver.requestsFor(req.key), 2, 'once recorded, nothing is posted again');
  });

  test('429 with Retry-After: retryable DeliveryDeferred after exactly that long; the next attempt delivers once', async () => {
    const userId = await customer();
    const req = request(userId);
    receiver.injectFaults([{ status: 429, retryAfter: '7' }]);

    await assert.rejects(activities.deliverMessage(req), (err: unknown) => {
      isFailure('DeliveryDeferred', true)(err);
      assert.equal((err as ApplicationFailure).nextRetryDelay, 7_000);
      assert.match((err as Error).message, /^webhook push answered 429/);
      return true;
    });
    assert.equal((await db.models.Delivery.findById(req.key).lean())?.status, 'sending');
    assert.equal(receiver.messages.length, 0);

    assert.equal((await activities.deliverMessage(req)).status, 'sent');
    assert.equal(receiver.messages.length, 1);
    assert.equal(receiver.requests, 2);
    assert.equal((await db.models.Delivery.findById(req.key).lean())?.attempts, 2);
  });

  test('a burst of 500/502/503 is retried with the workflow\'s backoff (no delay of our own), then delivered once', async () => {
    const userId = await customer();
    const req = request(userId);
    receiver.injectFaults([{ status: 500 }, { status: 502 }, { status: 503, retryAfter: 'Wed, 01 Jan 2020 00:00:00 GMT' }]);
    for (const status of [500, 502, 503]) {
      await assert.rejects(activities.deliverMessage(req), (err: unknown) => {
        isFailure('DeliveryDeferred', true)(err);
        assert.equal((err as ApplicationFailure).nextRetryDelay, undefined, `${status}: the activity's retry policy decides`);
        assert.match((err as Error).message, new RegExp(`answered ${status}`));
        return true;
      });
    }
    assert.equal((await activities.deliverMessage(req)).status, 'sent');
    assert.equal(receiver.requests, 4);
    assert.equal(receiver.messages.length, 1);
    assert.equal((await db.models.Delivery.findById(req.key).lean())?.attempts, 4);
  });

  test('400: rejected for good, recorded as failed with the endpoint\'s words, and never posted again', async () => {
    const userId = await customer();
    const req = request(userId);
    receiver.injectFaults([{ status: 400, message: 'no device registered for this user' }]);

    await assert.rejects(activities.deliverMessage(req), isFailure('DeliveryRejected', false));
    const doc = await db.models.Delivery.findById(req.key).lean();
    assert.equal(doc?.status, 'failed');
    assert.equal(doc?.error, 'webhook push answered 400: {"error":"no device registered for this user"}');
    await assert.rejects(activities.deliverMessage(req), (err: unknown) => {
      isFailure('DeliveryRejected', false)(err);
      assert.match((err as Error).message, /no device registered/);
      return true;
    });
    assert.equal(receiver.requests, 1);
    assert.equal(receiver.messages.length, 0);
  });

  test('a worker with the wrong secret: the receiver refuses the signature (401), the delivery waits for the fix rather than failing', async () => {
    const userId = await customer();
    const req = request(userId);
    const misconfigured = createJourneyActivities({
      ...deps,
      webhooks: createWebhookChannel({ endpoints: [{ id: 'push', url: receiver.url, secret: 'whsec_not_the_receivers_secret' }] }),
    });
    await assert.rejects(misconfigured.deliverMessage(req), (err: unknown) => {
      isFailure('DeliveryDeferred', true)(err);
      assert.equal((err as Error).message, 'webhook push answered 401: {"error":"signature does not match"}');
      return true;
    });
    assert.equal(receiver.badSignatures, 1);
    assert.equal(receiver.messages.length, 0);
    assert.equal((await db.models.Delivery.findById(req.key).lean())?.status, 'sending');

    // The operator fixes WEBHOOK_SECRETS; the next attempt goes out once.
    assert.equal((await activities.deliverMessage(req)).status, 'sent');
    assert.equal(receiver.messages.length, 1);
    assert.equal(receiver.badSignatures, 1);
  });

  test('an endpoint this worker has not configured: failed for good with the reason recorded, nothing posted', async () => {
    const userId = await customer();
    const req = request(userId, { campaignId: 'inbox_note', endpoint: 'inapp' });
    const reason = 'webhook endpoint "inapp" is not configured on this worker (WEBHOOK_ENDPOINTS; configured: push)';
    await assert.rejects(activities.deliverMessage(req), (err: unknown) => {
      isFailure('DeliveryRejected', false)(err);
      assert.equal((err as Error).message, reason);
      return true;
    });
    const doc = await db.models.Delivery.findById(req.key).lean();
    assert.equal(doc?.status, 'failed');
    assert.equal(doc?.error, reason);
    assert.equal(doc?.endpoint, 'inapp');
    assert.equal(receiver.requests, 0);

    // A worker with no endpoints at all says so too.
    const bare = createJourneyActivities({ ...deps, webhooks: undefined });
    const other = request(await customer());
    await assert.rejects(bare.deliverMessage(other), (err: unknown) => {
      isFailure('DeliveryRejected', false)(err);
      assert.equal((err as Error).message, 'webhook endpoint "push" is not configured on this worker (WEBHOOK_ENDPOINTS; none is configured)');
      return true;
    });
  });

  test('marketing respects consent and unsubscribes; no profile is skipped; transactional goes without an email address', async () => {
    const noConsent = await customer({ marketingConsent: false });
    const unsubscribed = await customer({ unsubscribedAt: new Date() });
    const marketing = { campaignId: 'streak_push', kind: 'marketing' } as const;

    assert.deepEqual(await activities.deliverMessage(request(noConsent, marketing)), { status: 'skipped', reason: 'no consent for marketing' });
    assert.deepEqual(await activities.deliverMessage(request(unsubscribed, marketing)), { status: 'skipped', reason: 'unsubscribed from marketing' });
    assert.deepEqual(await activities.deliverMessage(request('u-never-identified')), {
      status: 'skipped',
      reason: 'no profile for this customer (identify was never called)',
    });
    assert.equal(receiver.requests, 0);
    assert.equal((await db.models.Delivery.findById(request(noConsent, marketing).key).lean())?.status, 'skipped');

    assert.equal((await activities.deliverMessage(request(noConsent))).status, 'sent');
    const consenting = await customer({ marketingConsent: true });
    assert.equal((await activities.deliverMessage(request(consenting, marketing))).status, 'sent');
    assert.deepEqual(receiver.messages.map((m) => [m.message.userId, m.message.campaignId, m.message.kind]), [
      [noConsent, 'class_starting', 'transactional'],
      [consenting, 'streak_push', 'marketing'],
    ]);
  });

  test('the provider\'s id comes from an X-Message-Id header when the body has none, else it is our key', async () => {
    receiver.answerIdAs('header');
    const a = request(await customer());
    assert.deepEqual(await activities.deliverMessage(a), { status: 'sent', provider: 'webhook', providerMessageId: 'msg-1' });
    receiver.answerIdAs('none');
    const b = request(await customer());
    assert.deepEqual(await activities.deliverMessage(b), { status: 'sent', provider: 'webhook', providerMessageId: b.key });
  });

  test('an endpoint nobody answers on: retryable DeliveryDeferred naming it unreachable', async () => {
    const closedPort = await freePort();
    const unreachable = createJourneyActivities({
      ...deps,
      webhooks: createWebhookChannel({ endpoints: [{ id: 'push', url: `http://127.0.0.1:${closedPort}/hook`, secret: SECRET }], timeoutMs: 2_000 }),
    });
    const req = request(await customer());
    await assert.rejects(unreachable.deliverMessage(req), (err: unknown) => {
      isFailure('DeliveryDeferred', true)(err);
      assert.equal((err as Error).message, 'webhook push unreachable: ECONNREFUSED');
      return true;
    });
    assert.equal((await activities.deliverMessage(req)).status, 'sent');
    assert.equal(receiver.messages.length, 1);
  });
});
