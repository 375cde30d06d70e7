/**
 * deliverMessage on the in-app channel, against the real MongoDB-compatible server (embedded FerretDB, its
 * own instance here, so the test can stop and restart it): the message lands in the customer's inbox once
 * under its delivery key; a worker that died between writing the entry and recording the delivery writes
 * it again as the same entry; a MongoDB outage is retried and loses nothing. Then the inbox's side: the
 * app's reports set each time once and reach the delivery record once, and expiry is marked on read.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { pino } from 'pino';
import { createJourneyActivities, type ActivityDeps } from '../../activities/journey-activities.js';
import { inappChannel } from '../../src/channels/inapp.js';
import { FeedbackSink } from '../../src/channels/feedback.js';
import type { JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import type { DeliveryRequest } from '../../src/core/journey-state.js';
import { connectDatabase, ensureIndexes, type Database } from '../../src/db/models.js';
import { createOutboxMailer } from '../../src/delivery/mailer.js';
import { Inbox, messageIdOf } from '../../src/inbox/inbox-store.js';
import { freePort, startFerretDb } from '../../src/servers/local-servers.js';
import { definitionStore } from '../support/definitions.js';

const DAY = 86_400_000;

const DEFINITION: JourneyDefinitionInput = {
  id: 'inboxes',
  name: 'In-app test journey',
  defaultLocale: 'en',
  initialStage: 'member',
  stages: [{ id: 'member' }],
  campaigns: [
    {
      id: 'review_prompt',
      name: 'Review prompt',
      kind: 'marketing',
      trigger: { event: 'Class Completed' },
      message: { channel: 'inapp', template: 'review', expiresAfter: '7 days', url: 'https://coachinglive.example/review' },
    },
  ],
  templates: [
    {
      id: 'review',
      locales: {
        en: { subject: 'Enjoying {{ event.properties.className }}?', html: '<p>unused</p>', text: '{{ profile.firstName }}, tell us how it went' },
        de: { subject: 'Gefällt dir {{ event.properties.className }}?', html: '<p>unused</p>', text: '{{ profile.firstName }}, sag uns, wie es war' },
      },
    },
  ],
};

describe('deliverMessage on the in-app channel', () => {
  let dataDir: string;
  let port: number;
  let ferret: Awaited<ReturnType<typeof startFerretDb>>;
  let db: Database;
  let activities: ReturnType<typeof createJourneyActivities>;
  let version: string;
  let n = 0;

  const startServer = async () => {
    ferret = await startFerretDb({ dataDir, port });
  };

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'lifecycle-ferretdb-inapp-'));
    port = await freePort();
    await startServer();
    db = await connectDatabase(ferret.uri('activities_inapp'), { serverSelectionTimeoutMS: 1_500 });
    await ensureIndexes(db.models);
    const definitions = await definitionStore(db.models, DEFINITION);
    version = definitions.current.version;
    const deps: ActivityDeps = { models: db.models, definitions, mailer: createOutboxMailer(db.models), emailFrom: 'In-app <hello@inapp.example>', logger: pino({ level: 'silent' }) };
    activities = createJourneyActivities(deps);
  });
  after(async () => {
    await db?.close().catch(() => undefined);
    await ferret?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function customer(fields: Record<string, unknown> = {}): Promise<string> {
    const userId = `u-${++n}`;
    await db.models.Customer.create({ _id: userId, firstName: 'Ada', traits: {}, ...fields });
    return userId;
  }

  function request(userId: string, overrides: Partial<DeliveryRequest> = {}): DeliveryRequest {
    return {
      key: `customer-${userId}/review_prompt/1`,
      userId,
      campaignId: 'review_prompt',
      occurrence: 1,
      kind: 'marketing',
      template: 'review',
      segments: [],
      definition: { id: 'inboxes', version },
      summary: 'send review_prompt',
      eventProperties: { className: 'HIIT 45' },
      channel: 'inapp',
      options: { expiresAfter: 7 * DAY, url: 'https://coachinglive.example/review' },
      ...overrides,
    };
  }

  test('writes one inbox entry under the delivery key, rendered and localized; a retry is a duplicate and writes nothing', async () => {
    const userId = await customer({ locale: 'de-AT' });
    const req = request(userId);
    const before = Date.now();
    assert.deepEqual(await activities.deliverMessage(req), { status: 'sent', provider: 'inbox', providerMessageId: req.key });
    const entries = await db.models.InboxEntry.find({ userId }).lean();
    assert.equal(entries.length, 1);
    const [entry] = entries;
    assert.deepEqual(
      [entry!._id, entry!.campaignId, entry!.kind, entry!.locale, entry!.title, entry!.body, entry!.url],
      [req.key, 'review_prompt', 'marketing', 'de', 'Gefällt dir HIIT 45?', 'Ada, sag uns, wie es war', 'https://coachinglive.example/review'],
    );
    const lives = new Date(entry!.expiresAt).getTime() - new Date(entry!.createdAt).getTime();
    assert.equal(lives, 7 * DAY);
    assert.ok(new Date(entry!.createdAt).getTime() >= before);
    const delivery = await db.models.Delivery.findById(req.key).lean();
    assert.deepEqual([delivery!.status, delivery!.channel, delivery!.provider, delivery!.providerMessageId, delivery!.attempts], ['sent', 'inapp', 'inbox', req.key, 1]);

    const again = await activities.deliverMessage(req);
    assert.equal(again.status === 'sent' && again.duplicate, true);
    assert.equal(await db.models.InboxEntry.countDocuments({ userId }), 1);
  });

  test('a worker that died after writing the entry but before recording the delivery writes it again: the same entry, not a second message', async () => {
    const userId = await customer();
    const req = request(userId);
    await activities.deliverMessage(req);
    const first = await db.models.InboxEntry.findById(req.key).lean();
    // As the record stands when the worker dies between the inbox write and the record of `sent`.
    await db.models.Delivery.updateOne({ _id: req.key }, { $set: { status: 'sending', sendingAt: new Date() }, $unset: { sentAt: 1, providerMessageId: 1 } });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const resent = await activities.deliverMessage(req);
    assert.equal(resent.status, 'sent');
    const entries = await db.models.InboxEntry.find({ userId }).lean();
    assert.equal(entries.length, 1, 'one message in the inbox');
    assert.deepEqual(entries[0], first, 'the entry as first written (its time too)');
    const delivery = await db.models.Delivery.findById(req.key).lean();
    assert.deepEqual([delivery!.status, delivery!.attempts], ['sent', 2]);
  });

  test('a message without expiresAfter or url stays 30 days', async () => {
    const userId = await customer();
    await activities.deliverMessage(request(userId, { options: {} }));
    const entry = await db.models.InboxEntry.findOne({ userId }).lean();
    assert.equal(new Date(entry!.expiresAt).getTime() - new Date(entry!.createdAt).getTime(), 30 * DAY);
    assert.equal(entry!.url, undefined);
  });

  test('the app’s reports: each time set once, each step on the delivery record once; expiry marked on read; another customer sees nothing', async () => {
    const userId = await customer();
    const req = request(userId);
    await activities.deliverMessage(req);
    // No journey runs for this customer: the sink stores each step and finds no journey to tell (orphaned).
    const inbox = new Inbox({ models: db.models, feedback: new FeedbackSink({ client: undefined as never, models: db.models, logger: pino({ level: 'silent' }), upstreamTimeoutMs: 500 }), logger: pino({ level: 'silent' }) });
    const id = messageIdOf(req.key);
    const now = Date.now();
    const page = await inbox.list(userId, { limit: 10 }, now);
    assert.deepEqual([page.unread, page.messages.map((m) => [m.id, m.state, m.title])], [1, [[id, 'unread', 'Enjoying HIIT 45?']]]);
    assert.equal((await inbox.list('someone-else', { limit: 10 }, now)).messages.length, 0);
    assert.equal(await inbox.report('someone-else', id, 'seen', now, now), undefined, 'another customer’s message is not there');

    // 'dismissed' is recorded on the delivery only (nothing for the journey), so it needs no Temporal.
    const dismissed = await inbox.report(userId, id, 'dismissed', now, now);
    assert.equal(dismissed!.state, 'dismissed');
    assert.equal((await inbox.report(userId, id, 'dismissed', now + 1_000, now + 1_000))!.dismissedAt, dismissed!.dismissedAt, 'the first time stays');
    assert.deepEqual((await db.models.Delivery.findById(req.key).lean())!.events, ['dismissed']);
    assert.equal((await inbox.list(userId, { limit: 10 }, now)).messages.length, 0, 'dismissed leaves the list');
    assert.equal((await inbox.list(userId, { limit: 10, dismissed: true }, now)).messages.length, 1, 'unless asked');

    // An unread message past its expiry: gone from the list, reports on it refused, marked expired once.
    const other = await customer();
    const late = request(other, { options: { expiresAfter: 60_000 } });
    await activities.deliverMessage(late);
    const expiry = new Date((await db.models.InboxEntry.findById(late.key).lean())!.expiresAt).getTime();
    assert.equal((await inbox.list(other, { limit: 10 }, expiry - 1)).unread, 1);
    assert.equal((await inbox.list(other, { limit: 10 }, expiry)).messages.length, 0);
    assert.equal(await inbox.report(other, messageIdOf(late.key), 'seen', expiry, expiry), undefined);
    const stored = await db.models.InboxEntry.findById(late.key).lean();
    assert.equal(new Date(stored!.expiredAt!).getTime(), expiry);
    assert.equal(await inbox.expire({}, expiry + 1), 0, 'marked once');
    assert.deepEqual((await db.models.Delivery.findById(late.key).lean())!.events, ['expired']);
    assert.equal(await db.models.ChannelEvent.countDocuments({ _id: `inapp:${late.key}/expired` }), 1);
  });

  test('MongoDB down: the delivery is retried (never failed for good), the channel answers retry; back up, the message is written once', async () => {
    const userId = await customer();
    const req = request(userId);
    await ferret.stop();
    try {
      const failure = await activities.deliverMessage(req).then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.ok(failure instanceof Error, 'the attempt fails');
      assert.ok(!(failure instanceof ApplicationFailure && failure.nonRetryable), `retryable: ${String(failure)}`);
      const answer = await inappChannel({ models: db.models }).send(
        { locale: 'en', title: 't', body: 'b', expiresAt: new Date(Date.now() + DAY) },
        { request: req, profile: { _id: userId, traits: {} } as never, address: userId, definition: undefined as never, now: new Date() },
      );
      assert.equal(answer.kind, 'retry');
      assert.match(answer.kind === 'retry' ? answer.reason : '', /^inbox \(MongoDB\) unavailable/);
    } finally {
      await startServer();
    }
    let outcome;
    for (let i = 0; i < 40 && !outcome; i++) {
      outcome = await activities.deliverMessage(req).catch(() => new Promise((resolve) => setTimeout(resolve, 250)).then(() => undefined));
    }
    assert.equal(outcome?.status, 'sent');
    assert.equal(await db.models.InboxEntry.countDocuments({ userId }), 1);
  });
});
