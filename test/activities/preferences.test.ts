/**
 * Preferences at send time, against the real MongoDB-compatible server and the local SendGrid-compatible
 * server driven by the real @sendgrid/mail client: what the profile says holds a marketing message back,
 * never a transactional one, and every marketing email carries RFC 8058 headers (also in the local outbox).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { createJourneyActivities } from '../../activities/journey-activities.js';
import type { JourneyDefinitionInput } from '../../src/core/journey-definition.js';
import type { DeliveryRequest } from '../../src/core/journey-state.js';
import { createOutboxMailer, createSendgridMailer } from '../../src/delivery/mailer.js';
import { LinkSigner, preferenceLinks } from '../../src/preferences/preference-links.js';
import { startTestDatabase, type TestDatabase } from '../support/database.js';
import { definitionStore } from '../support/definitions.js';
import { startSendgridServer, type SendgridServer } from '../support/sendgrid-server.js';

const API_KEY = 'SG.preferences-test-key';

const DEFINITION: JourneyDefinitionInput = {
  id: 'prefs',
  name: 'Preferences test journey',
  initialStage: 'lead',
  stages: [{ id: 'lead' }],
  topics: [
    { id: 'offers', label: { en: 'Offers', de: 'Angebote' } },
    { id: 'tips', label: { en: 'Tips', de: 'Tipps' } },
  ],
  campaigns: [
    { id: 'receipt', name: 'Receipt', kind: 'transactional', trigger: { event: 'Paid' }, message: { template: 'note' } },
    { id: 'promo', name: 'Promo', kind: 'marketing', topic: 'offers', trigger: { event: 'Browsed' }, message: { template: 'note' } },
    { id: 'tip', name: 'Tip', kind: 'marketing', topic: 'tips', trigger: { event: 'Browsed' }, message: { template: 'note' } },
    { id: 'own_footer', name: 'Own footer', kind: 'marketing', topic: 'tips', trigger: { event: 'Browsed' }, message: { template: 'own_footer' } },
  ],
  templates: [
    {
      id: 'note',
      locales: {
        en: { subject: 'Hello {{ profile.firstName }}', html: '<p>Hello</p>', text: 'Hello' },
        de: { subject: 'Hallo {{ profile.firstName }}', html: '<p>Hallo</p>', text: 'Hallo' },
      },
    },
    { id: 'own_footer', locales: { en: { subject: 'Tips', html: '<p>Tips</p><p><a href="{{ links.preferences }}">Settings</a></p>' } } },
  ],
};

describe('preferences at send time', () => {
  let db: TestDatabase;
  let sendgrid: SendgridServer;
  let version: string;
  let n = 0;
  const signer = new LinkSigner([randomBytes(32)]);
  const links = preferenceLinks(signer, 'https://lifecycle.example.com');
  let viaSendgrid: ReturnType<typeof createJourneyActivities>;
  let viaOutbox: ReturnType<typeof createJourneyActivities>;

  before(async () => {
    [db, sendgrid] = await Promise.all([startTestDatabase('activities_preferences'), startSendgridServer({ apiKey: API_KEY })]);
    const definitions = await definitionStore(db.models, DEFINITION);
    version = definitions.current.version;
    const common = { models: db.models, definitions, emailFrom: 'Prefs <hello@prefs.example>', logger: pino({ level: 'silent' }), links };
    viaSendgrid = createJourneyActivities({ ...common, mailer: createSendgridMailer({ apiKey: API_KEY, baseUrl: sendgrid.url, timeoutMs: 5_000 }) });
    viaOutbox = createJourneyActivities({ ...common, mailer: createOutboxMailer(db.models) });
  });
  after(async () => {
    await sendgrid?.close();
    await db?.teardown();
  });
  beforeEach(() => sendgrid.reset());

  async function customer(fields: Record<string, unknown> = {}): Promise<string> {
    const userId = `p-${++n}`;
    await db.models.Customer.create({ _id: userId, email: `${userId}@example.com`, firstName: 'Ada', traits: {}, ...fields });
    return userId;
  }

  function request(userId: string, campaignId: string, kind: DeliveryRequest['kind'] = 'marketing', template = 'note'): DeliveryRequest {
    return { key: `customer-${userId}/${campaignId}/1`, userId, campaignId, occurrence: 1, kind, template, segments: [], definition: { id: 'prefs', version }, summary: `send ${campaignId}` };
  }

  test('a marketing email reaches SendGrid with List-Unsubscribe for its topic, List-Unsubscribe-Post, and the footer', async () => {
    const userId = await customer({ locale: 'de-DE' });
    assert.equal((await viaSendgrid.deliverMessage(request(userId, 'promo'))).status, 'sent');
    const [message] = sendgrid.messages;
    assert.ok(message);
    const unsubscribe = message.headers['List-Unsubscribe']!;
    assert.match(unsubscribe, /^<https:\/\/lifecycle\.example\.com\/u\/(v1\.[\w-]+\.[\w-]+)>$/);
    assert.equal(message.headers['List-Unsubscribe-Post'], 'List-Unsubscribe=One-Click');
    const token = /\/u\/([^>]+)>/.exec(unsubscribe)![1];
    assert.deepEqual(signer.verify('unsubscribe', token), { userId, topic: 'offers' }, 'the link turns off the topic of this message, for this customer');
    const content = message.body.content as Array<{ type: string; value: string }>;
    const html = content.find((c) => c.type === 'text/html')!.value;
    const text = content.find((c) => c.type === 'text/plain')!.value;
    assert.match(html, /Alle Einstellungen verwalten/, 'the footer speaks the message’s language');
    assert.ok(html.includes(links.preferencesUrl(userId)) && html.includes(`/u/${token}`));
    assert.ok(text.includes(`Abmelden: https://lifecycle.example.com/u/${token}`));
  });

  test('a transactional email carries no unsubscribe headers and no footer', async () => {
    const userId = await customer();
    assert.equal((await viaSendgrid.deliverMessage(request(userId, 'receipt', 'transactional'))).status, 'sent');
    assert.deepEqual(sendgrid.messages[0]!.headers, {});
    assert.doesNotMatch(JSON.stringify(sendgrid.messages[0]!.body.content), /preferences\//);
  });

  test('a template that shows the preference link itself gets no second footer', async () => {
    const userId = await customer();
    await viaSendgrid.deliverMessage(request(userId, 'own_footer', 'marketing', 'own_footer'));
    const html = (sendgrid.messages[0]!.body.content as Array<{ type: string; value: string }>).find((c) => c.type === 'text/html')!.value;
    assert.equal(html.split('/preferences/').length - 1, 1);
    assert.ok(sendgrid.messages[0]!.headers['List-Unsubscribe']);
  });

  test('a topic or channel turned off skips marketing with the reason; transactional messages still go', async () => {
    const userId = await customer({ preferences: { topics: { offers: false }, channels: {} } });
    assert.deepEqual(await viaSendgrid.deliverMessage(request(userId, 'promo')), { status: 'skipped', reason: 'preferences: the customer turned topic offers off' });
    assert.equal((await viaSendgrid.deliverMessage(request(userId, 'tip'))).status, 'sent', 'another topic still goes');
    assert.equal((await db.models.Delivery.findById(`customer-${userId}/promo/1`).lean())?.error, 'preferences: the customer turned topic offers off');

    const everythingOff = await customer({ preferences: { marketing: false, topics: { offers: false, tips: false }, channels: { email: false } } });
    assert.deepEqual(await viaSendgrid.deliverMessage(request(everythingOff, 'tip')), { status: 'skipped', reason: 'preferences: the customer turned all marketing off' });
    const receipt = await viaSendgrid.deliverMessage(request(everythingOff, 'receipt', 'transactional'));
    assert.equal(receipt.status, 'sent', 'transactional messages are never blocked by marketing preferences');
    assert.deepEqual(sendgrid.messages.map((m) => m.customArgs.campaign_id), ['tip', 'receipt']);

    const noEmail = await customer({ preferences: { channels: { email: false } } });
    assert.deepEqual(await viaSendgrid.deliverMessage(request(noEmail, 'promo')), { status: 'skipped', reason: 'preferences: the customer turned marketing by email off' });
  });

  test('the local outbox keeps each message’s headers', async () => {
    const userId = await customer();
    await viaOutbox.deliverMessage(request(userId, 'promo'));
    await viaOutbox.deliverMessage(request(userId, 'receipt', 'transactional'));
    const promo = await db.models.Outbox.findById(`customer-${userId}/promo/1`).lean();
    assert.match(promo!.headers!['List-Unsubscribe']!, /^<https:\/\/lifecycle\.example\.com\/u\/v1\./);
    assert.equal(promo!.headers!['List-Unsubscribe-Post'], 'List-Unsubscribe=One-Click');
    assert.equal((await db.models.Outbox.findById(`customer-${userId}/receipt/1`).lean())!.headers, undefined);
    assert.equal(sendgrid.messages.length, 0);
  });
});
