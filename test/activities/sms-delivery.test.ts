/**
 * deliverMessage on the SMS channel: the real `twilio` SDK against a local Twilio-compatible server
 * (test/support/twilio-server.ts) and the real MongoDB-compatible server (embedded FerretDB). Nothing of
 * ours is mocked; the one wrapper below stands for a worker that dies between Twilio's answer and our record.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { createJourneyActivities, type ActivityDeps } from '../../activities/journey-activities.js';
import type { SmsSettings } from '../../src/channels/sms.js';
import type { JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import type { DeliveryRequest } from '../../src/core/journey-state.js';
import { createOutboxMailer } from '../../src/delivery/mailer.js';
import { createTwilioSender, type SmsProvider } from '../../src/delivery/twilio-client.js';
import { startTestDatabase, type TestDatabase } from '../support/database.js';
import { definitionStore } from '../support/definitions.js';
import { isFailure } from '../support/failures.js';
import { startTwilioServer, type TwilioServer } from '../support/twilio-server.js';

const FROM = '+15005550006';
const PUBLIC_URL = 'https://lifecycle.example.com';

const DEFINITION: JourneyDefinitionInput = {
  id: 'texts',
  name: 'SMS test journey',
  defaultLocale: 'en',
  initialStage: 'member',
  stages: [{ id: 'member' }],
  campaigns: [
    { id: 'class_reminder', name: 'Class reminder', kind: 'transactional', trigger: { event: 'Class Booked' }, message: { channel: 'sms', template: 'reminder' } },
    {
      id: 'comeback',
      name: 'Comeback offer',
      kind: 'marketing',
      trigger: { event: 'Churned' },
      message: { channel: 'sms', template: 'reminder', fallback: [{ channel: 'email' }] },
    },
  ],
  templates: [
    {
      id: 'reminder',
      locales: {
        en: { subject: 'Class soon', html: '<p>Class soon</p>', text: '{{ profile.firstName }}, {{ event.properties.className }} starts in 15 minutes. Reply STOP to opt out.' },
      },
    },
  ],
};

/** Quiet hours that do not cover the present (the tests send now), or that do (the quiet-hours test). */
function quietHoursAround(now: Date, covering: boolean): { from: string; to: string } {
  const hour = (h: number) => `${String(((h % 24) + 24) % 24).padStart(2, '0')}:00`;
  const h = now.getUTCHours();
  return covering ? { from: hour(h - 1), to: hour(h + 2) } : { from: hour(h + 3), to: hour(h + 5) };
}

describe('deliverMessage on the SMS channel (twilio SDK against a local Twilio-compatible server)', () => {
  let db: TestDatabase;
  let twilio: TwilioServer;
  let provider: SmsProvider;
  let sms: SmsSettings;
  let deps: ActivityDeps;
  let activities: ReturnType<typeof createJourneyActivities>;
  let version: string;
  let n = 0;

  before(async () => {
    [db, twilio] = await Promise.all([startTestDatabase('activities_sms'), startTwilioServer()]);
    const definitions = await definitionStore(db.models, DEFINITION);
    version = definitions.current.version;
    provider = createTwilioSender({ accountSid: twilio.accountSid, authToken: twilio.authToken, from: FROM, apiBase: twilio.url, timeoutMs: 3_000 });
    sms = { provider, publicUrl: PUBLIC_URL, defaultCountry: 'DE', quietHours: quietHoursAround(new Date(), false) };
    deps = { models: db.models, definitions, mailer: createOutboxMailer(db.models), emailFrom: 'Texts <hello@texts.example>', logger: pino({ level: 'silent' }), sms };
    activities = createJourneyActivities(deps);
  });
  after(async () => {
    await twilio?.close();
    await db?.teardown();
  });
  beforeEach(() => twilio.reset());

  /** A customer with a phone number (null: none). */
  async function customer(fields: Record<string, unknown> = {}, phone: string | null = '+49 1512 3456789'): Promise<string> {
    const userId = `s-${++n}`;
    await db.models.Customer.create({ _id: userId, firstName: 'Ada', email: `${userId}@example.com`, traits: phone === null ? {} : { phone }, ...fields });
    return userId;
  }

  /** The core's request for a class reminder by text (occurrence 1 unless overridden). */
  function request(userId: string, overrides: Partial<DeliveryRequest> = {}): DeliveryRequest {
    const campaignId = overrides.campaignId ?? 'class_reminder';
    const base = { userId, campaignId, occurrence: 1, kind: 'transactional' as const, template: 'reminder', segments: [], channel: 'sms' as const };
    return { key: `customer-${userId}/${campaignId}/1`, definition: { id: 'texts', version }, summary: `text ${campaignId}`, eventProperties: { className: 'HIIT 45' }, ...base, ...overrides };
  }

  test('sends the template’s text to the E.164 number with a status callback carrying the delivery key; a retry sends nothing more', async () => {
    const userId = await customer({}, '01512 3456789');
    const req = request(userId);
    const first = await activities.deliverMessage(req);
    assert.equal(first.status, 'sent');
    assert.equal(twilio.messages.length, 1);
    const [message] = twilio.messages;
    const { localTime, ...sent } = first as typeof first & { localTime?: string };
    assert.deepEqual(sent, { status: 'sent', provider: 'twilio', providerMessageId: message!.sid });
    assert.ok(localTime, 'quiet hours apply, so the local time it went at is told');
    assert.equal(message!.to, '+4915123456789', 'the national number in E.164 with SMS_DEFAULT_COUNTRY');
    assert.equal(message!.from, FROM);
    assert.equal(message!.body, 'Ada, HIIT 45 starts in 15 minutes. Reply STOP to opt out.');
    assert.equal(message!.statusCallback, `${PUBLIC_URL}/v1/webhooks/twilio/status?key=${encodeURIComponent(req.key)}`);

    assert.deepEqual(await activities.deliverMessage(req), { ...sent, duplicate: true });
    assert.equal(twilio.sendRequests, 1);
    const doc = await db.models.Delivery.findById(req.key).lean();
    assert.equal(doc?.status, 'sent');
    assert.equal(doc?.channel, 'sms');
    assert.equal(doc?.provider, 'twilio');
    assert.equal(doc?.providerMessageId, message!.sid);
    assert.equal(doc?.attempts, 1);
  });

  test('a 429 is retried after Twilio’s Retry-After, then sent once', async () => {
    const req = request(await customer());
    twilio.fault({ status: 429, retryAfterSeconds: 7 });
    await assert.rejects(activities.deliverMessage(req), (err: unknown) => {
      isFailure('DeliveryDeferred', true)(err);
      assert.equal((err as { nextRetryDelay?: unknown }).nextRetryDelay, 7_000);
      assert.match((err as Error).message, /Twilio answered 429/);
      return true;
    });
    assert.equal(twilio.messages.length, 0);
    // Twilio answered: it does not have the message, so the retry sends without looking.
    assert.equal((await db.models.Delivery.findById(req.key).lean())?.sendingAt, undefined);
    assert.equal((await activities.deliverMessage(req)).status, 'sent');
    assert.equal(twilio.messages.length, 1);
    assert.equal(twilio.listRequests, 0);
  });

  test('a 5xx is retried; the retry looks at Twilio first, finds nothing, and sends once', async () => {
    const req = request(await customer());
    twilio.fault({ status: 500 }, { status: 503 });
    await assert.rejects(activities.deliverMessage(req), isFailure('DeliveryDeferred', true));
    await assert.rejects(activities.deliverMessage(req), isFailure('DeliveryDeferred', true));
    assert.equal((await activities.deliverMessage(req)).status, 'sent');
    assert.equal(twilio.messages.length, 1);
    assert.equal(twilio.sendRequests, 3);
    assert.ok(twilio.listRequests >= 2, 'each retry after a 5xx looked first');
    assert.equal((await db.models.Delivery.findById(req.key).lean())?.attempts, 3);
  });

  test('a worker that dies between Twilio’s answer and our record: the retry finds the message at Twilio and sends no second one', async () => {
    const req = request(await customer());
    const dies: SmsProvider = {
      ...provider,
      async send(message) {
        await provider.send(message);
        throw new Error('worker killed after Twilio answered');
      },
    };
    await assert.rejects(createJourneyActivities({ ...deps, sms: { ...sms, provider: dies } }).deliverMessage(req), /worker killed after Twilio answered/);
    assert.equal(twilio.messages.length, 1);
    assert.equal((await db.models.Delivery.findById(req.key).lean())?.status, 'sending');

    const retry = await activities.deliverMessage(req);
    assert.deepEqual(retry, { status: 'sent', provider: 'twilio', providerMessageId: twilio.messages[0]!.sid, duplicate: true });
    assert.equal(twilio.messages.length, 1, 'no second message');
    assert.equal(twilio.sendRequests, 1);
    const doc = await db.models.Delivery.findById(req.key).lean();
    assert.equal(doc?.status, 'sent');
    assert.equal(doc?.recoveredVia, 'message-list');
    assert.equal(doc?.providerMessageId, twilio.messages[0]!.sid);
  });

  test('a connection cut after Twilio created the message: the retry finds it and sends no second one', async () => {
    const req = request(await customer());
    twilio.fault({ status: 'drop-after-create' });
    await assert.rejects(activities.deliverMessage(req), (err: unknown) => {
      isFailure('DeliveryDeferred', true)(err);
      assert.match((err as Error).message, /Twilio could not be reached/);
      return true;
    });
    assert.equal(twilio.messages.length, 1);
    const retry = await activities.deliverMessage(req);
    assert.equal(retry.status, 'sent');
    assert.equal(twilio.messages.length, 1, 'no second message');
  });

  test('the same text sent to the same number by another delivery is not taken for the cut-off one', async () => {
    const userId = await customer();
    const earlier = request(userId, { key: `customer-${userId}/class_reminder/1` });
    assert.equal((await activities.deliverMessage(earlier)).status, 'sent');
    const later = request(userId, { key: `customer-${userId}/class_reminder/2`, occurrence: 2 });
    twilio.fault({ status: 500 });
    await assert.rejects(activities.deliverMessage(later), isFailure('DeliveryDeferred', true));
    const outcome = await activities.deliverMessage(later);
    assert.equal(outcome.status, 'sent');
    assert.equal((outcome as { duplicate?: boolean }).duplicate, undefined, 'sent, not recovered');
    assert.equal(twilio.messages.length, 2);
  });

  test('a number that cannot exist is unreachable: skipped at once, or the next channel takes it', async () => {
    const bad = await customer({}, '12');
    assert.deepEqual(await activities.deliverMessage(request(bad)), {
      status: 'skipped',
      reason: "the profile's phone number cannot take text messages: not a valid phone number in DE",
    });
    const fallingBack = await customer({}, '+1 555 0100');
    const outcome = await activities.deliverMessage(request(fallingBack, { campaignId: 'comeback', kind: 'marketing', fallback: [{ channel: 'email' }] }));
    assert.equal(outcome.status, 'sent');
    assert.equal((outcome as { channel?: string }).channel, 'email');
    assert.equal(twilio.sendRequests, 0);
  });

  test('Twilio refusing the number (21211) fails the message for good; 21610 (replied STOP) also stops later texts', async () => {
    const refused = request(await customer());
    twilio.fault({ status: 400, code: 21211, message: "The 'To' number is not a valid phone number." });
    await assert.rejects(activities.deliverMessage(refused), (err: unknown) => {
      isFailure('DeliveryRejected', false)(err);
      assert.match((err as Error).message, /Twilio answered 400 \(error 21211\)/);
      return true;
    });
    assert.equal((await db.models.Delivery.findById(refused.key).lean())?.status, 'failed');

    const userId = await customer();
    twilio.optedOut.add('+4915123456789');
    await assert.rejects(activities.deliverMessage(request(userId)), /replied STOP/);
    assert.ok((await db.models.Customer.findById(userId).lean())?.smsStoppedAt instanceof Date);
    const next = await activities.deliverMessage(request(userId, { key: `customer-${userId}/class_reminder/2`, occurrence: 2 }));
    assert.deepEqual(next, { status: 'skipped', reason: 'the customer replied STOP to text messages' });
    assert.equal(twilio.sendRequests, 2);
  });

  test('quiet hours apply to every text message, transactional too, even when the campaign names no timing', async () => {
    const quiet = createJourneyActivities({ ...deps, sms: { ...sms, quietHours: quietHoursAround(new Date(), true) } });
    const req = request(await customer({ timezone: 'UTC' }));
    const outcome = await quiet.deliverMessage(req);
    assert.equal(outcome.status, 'deferred');
    assert.match((outcome as { reason: string }).reason, /quiet hours/);
    assert.ok((outcome as { until: number }).until > Date.now() + 60_000);
    assert.equal(twilio.sendRequests, 0);
    // The same message by email (no channel rule) goes now.
    const mailed = await quiet.deliverMessage(request(await customer({ timezone: 'UTC' }), { channel: undefined }));
    assert.equal(mailed.status, 'sent');
  });

  test('no phone number: skipped with the reason (inside a worker, after a few attempts waiting for identify)', async () => {
    const userId = await customer({}, null);
    assert.deepEqual(await activities.deliverMessage(request(userId)), { status: 'skipped', reason: 'no phone number on the profile (trait phone)' });
  });
});
