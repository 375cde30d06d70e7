/**
 * deliverMessage against the real MongoDB-compatible server (embedded FerretDB) and the local
 * SendGrid-compatible server, driven by the real @sendgrid/mail client. Nothing of ours is mocked.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { pino } from 'pino';
import { createJourneyActivities, type ActivityDeps } from '../../activities/journey-activities.js';
import type { JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import type { DeliveryRequest } from '../../src/core/journey-state.js';
import { createOutboxMailer, createSendgridMailer, type Mailer } from '../../src/delivery/mailer.js';
import { freePort } from '../../src/servers/local-servers.js';
import { startTestDatabase, type TestDatabase } from '../support/database.js';
import { definitionStore } from '../support/definitions.js';
import { startSendgridServer, type SendgridServer } from '../support/sendgrid-server.js';
import { isFailure } from '../support/failures.js';

const API_KEY = 'SG.activities-test-key';
const FROM = 'Acts <hello@acts.example>';

const DEFINITION: JourneyDefinitionInput = {
  id: 'acts',
  name: 'Activities test journey',
  defaultLocale: 'en',
  initialStage: 'lead',
  stages: [{ id: 'lead' }, { id: 'customer' }],
  transitions: [{ from: ['lead'], on: { event: 'Bought' }, to: 'customer' }],
  campaigns: [
    { id: 'welcome', name: 'Welcome', kind: 'transactional', trigger: { event: 'Signed Up' }, message: { template: 'welcome' } },
    { id: 'promo', name: 'Promo', kind: 'marketing', trigger: { event: 'Browsed' }, message: { template: 'welcome' } },
  ],
  templates: [
    {
      id: 'welcome',
      locales: {
        en: {
          subject: 'Welcome, {{ profile.firstName }}!',
          html: '<p>Hi {{ profile.firstName }}</p><p>Goal: {{ profile.traits.goal }}</p>',
          text: 'Hi {{ profile.firstName }}',
        },
        de: {
          subject: 'Willkommen, {{ profile.firstName }}!',
          html: '<p>Hallo {{ profile.firstName }}</p><p>Ziel: {{ profile.traits.goal }}</p>',
        },
      },
    },
  ],
};

describe('deliverMessage', () => {
  let db: TestDatabase;
  let sendgrid: SendgridServer;
  let deps: ActivityDeps;
  let activities: ReturnType<typeof createJourneyActivities>;
  let version: string;
  let n = 0;

  before(async () => {
    [db, sendgrid] = await Promise.all([startTestDatabase('activities_delivery'), startSendgridServer({ apiKey: API_KEY })]);
    const definitions = await definitionStore(db.models, DEFINITION);
    version = definitions.current.version;
    deps = {
      models: db.models,
      definitions,
      mailer: createSendgridMailer({ apiKey: API_KEY, baseUrl: sendgrid.url, timeoutMs: 5_000 }),
      emailFrom: FROM,
      logger: pino({ level: 'silent' }),
    };
    activities = createJourneyActivities(deps);
  });
  after(async () => {
    await sendgrid?.close();
    await db?.teardown();
  });
  beforeEach(() => sendgrid.reset());

  /** A fresh customer with a profile; returns their userId. */
  async function customer(fields: Record<string, unknown> = {}): Promise<string> {
    const userId = `u-${++n}`;
    await db.models.Customer.create({ _id: userId, email: `${userId}@example.com`, firstName: 'Ada', traits: {}, ...fields });
    return userId;
  }

  function request(userId: string, overrides: Partial<DeliveryRequest> = {}): DeliveryRequest {
    const campaignId = overrides.campaignId ?? 'welcome';
    return {
      key: `customer-${userId}/${campaignId}/1`,
      userId,
      campaignId,
      occurrence: 1,
      kind: 'transactional',
      template: 'welcome',
      segments: [],
      definition: { id: 'acts', version },
      summary: `send ${campaignId}`,
      ...overrides,
    };
  }

  const toUser = (userId: string) => sendgrid.messages.filter((m) => m.customArgs.user_id === userId);

  test('sends once; a retry with the same request is reported as a duplicate and sends nothing', async () => {
    const userId = await customer();
    const req = request(userId);

    const first = await activities.deliverMessage(req);
    assert.equal(first.status, 'sent');
    assert.equal(sendgrid.messages.length, 1);
    const [message] = sendgrid.messages;
    assert.deepEqual(message!.customArgs, { delivery_key: req.key, user_id: userId, campaign_id: 'welcome' });
    assert.equal(message!.to, `${userId}@example.com`);
    assert.deepEqual(message!.categories, ['welcome', 'transactional']);
    assert.deepEqual(first, { status: 'sent', provider: 'sendgrid', providerMessageId: message!.id });

    const retry = await activities.deliverMessage(req);
    assert.deepEqual(retry, { status: 'sent', provider: 'sendgrid', providerMessageId: message!.id, duplicate: true });
    assert.equal(sendgrid.messages.length, 1, 'the retry did not send again');
    assert.equal(sendgrid.requests, 1, 'the retry did not even contact SendGrid');

    const docs = await db.models.Delivery.find({ userId }).lean();
    assert.equal(docs.length, 1);
    const doc = docs[0]!;
    assert.equal(doc._id, req.key);
    assert.equal(doc.status, 'sent');
    assert.equal(doc.attempts, 1);
    assert.equal(doc.providerMessageId, message!.id);
    assert.equal(doc.provider, 'sendgrid');
    assert.equal(doc.locale, 'en');
    assert.equal(doc.definitionVersion, version);
    assert.ok(doc.sentAt instanceof Date);
  });

  test('a claim left in "sending" by a crashed attempt is completed by the retry, once', async () => {
    const userId = await customer();
    const req = request(userId);
    // What a worker that crashed after claiming, before SendGrid answered, leaves behind.
    await db.models.Delivery.create({
      _id: req.key,
      userId,
      campaignId: req.campaignId,
      occurrence: 1,
      kind: req.kind,
      template: req.template,
      definitionVersion: version,
      status: 'sending',
      provider: 'sendgrid',
      attempts: 1,
    });

    const outcome = await activities.deliverMessage(req);
    assert.equal(outcome.status, 'sent');
    assert.equal(toUser(userId).length, 1);
    const doc = await db.models.Delivery.findById(req.key).lean();
    assert.equal(doc?.status, 'sent');
    assert.equal(doc?.attempts, 2);
    assert.equal(doc?.providerMessageId, toUser(userId)[0]!.id);

    assert.equal((await activities.deliverMessage(req)).status, 'sent');
    assert.equal(toUser(userId).length, 1);
  });

  test('picks the template by locale: de-AT gets German, an unknown locale falls back to English', async () => {
    const austrian = await customer({ locale: 'de-AT', firstName: 'Lena' });
    const french = await customer({ locale: 'fr', firstName: 'Marie' });
    await activities.deliverMessage(request(austrian));
    await activities.deliverMessage(request(french));

    const [de] = toUser(austrian);
    assert.equal(de!.subject, 'Willkommen, Lena!');
    assert.match(String((de!.body.content as Array<{ value: string }>)[0]!.value), /Hallo Lena/);
    assert.equal((await db.models.Delivery.findById(request(austrian).key).lean())?.locale, 'de');

    const [en] = toUser(french);
    assert.equal(en!.subject, 'Welcome, Marie!');
    assert.equal((await db.models.Delivery.findById(request(french).key).lean())?.locale, 'en');
  });

  test('escapes profile data in the HTML body and never runs Liquid found in trait values', async () => {
    const userId = await customer({
      firstName: '<script>alert(1)</script>',
      traits: { goal: '{{ 7*7 }} {% raw %}x{% endraw %} {{ profile.email }}' },
    });
    await activities.deliverMessage(request(userId));
    const [message] = toUser(userId);
    const content = message!.body.content as Array<{ type: string; value: string }>;
    const html = content.find((c) => c.type === 'text/html')!.value;
    assert.ok(!html.includes('<script>'), `html has a raw script tag: ${html}`);
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), html);
    assert.ok(html.includes('{{ 7*7 }} {% raw %}x{% endraw %} {{ profile.email }}'), `trait rendered literally: ${html}`);
    assert.ok(!html.includes('49'));
    assert.ok(!html.includes(`${userId}@example.com`));
    // The subject is plain text: sent as written, not HTML-escaped.
    assert.equal(message!.subject, 'Welcome, <script>alert(1)</script>!');
  });

  test('SendGrid 400: rejected for good, recorded as failed, and not sent again on a later call', async () => {
    const userId = await customer();
    const req = request(userId);
    sendgrid.injectFaults([{ status: 400, message: 'The to email is on a suppression list' }]);

    await assert.rejects(activities.deliverMessage(req), isFailure('DeliveryRejected', false));
    assert.equal(sendgrid.requests, 1);
    assert.equal(sendgrid.messages.length, 0);
    const doc = await db.models.Delivery.findById(req.key).lean();
    assert.equal(doc?.status, 'failed');
    assert.match(doc?.error ?? '', /SendGrid 400.*suppression list/);

    await assert.rejects(activities.deliverMessage(req), (err: unknown) => {
      isFailure('DeliveryRejected', false)(err);
      assert.match((err as Error).message, /suppression list/);
      return true;
    });
    assert.equal(sendgrid.requests, 1, 'the later call did not contact SendGrid');
  });

  test('SendGrid 429: retryable DeliveryDeferred with the reset time as the next retry delay; the next call delivers once', async () => {
    const userId = await customer();
    const req = request(userId);
    const resetSeconds = 5;
    sendgrid.injectFaults([{ status: 429, resetSeconds }]);

    await assert.rejects(activities.deliverMessage(req), (err: unknown) => {
      isFailure('DeliveryDeferred', true)(err);
      const delay = (err as ApplicationFailure).nextRetryDelay;
      assert.equal(typeof delay, 'number', `nextRetryDelay is ${String(delay)}`);
      assert.ok((delay as number) >= 1_000 && (delay as number) <= resetSeconds * 1_000 + 1_000, `nextRetryDelay ${String(delay)}`);
      return true;
    });
    assert.equal((await db.models.Delivery.findById(req.key).lean())?.status, 'sending');

    const outcome = await activities.deliverMessage(req);
    assert.equal(outcome.status, 'sent');
    assert.equal(toUser(userId).length, 1);
    assert.equal(sendgrid.requests, 2);
    const doc = await db.models.Delivery.findById(req.key).lean();
    assert.equal(doc?.status, 'sent');
    assert.equal(doc?.attempts, 2);
  });

  test('SendGrid 500: retryable DeliveryDeferred, then delivered once', async () => {
    const userId = await customer();
    const req = request(userId);
    sendgrid.injectFaults([{ status: 500 }]);
    await assert.rejects(activities.deliverMessage(req), isFailure('DeliveryDeferred', true));
    assert.equal(sendgrid.messages.length, 0);
    assert.equal((await activities.deliverMessage(req)).status, 'sent');
    assert.equal(toUser(userId).length, 1);
  });

  test('SendGrid unreachable: retryable DeliveryDeferred', async () => {
    const userId = await customer();
    const closedPort = await freePort();
    const unreachable = createJourneyActivities({
      ...deps,
      mailer: createSendgridMailer({ apiKey: API_KEY, baseUrl: `http://127.0.0.1:${closedPort}`, timeoutMs: 2_000 }),
    });
    const req = request(userId);
    await assert.rejects(unreachable.deliverMessage(req), (err: unknown) => {
      isFailure('DeliveryDeferred', true)(err);
      assert.match((err as Error).message, /unreachable/);
      return true;
    });
    assert.equal((await db.models.Delivery.findById(req.key).lean())?.status, 'sending');
    // Once SendGrid is back, the same delivery goes out.
    assert.equal((await activities.deliverMessage(req)).status, 'sent');
    assert.equal(toUser(userId).length, 1);
  });

  test('skips a customer without a profile, with a reason', async () => {
    const req = request('u-never-identified');
    const outcome = await activities.deliverMessage(req);
    assert.equal(outcome.status, 'skipped');
    assert.match((outcome as { reason: string }).reason, /no profile/);
    assert.equal(sendgrid.requests, 0);
    assert.equal((await db.models.Delivery.findById(req.key).lean())?.status, 'skipped');
  });

  test('skips a profile without an email address', async () => {
    const userId = `u-${++n}`;
    await db.models.Customer.create({ _id: userId, firstName: 'Ada', traits: {} });
    const outcome = await activities.deliverMessage(request(userId));
    assert.equal(outcome.status, 'skipped');
    assert.match((outcome as { reason: string }).reason, /no email/);
    assert.equal(sendgrid.requests, 0);
  });

  test('marketing respects consent and unsubscribes; transactional messages still go out', async () => {
    const noConsent = await customer({ marketingConsent: false });
    const unsubscribed = await customer({ unsubscribedAt: new Date() });
    const marketing = { campaignId: 'promo', kind: 'marketing' } as const;

    const a = await activities.deliverMessage(request(noConsent, marketing));
    assert.equal(a.status, 'skipped');
    assert.match((a as { reason: string }).reason, /consent/);
    const b = await activities.deliverMessage(request(unsubscribed, marketing));
    assert.equal(b.status, 'skipped');
    assert.match((b as { reason: string }).reason, /unsubscribed/);
    assert.equal(sendgrid.requests, 0);

    assert.equal((await activities.deliverMessage(request(noConsent))).status, 'sent');
    assert.equal((await activities.deliverMessage(request(unsubscribed))).status, 'sent');
    assert.equal(toUser(noConsent).length, 1);
    assert.equal(toUser(unsubscribed).length, 1);

    const consenting = await customer({ marketingConsent: true });
    assert.equal((await activities.deliverMessage(request(consenting, marketing))).status, 'sent');
    assert.deepEqual(toUser(consenting)[0]!.categories, ['promo', 'marketing']);
  });

  describe('outbox mailer (no SendGrid key)', () => {
    let outbox: Mailer;
    let outboxActivities: ReturnType<typeof createJourneyActivities>;
    before(() => {
      outbox = createOutboxMailer(db.models);
      outboxActivities = createJourneyActivities({ ...deps, mailer: outbox });
    });

    test('delivers into the outbox collection once per key; the retry is a duplicate', async () => {
      const userId = await customer({ firstName: 'Grace', locale: 'de' });
      const req = request(userId);
      const first = await outboxActivities.deliverMessage(req);
      assert.deepEqual(first, { status: 'sent', provider: 'outbox', providerMessageId: req.key });
      const second = await outboxActivities.deliverMessage(req);
      assert.deepEqual(second, { status: 'sent', provider: 'outbox', providerMessageId: req.key, duplicate: true });

      const docs = await db.models.Outbox.find({ userId }).lean();
      assert.equal(docs.length, 1);
      const doc = docs[0]!;
      assert.equal(doc._id, req.key);
      assert.equal(doc.to, `${userId}@example.com`);
      assert.equal(doc.from, FROM);
      assert.equal(doc.subject, 'Willkommen, Grace!');
      assert.match(doc.html, /<p>Hallo Grace<\/p>/);
      assert.equal(doc.locale, 'de');
      assert.deepEqual(doc.customArgs, { delivery_key: req.key, user_id: userId, campaign_id: 'welcome' });
      assert.equal(sendgrid.requests, 0);
      const delivery = await db.models.Delivery.findById(req.key).lean();
      assert.equal(delivery?.status, 'sent');
      assert.equal(delivery?.provider, 'outbox');
    });

    test('sending the same key twice (a crash between send and record) keeps one outbox message', async () => {
      const email = {
        key: 'outbox-direct/1',
        userId: 'u-outbox-direct',
        campaignId: 'welcome',
        to: 'a@example.com',
        from: FROM,
        subject: 'First',
        html: '<p>first</p>',
        locale: 'en',
        categories: ['welcome'],
        customArgs: { delivery_key: 'outbox-direct/1' },
      };
      assert.deepEqual(await outbox.send(email), { provider: 'outbox', providerMessageId: email.key });
      assert.deepEqual(await outbox.send({ ...email, subject: 'Second' }), { provider: 'outbox', providerMessageId: email.key });
      const docs = await db.models.Outbox.find({ _id: email.key }).lean();
      assert.equal(docs.length, 1);
      assert.equal(docs[0]!.subject, 'First');
    });
  });
});
