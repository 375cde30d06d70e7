/**
 * "Look before you resend": deliverMessage after an attempt that was cut off once its request had gone to
 * SendGrid, against the real MongoDB-compatible server (FerretDB) and the local SendGrid-compatible server
 * with its Email Activity Feed, through the real @sendgrid/client. The lookup's clock is the test's, so
 * the settle time passes without sleeping.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { pino } from 'pino';
import { createJourneyActivities, type ActivityDeps } from '../../activities/journey-activities.js';
import type { JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import type { DeliveryRequest } from '../../src/core/journey-state.js';
import { createSendgridMailer, type Mailer } from '../../src/delivery/mailer.js';
import { createSentLookup } from '../../src/delivery/sent-lookup.js';
import { startTestDatabase, type TestDatabase } from '../support/database.js';
import { definitionStore } from '../support/definitions.js';
import { startSendgridServer, type SendgridServer } from '../support/sendgrid-server.js';

const API_KEY = 'SG.unknown-outcome-key';
const SETTLE_MS = 60_000;

const DEFINITION: JourneyDefinitionInput = {
  id: 'unknown_outcome',
  name: 'Unknown outcome test journey',
  initialStage: 'lead',
  stages: [{ id: 'lead' }],
  transitions: [],
  campaigns: [{ id: 'welcome', name: 'Welcome', kind: 'transactional', trigger: { event: 'Signed Up' }, message: { template: 'welcome' } }],
  templates: [{ id: 'welcome', locales: { en: { subject: 'Welcome, {{ profile.firstName }}', html: '<p>Hi</p>' } } }],
};

/** A mailer whose worker dies right after SendGrid's 202, before anything is recorded. */
function diesAfterSending(mailer: Mailer): Mailer {
  return {
    provider: mailer.provider,
    async send(email) {
      await mailer.send(email);
      throw new Error('worker killed after the 202');
    },
  };
}

function isOutcomeUnknown(delayMs: number) {
  return (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    assert.equal(err.type, 'DeliveryOutcomeUnknown');
    assert.equal(Boolean(err.nonRetryable), false);
    assert.equal(err.nextRetryDelay, delayMs);
    return true;
  };
}

describe('deliverMessage after an attempt with an unknown outcome', () => {
  let db: TestDatabase;
  let sendgrid: SendgridServer;
  let mailer: Mailer;
  let base: ActivityDeps;
  let version: string;
  let n = 0;
  /** The lookup's clock: undefined is the real one. */
  let clock: number | undefined;
  let warnings: string[] = [];

  before(async () => {
    [db, sendgrid] = await Promise.all([startTestDatabase('activities_unknown_outcome'), startSendgridServer({ apiKey: API_KEY })]);
    const definitions = await definitionStore(db.models, DEFINITION);
    version = definitions.current.version;
    mailer = createSendgridMailer({ apiKey: API_KEY, baseUrl: sendgrid.url, timeoutMs: 5_000 });
    base = { models: db.models, definitions, mailer, emailFrom: 'Acts <hello@acts.example>', logger: pino({ level: 'silent' }) };
  });
  after(async () => {
    await sendgrid?.close();
    await db?.teardown();
  });
  beforeEach(() => {
    sendgrid.reset();
    clock = undefined;
    warnings = [];
  });

  /** The activities as the worker builds them, with a lookup of the given sources. */
  function activities(opts: { feed?: boolean; webhookConfigured?: boolean } = {}) {
    const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
    const sentLookup = createSentLookup({
      models: db.models,
      ...(opts.feed === false ? {} : { feed: mailer.activityFeed! }),
      webhookConfigured: opts.webhookConfigured ?? false,
      settleMs: SETTLE_MS,
      logger,
      now: () => clock ?? Date.now(),
    });
    return createJourneyActivities({ ...base, sentLookup, logger });
  }

  async function customer(): Promise<string> {
    const userId = `u-${++n}`;
    await db.models.Customer.create({ _id: userId, email: `${userId}@example.com`, firstName: 'Ada', traits: {} });
    return userId;
  }

  function request(userId: string): DeliveryRequest {
    return {
      key: `customer-${userId}/welcome/1`,
      userId,
      campaignId: 'welcome',
      occurrence: 1,
      kind: 'transactional',
      template: 'welcome',
      segments: [],
      definition: { id: 'unknown_outcome', version },
      summary: 'send welcome',
    };
  }

  /** The first attempt: it reaches SendGrid, which answers 202, and the worker dies before recording it. */
  async function cutOffAfter202(req: DeliveryRequest): Promise<number> {
    await assert.rejects(createJourneyActivities({ ...base, mailer: diesAfterSending(mailer) }).deliverMessage(req), /worker killed after the 202/);
    const claim = await db.models.Delivery.findById(req.key).lean();
    assert.equal(claim?.status, 'sending');
    assert.ok(claim?.sendingAt instanceof Date);
    return claim.sendingAt.getTime();
  }

  const toKey = (key: string) => sendgrid.messages.filter((m) => m.customArgs.delivery_key === key);

  test('SendGrid took it: the retry finds it in the activity feed, records it sent and sends nothing', async () => {
    const req = request(await customer());
    await cutOffAfter202(req);
    const [first] = toKey(req.key);

    const outcome = await activities().deliverMessage(req);
    assert.deepEqual(outcome, { status: 'sent', provider: 'sendgrid', providerMessageId: first!.id, duplicate: true });
    assert.equal(toKey(req.key).length, 1);
    assert.equal(sendgrid.requests, 1, 'one send request in all');
    assert.equal(sendgrid.activityRequests, 1);
    const doc = await db.models.Delivery.findById(req.key).lean();
    assert.equal(doc?.status, 'sent');
    assert.equal(doc?.attempts, 1);
    assert.equal(doc?.providerMessageId, first!.id, 'the X-Message-Id part of the feed msg_id');
    assert.equal(doc?.recoveredVia, 'activity-feed');
    assert.ok(doc?.sentAt instanceof Date);

    assert.deepEqual(await activities().deliverMessage(req), { status: 'sent', provider: 'sendgrid', providerMessageId: first!.id, duplicate: true });
    assert.equal(sendgrid.activityRequests, 1, 'a delivery recorded sent is not looked up again');
  });

  test('SendGrid never got it (the request timed out): the retry waits out the settle time, then sends once', async () => {
    const req = request(await customer());
    // The server holds the request past the client's timeout and then drops it: nothing is accepted.
    sendgrid.injectFaults([{ status: 'hang', ms: 2_500 }]);
    const impatient = createSendgridMailer({ apiKey: API_KEY, baseUrl: sendgrid.url, timeoutMs: 500 });
    await assert.rejects(createJourneyActivities({ ...base, mailer: impatient }).deliverMessage(req), (err: unknown) => {
      assert.ok(err instanceof ApplicationFailure);
      assert.equal(err.type, 'DeliveryDeferred');
      return true;
    });
    const claim = await db.models.Delivery.findById(req.key).lean();
    assert.equal(claim?.status, 'sending');
    const sendingAt = claim!.sendingAt!.getTime();

    clock = sendingAt;
    await assert.rejects(activities().deliverMessage(req), isOutcomeUnknown(SETTLE_MS));
    clock = sendingAt + SETTLE_MS - 1_500;
    await assert.rejects(activities().deliverMessage(req), isOutcomeUnknown(1_500));
    assert.equal(sendgrid.activityRequests, 2);
    assert.equal(sendgrid.messages.length, 0);
    assert.equal((await db.models.Delivery.findById(req.key).lean())?.attempts, 1, 'no new attempt while waiting');

    clock = sendingAt + SETTLE_MS;
    const outcome = await activities().deliverMessage(req);
    assert.equal(outcome.status, 'sent');
    assert.equal(outcome.status === 'sent' && outcome.duplicate, undefined);
    assert.equal(toKey(req.key).length, 1);
    assert.equal(sendgrid.activityRequests, 3);
    const doc = await db.models.Delivery.findById(req.key).lean();
    assert.equal(doc?.status, 'sent');
    assert.equal(doc?.attempts, 2);
    assert.equal(doc?.providerMessageId, toKey(req.key)[0]!.id);
  });

  test('the feed lags: not listed at first, listed later: still one message', async () => {
    const req = request(await customer());
    sendgrid.setActivityFeed({ lagMs: 3_600_000 });
    const sendingAt = await cutOffAfter202(req);

    clock = sendingAt + 1_000;
    await assert.rejects(activities().deliverMessage(req), isOutcomeUnknown(SETTLE_MS - 1_000));
    sendgrid.setActivityFeed({ lagMs: 0 }); // the feed has caught up
    clock = sendingAt + 30_000;
    const outcome = await activities().deliverMessage(req);
    assert.deepEqual(outcome, { status: 'sent', provider: 'sendgrid', providerMessageId: toKey(req.key)[0]!.id, duplicate: true });
    assert.equal(toKey(req.key).length, 1);
    assert.equal(sendgrid.activityRequests, 2);
  });

  test('the limit: a feed that lags past the settle time lets a second copy out', async () => {
    const req = request(await customer());
    sendgrid.setActivityFeed({ lagMs: 3_600_000 });
    const sendingAt = await cutOffAfter202(req);
    clock = sendingAt + SETTLE_MS;
    assert.equal((await activities().deliverMessage(req)).status, 'sent');
    assert.equal(toKey(req.key).length, 2);
  });

  test('no Email Activity add-on (the feed answers 404): one warning, and the message is resent (at least once)', async () => {
    sendgrid.setActivityFeed({ available: false });
    const acts = activities();
    for (const userId of [await customer(), await customer()]) {
      const req = request(userId);
      await cutOffAfter202(req);
      const outcome = await acts.deliverMessage(req);
      assert.equal(outcome.status, 'sent');
      assert.equal(outcome.status === 'sent' && outcome.duplicate, undefined);
      assert.equal(toKey(req.key).length, 2, 'sent again: nothing could tell it had gone out');
      assert.equal((await db.models.Delivery.findById(req.key).lean())?.status, 'sent');
    }
    assert.equal(sendgrid.activityRequests, 2);
    const warned = warnings.map((l) => JSON.parse(l) as { level: number; msg: string; status?: number }).filter((l) => /Email Activity Feed is not available/.test(l.msg));
    assert.equal(warned.length, 1, warnings.join('\n'));
    assert.equal(warned[0]!.status, 404);
    assert.equal(warned[0]!.level, 40);
  });

  test('an Event Webhook event for the key proves it without asking the feed', async () => {
    const req = request(await customer());
    const sendingAt = await cutOffAfter202(req);
    const userId = req.userId;
    await db.models.EmailEvent.create({
      _id: `evt-${userId}`,
      userId,
      deliveryKey: req.key,
      type: 'processed',
      at: new Date(sendingAt),
      status: 'recorded',
      receivedAt: new Date(),
    });
    clock = sendingAt;
    const outcome = await activities({ webhookConfigured: true }).deliverMessage(req);
    assert.deepEqual(outcome, { status: 'sent', provider: 'sendgrid', duplicate: true });
    assert.equal(sendgrid.activityRequests, 0);
    assert.equal(toKey(req.key).length, 1);
    const doc = await db.models.Delivery.findById(req.key).lean();
    assert.equal(doc?.status, 'sent');
    assert.equal(doc?.recoveredVia, 'event-webhook');
  });

  test('Event Webhook only (SENDGRID_ACTIVITY_LOOKUP=off): no event within the settle time, then sent again', async () => {
    const req = request(await customer());
    const sendingAt = await cutOffAfter202(req);
    clock = sendingAt + 10_000;
    await assert.rejects(activities({ feed: false, webhookConfigured: true }).deliverMessage(req), isOutcomeUnknown(SETTLE_MS - 10_000));
    clock = sendingAt + SETTLE_MS;
    assert.equal((await activities({ feed: false, webhookConfigured: true }).deliverMessage(req)).status, 'sent');
    assert.equal(sendgrid.activityRequests, 0);
    assert.equal(toKey(req.key).length, 2);
  });

  test('an attempt SendGrid answered with an error (429) is not looked up: the retry sends at once', async () => {
    const req = request(await customer());
    sendgrid.injectFaults([{ status: 429, resetSeconds: 1 }]);
    await assert.rejects(activities().deliverMessage(req), (err: unknown) => err instanceof ApplicationFailure && err.type === 'DeliveryDeferred');
    const claim = await db.models.Delivery.findById(req.key).lean();
    assert.equal(claim?.status, 'sending');
    assert.equal(claim?.sendingAt, undefined, 'SendGrid answered: the outcome is known');
    assert.equal((await activities().deliverMessage(req)).status, 'sent');
    assert.equal(sendgrid.activityRequests, 0);
    assert.equal(toKey(req.key).length, 1);
  });
});
