/**
 * SendGrid's Event Webhook at the API edge, without I/O: the signature (SendGrid's own test vectors and
 * keys made here), reading and mapping events, the local hour in the customer's zone, the route's answers,
 * and how KPIs and the timeline tell what SendGrid reported.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { createApp } from '../../src/api/app.js';
import type { CustomerService } from '../../src/api/customer-service.js';
import { UpstreamUnavailable } from '../../src/http/errors.js';
import { ErrorBody, SendgridEventsApplied } from '../../src/api/response-schemas.js';
import { parseDeliveryKey } from '../../src/core/ids.js';
import { localHourOf } from '../../src/timing/send-time.js';
import { emailEventType, readSendgridEvent, type EmailEventCounts, type EmailEventSink } from '../../src/api/sendgrid-events.js';
import { MAX_SKEW_SECONDS, SIGNATURE_CHALLENGE, sendgridSignatureVerifier } from '../../src/api/sendgrid-webhook.js';
import { loadConfig } from '../../src/config/config.js';
import type { JourneyFact, JourneySnapshot } from '../../src/core/journey-facts.js';
import { recordedJourney, timelineOf } from '../../src/core/journey-timeline.js';
import { foldKpis } from '../../src/kpis/compute-kpis.js';
import { eventWebhookEmitter, eventWebhookPayload, publicKeyBase64, sendgridEvent, signEventWebhook, type SendgridWebhookEvent } from '../support/sendgrid-event-webhook.js';

// SendGrid's own test vectors (sendgrid-nodejs, packages/eventwebhook/src/eventwebhook.spec.js): payloads
// SendGrid signed, byte for byte as it posts them.
const SG_PUBLIC_KEY = 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==';
const SG_SIGNATURE = 'MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=';
const SG_TIMESTAMP = '1600112502';
const SG_PAYLOAD =
  JSON.stringify([
    {
      email: 'hello@world.com',
      event: 'dropped',
      reason: 'Bounced Address',
      sg_event_id: 'ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA',
      sg_message_id: 'LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0',
      'smtp-id': '<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>',
      timestamp: 1600112492,
    },
  ]) + '\r\n';
const SG_MULTI_PUBLIC_KEY = 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQ4LIFtWztlsF7skFqOncjD1lun4H5w8XOhyOArHW9RcIx/FfEzx6cikC/yPfUvwaX/JScE7Fc9CJD2afQ9Ok3Q==';
const SG_MULTI_SIGNATURE = 'MEYCIQC/I4o6vCgqRYrTljjoVWB/GRWNtxeePlLMHr3x9ETeRQIhAIpV+03nREPTTHWSW0wIOA0EoMPdcNgXa70yCaqDJlu5';
const SG_MULTI_TIMESTAMP = '1619651159';
const SG_MULTI_EVENTS = [
  {
    email: 'invalid@gmail.com',
    event: 'processed',
    send_at: 0,
    sg_event_id: 'cHJvY2Vzc2VkLTE5OTQyMTEyLXFOd0JMZ1BRUWpXNkRKdktRd1NBYnctMA',
    sg_message_id: 'qNwBLgPQQjW6DJvKQwSAbw.filterdrecv-canary-547b64655b-cw6zx-1-6089EA4A-56.0',
    'smtp-id': '<qNwBLgPQQjW6DJvKQwSAbw@ismtpd0178p1mdw1.sendgrid.net>',
    timestamp: 1619651146,
  },
  {
    email: 'invalid@gmail.com',
    event: 'bounce',
    ip: '167.89.101.76',
    reason:
      '552 5.2.2 The email account that you tried to reach is over quota and inactive. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm c17si1130468pgv.34 - gsmtp',
    sg_event_id: 'Ym91bmNlLTAtMTk5NDIxMTItcU53QkxnUFFRalc2REp2S1F3U0Fidy0w',
    sg_message_id: 'qNwBLgPQQjW6DJvKQwSAbw.filterdrecv-canary-547b64655b-cw6zx-1-6089EA4A-56.0',
    'smtp-id': '<qNwBLgPQQjW6DJvKQwSAbw@ismtpd0178p1mdw1.sendgrid.net>',
    status: '5.2.2',
    timestamp: 1619651147,
    tls: 1,
    type: 'blocked',
  },
];

const keys = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const message = { id: 'xVW6UbVxQqaQhS2mQpvD7g', to: 'ada@example.com', categories: ['welcome'], customArgs: { delivery_key: 'customer-ada/welcome/1', user_id: 'ada', campaign_id: 'welcome' } };

describe('the signature (SendGrid’s Signed Event Webhook)', () => {
  test('payloads SendGrid signed verify with its keys; another key, another body, another timestamp or a bad signature do not', () => {
    const at = (ts: string) => Number(ts) * 1000;
    const single = sendgridSignatureVerifier(SG_PUBLIC_KEY);
    assert.deepEqual(single(Buffer.from(SG_PAYLOAD), SG_SIGNATURE, SG_TIMESTAMP, at(SG_TIMESTAMP)), { ok: true });
    const multiPayload = eventWebhookPayload(SG_MULTI_EVENTS as SendgridWebhookEvent[]);
    assert.deepEqual(
      sendgridSignatureVerifier(SG_MULTI_PUBLIC_KEY)(Buffer.from(multiPayload), SG_MULTI_SIGNATURE, SG_MULTI_TIMESTAMP, at(SG_MULTI_TIMESTAMP)),
      { ok: true },
      'the local server writes a batch byte for byte as SendGrid does (CRLF between events and at the end)',
    );
    const mismatch = { ok: false, reason: 'the signature does not match the body' };
    assert.deepEqual(sendgridSignatureVerifier(SG_MULTI_PUBLIC_KEY)(Buffer.from(SG_PAYLOAD), SG_SIGNATURE, SG_TIMESTAMP, at(SG_TIMESTAMP)), mismatch, 'another key');
    assert.deepEqual(single(Buffer.from(SG_PAYLOAD.replace('Bounced Address', 'Bounced address')), SG_SIGNATURE, SG_TIMESTAMP, at(SG_TIMESTAMP)), mismatch, 'one letter of the body');
    assert.deepEqual(single(Buffer.from(SG_PAYLOAD.trimEnd()), SG_SIGNATURE, SG_TIMESTAMP, at(SG_TIMESTAMP)), mismatch, 'the body without its final CRLF');
    assert.deepEqual(single(Buffer.from(SG_PAYLOAD), SG_SIGNATURE, '1600112503', at(SG_TIMESTAMP)), mismatch, 'another timestamp');
    assert.deepEqual(single(Buffer.from(SG_PAYLOAD), SG_MULTI_SIGNATURE, SG_TIMESTAMP, at(SG_TIMESTAMP)), mismatch, 'another signature');
    assert.deepEqual(single(Buffer.from(SG_PAYLOAD), 'not base64 DER at all', SG_TIMESTAMP, at(SG_TIMESTAMP)), mismatch, 'garbage');
    assert.deepEqual(single(Buffer.from(SG_PAYLOAD), 'A'.repeat(201), SG_TIMESTAMP, at(SG_TIMESTAMP)), mismatch, 'too long to be a signature');
  });

  test('a key made here signs as SendGrid does; the timestamp must be within ten minutes either way', () => {
    const { publicKey, privateKey } = keys();
    const verify = sendgridSignatureVerifier(publicKeyBase64(publicKey));
    const payload = eventWebhookPayload([sendgridEvent({ message, event: 'delivered', at: Date.UTC(2026, 10, 25, 10) })]);
    const now = Date.UTC(2026, 10, 25, 10, 0, 30);
    const ts = (offsetSeconds: number) => String(Math.floor(now / 1000) + offsetSeconds);
    const signed = (t: string) => signEventWebhook(privateKey, payload, t);
    for (const offset of [0, -MAX_SKEW_SECONDS, MAX_SKEW_SECONDS, -599, 599]) {
      assert.deepEqual(verify(Buffer.from(payload), signed(ts(offset)), ts(offset), now), { ok: true }, `${offset} s`);
    }
    const stale = { ok: false, reason: 'the signature timestamp is more than 10 minutes from the API’s clock' };
    for (const offset of [-MAX_SKEW_SECONDS - 1, MAX_SKEW_SECONDS + 1, -86_400]) {
      assert.deepEqual(verify(Buffer.from(payload), signed(ts(offset)), ts(offset), now), stale, `${offset} s`);
    }
    assert.deepEqual(verify(Buffer.from(payload), undefined, ts(0), now), { ok: false, reason: 'the request is not signed' });
    assert.deepEqual(verify(Buffer.from(payload), signed(ts(0)), undefined, now), { ok: false, reason: 'the request is not signed' });
    assert.deepEqual(verify(Buffer.from(payload), signed('1.5e9'), '1.5e9', now), { ok: false, reason: 'the signature timestamp is not a time in Unix seconds' });
    const other = keys();
    assert.equal(verify(Buffer.from(payload), signEventWebhook(other.privateKey, payload, ts(0)), ts(0), now).ok, false, 'signed with a key SendGrid did not give us');
  });

  test('the configuration takes the verification key as SendGrid shows it (or as PEM) and refuses anything else', () => {
    const { publicKey } = keys();
    const der = publicKeyBase64(publicKey);
    assert.equal(loadConfig({ SENDGRID_WEBHOOK_PUBLIC_KEY: der }).SENDGRID_WEBHOOK_PUBLIC_KEY, der);
    assert.equal(loadConfig({ SENDGRID_WEBHOOK_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString() }).SENDGRID_WEBHOOK_PUBLIC_KEY, der);
    assert.equal(loadConfig({}).SENDGRID_WEBHOOK_PUBLIC_KEY, undefined);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    for (const bad of ['not a key', der.slice(0, 40), rsa, p384]) {
      assert.throws(() => loadConfig({ SENDGRID_WEBHOOK_PUBLIC_KEY: bad }), /SENDGRID_WEBHOOK_PUBLIC_KEY: must be the Event Webhook verification key/, bad.slice(0, 20));
    }
  });
});

describe('reading SendGrid events', () => {
  const at = Date.UTC(2026, 10, 25, 10, 0, 0);
  const event = (kind: Parameters<typeof sendgridEvent>[0]['event'], over: Record<string, unknown> = {}) => ({ ...sendgridEvent({ message, event: kind, at, eventId: `ev-${kind}` }), ...over });

  test('each kind SendGrid posts becomes the journey’s event: ids and types only, never the address, URL, IP, user agent or bounce text', () => {
    const kinds = ['processed', 'delivered', 'deferred', 'bounce', 'blocked', 'dropped', 'spamreport', 'unsubscribe', 'group_unsubscribe', 'open', 'click'] as const;
    for (const kind of kinds) {
      const read = readSendgridEvent(event(kind));
      assert.deepEqual(read, { matched: { userId: 'ada', event: { id: `ev-${kind}`, type: kind, deliveryKey: 'customer-ada/welcome/1', at, ...(kind === 'open' ? { machine: false } : {}) } } }, kind);
      const text = JSON.stringify(read);
      for (const personal of ['ada@example.com', '203.0.113.7', '168.1.1.1', 'Mozilla', 'coachinglive.example', 'does not exist', 'try again']) assert.ok(!text.includes(personal), `${kind}: ${personal}`);
    }
    assert.equal(emailEventType({ event: 'bounce' }), 'bounce', 'a bounce without a type is a hard bounce');
    assert.equal(emailEventType({ event: 'bounce', type: 'blocked' }), 'blocked');
    assert.deepEqual(readSendgridEvent(event('open', { sg_machine_open: true })), {
      matched: { userId: 'ada', event: { id: 'ev-open', type: 'open', deliveryKey: 'customer-ada/welcome/1', at, machine: true } },
    });
    assert.deepEqual(readSendgridEvent(event('click', { sg_machine_open: true })), { matched: { userId: 'ada', event: { id: 'ev-click', type: 'click', deliveryKey: 'customer-ada/welcome/1', at } } }, 'machine is for opens');
  });

  test('what is not ours or not readable is ignored, with the reason', () => {
    const cases: Array<[string, unknown, string]> = [
      ['no delivery key (another sender on the account)', event('delivered', { delivery_key: undefined }), 'no delivery key'],
      ['a key we do not make', event('delivered', { delivery_key: 'order-17' }), 'malformed delivery key'],
      ['a key without its occurrence', event('delivered', { delivery_key: 'customer-ada/welcome' }), 'malformed delivery key'],
      ['a key with an empty customer', event('delivered', { delivery_key: 'customer-/welcome/1' }), 'malformed delivery key'],
      ['a key with a control character', event('delivered', { delivery_key: 'customer-a\u0000da/welcome/1' }), 'malformed delivery key'],
      ['a key with a lone surrogate', event('delivered', { delivery_key: 'customer-a\ud800da/welcome/1' }), 'malformed delivery key'],
      ['a key that is not text', event('delivered', { delivery_key: 17 }), 'invalid'],
      ['an account event', { ...event('delivered'), event: 'group_resubscribe' }, 'unhandled'],
      ['no sg_event_id', event('delivered', { sg_event_id: undefined }), 'invalid'],
      ['an sg_event_id with a space', event('delivered', { sg_event_id: 'a b' }), 'invalid'],
      ['a timestamp in text', event('delivered', { timestamp: '1764064800' }), 'invalid'],
      ['a timestamp in milliseconds past year 3000', event('delivered', { timestamp: at }), 'invalid'],
      ['not an object', 'delivered', 'invalid'],
      ['null', null, 'invalid'],
    ];
    for (const [what, item, ignored] of cases) assert.deepEqual(readSendgridEvent(item), { ignored }, what);
  });

  test('delivery keys are taken apart as deliveryKey() makes them, also for ids with slashes', () => {
    assert.deepEqual(parseDeliveryKey('customer-ada/welcome/1'), { userId: 'ada', campaignId: 'welcome', occurrence: 1 });
    assert.deepEqual(parseDeliveryKey('customer-team/ada/daily_brief/12'), { userId: 'team/ada', campaignId: 'daily_brief', occurrence: 12 });
    assert.deepEqual(parseDeliveryKey('customer-Zoë 😀/broadcast-x-run-2026/0'), { userId: 'Zoë 😀', campaignId: 'broadcast-x-run-2026', occurrence: 0 });
    for (const bad of ['customer- ada/welcome/1', 'customer-ada/welcome/1/', 'customer-ada/welcome/-1', 'customer-ada/welcome/1e3', 'user-ada/welcome/1', `customer-${'a'.repeat(201)}/w/1`]) {
      assert.equal(parseDeliveryKey(bad), undefined, bad);
    }
  });

  test('the local hour of an open or click is the customer’s own, across daylight-saving changes', () => {
    // Europe/Berlin: summer time from 2026-03-29 01:00 UTC to 2026-10-25 01:00 UTC.
    assert.equal(localHourOf(Date.UTC(2026, 2, 29, 0, 30), 'Europe/Berlin'), 1, 'CET, before the change');
    assert.equal(localHourOf(Date.UTC(2026, 2, 29, 1, 30), 'Europe/Berlin'), 3, 'CEST: 02:xx never happens that night');
    assert.equal(localHourOf(Date.UTC(2026, 9, 25, 0, 30), 'Europe/Berlin'), 2, 'CEST, the first 02:30');
    assert.equal(localHourOf(Date.UTC(2026, 9, 25, 1, 30), 'Europe/Berlin'), 2, 'CET, the second 02:30');
    // America/New_York: summer time from 2026-03-08 07:00 UTC.
    assert.equal(localHourOf(Date.UTC(2026, 2, 8, 6, 59), 'America/New_York'), 1);
    assert.equal(localHourOf(Date.UTC(2026, 2, 8, 7, 0), 'America/New_York'), 3);
    // Half-hour and southern zones; a day that starts in UTC's evening.
    assert.equal(localHourOf(Date.UTC(2026, 0, 15, 20, 45), 'Asia/Kolkata'), 2);
    assert.equal(localHourOf(Date.UTC(2026, 0, 15, 20, 45), 'Pacific/Auckland'), 9, 'NZDT, UTC+13');
    assert.equal(localHourOf(Date.UTC(2026, 6, 15, 20, 45), 'Pacific/Auckland'), 8, 'NZST, UTC+12');
    assert.equal(localHourOf(Date.UTC(2026, 0, 15, 20, 45), null), undefined, 'no zone: SendgridEvents falls back to the definition’s default zone, then UTC');
    assert.equal(localHourOf(Date.UTC(2026, 0, 15, 20, 45), 'Mars/Olympus'), undefined);
  });
});

describe('POST /v1/webhooks/sendgrid, against the app', () => {
  const { publicKey, privateKey } = keys();
  const batches: unknown[][] = [];
  let answer: () => Promise<EmailEventCounts> = async () => ({ received: 1, applied: 1, duplicates: 0, ignored: 0, orphaned: 0 });
  const sink: EmailEventSink = {
    apply: async (items) => {
      batches.push(items);
      return answer();
    },
  };
  const servers: Array<{ close(): void }> = [];
  let base = '';
  let unconfigured = '';
  const keyOfEveryScope = 'every-scope-key-0123456789';

  const listen = async (app: ReturnType<typeof createApp>) => {
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  before(async () => {
    const common = {
      customers: {} as CustomerService,
      apiKeys: new Map([[keyOfEveryScope, new Set(['events:write', 'customers:read', 'customers:write', 'metrics:read', 'codec:decode'] as const)]]),
      logger: pino({ level: 'silent' }),
      temporalUiUrl: 'http://ui',
      namespace: 'default',
    };
    base = await listen(createApp({ ...common, sendgridWebhook: { publicKey: publicKeyBase64(publicKey), events: sink } }));
    unconfigured = await listen(createApp(common));
  });
  after(() => {
    for (const s of servers) s.close();
  });

  const webhook = () => eventWebhookEmitter({ url: `${base}/v1/webhooks/sendgrid`, privateKey });
  const specs = [
    { message, event: 'delivered' as const },
    { message, event: 'open' as const },
  ];
  const refusedWith = async (res: { status: number; headers: Headers; body: unknown }, message: RegExp) => {
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), SIGNATURE_CHALLENGE);
    const body = ErrorBody.parse(res.body);
    assert.equal(body.error.code, 'unauthenticated');
    assert.match(body.error.message, message);
  };

  test('a signed batch is handed over as SendGrid sent it, and the counts are the answer', async () => {
    batches.length = 0;
    const res = await webhook().post(specs);
    assert.equal(res.status, 200);
    assert.deepEqual(SendgridEventsApplied.parse(res.body), { received: 1, applied: 1, duplicates: 0, ignored: 0, orphaned: 0 });
    assert.deepEqual(batches, [res.events]);
  });

  test('unsigned, tampered, stale or signed with another key: 401, and nothing is handed over', async () => {
    batches.length = 0;
    await refusedWith(await webhook().post(specs, { unsigned: true }), /^the request is not signed/);
    await refusedWith(await webhook().post(specs, { tamper: (p) => p.replace('"delivered"', '"dropped"') }), /^the signature does not match the body/);
    await refusedWith(await webhook().post(specs, { tamper: (p) => p.replace('"customer-ada/welcome/1"', '"customer-eve/welcome/1"') }), /does not match/);
    await refusedWith(await webhook().post(specs, { timestamp: String(Math.floor(Date.now() / 1000) - MAX_SKEW_SECONDS - 60) }), /more than 10 minutes/);
    await refusedWith(await webhook().post(specs, { signWith: keys().privateKey }), /does not match/);
    // An API key, even one with every scope, is not how this route authenticates.
    const withKey = await fetch(`${base}/v1/webhooks/sendgrid`, { method: 'POST', headers: { authorization: `Bearer ${keyOfEveryScope}`, 'content-type': 'application/json' }, body: '[]' });
    await refusedWith({ status: withKey.status, headers: withKey.headers, body: await withKey.json() }, /not signed/);
    assert.deepEqual(batches, []);
  });

  test('a signed body that is not a JSON array is 400; over 5 MB is 413; nothing is handed over', async () => {
    batches.length = 0;
    const post = async (payload: string) => {
      const timestamp = String(Math.floor(Date.now() / 1000));
      const res = await fetch(`${base}/v1/webhooks/sendgrid`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-twilio-email-event-webhook-signature': signEventWebhook(privateKey, payload, timestamp), 'x-twilio-email-event-webhook-timestamp': timestamp },
        body: payload,
      });
      return { status: res.status, body: ErrorBody.parse(await res.json()) };
    };
    assert.deepEqual((await post('{"event":"delivered"}')).body.error.issues, [{ path: '', message: 'SendGrid posts a JSON array of events', code: 'invalid_type' }]);
    assert.equal((await post('[{"event":')).body.error.code, 'malformed_json');
    const big = await post(`[${'{"event":"delivered"},'.repeat(260_000)}{}]`);
    assert.deepEqual([big.status, big.body.error.code], [413, 'payload_too_large']);
    assert.deepEqual(batches, []);
  });

  test('Temporal or MongoDB down: 503 with Retry-After, so SendGrid sends the batch again', async () => {
    answer = async () => {
      throw new UpstreamUnavailable('mongodb', new Error('down'));
    };
    try {
      const res = await webhook().post(specs);
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '5');
      assert.equal(ErrorBody.parse(res.body).error.upstream, 'mongodb');
    } finally {
      answer = async () => ({ received: 1, applied: 1, duplicates: 0, ignored: 0, orphaned: 0 });
    }
  });

  test('without SENDGRID_WEBHOOK_PUBLIC_KEY the route is 404 not_configured, signed or not; other methods are 405', async () => {
    const res = await eventWebhookEmitter({ url: `${unconfigured}/v1/webhooks/sendgrid`, privateKey }).post(specs);
    assert.equal(res.status, 404);
    assert.equal(ErrorBody.parse(res.body).error.code, 'not_configured');
    assert.match(ErrorBody.parse(res.body).error.message, /SENDGRID_WEBHOOK_PUBLIC_KEY/);
    const get = await fetch(`${base}/v1/webhooks/sendgrid`);
    assert.deepEqual([get.status, get.headers.get('allow')], [405, 'OPTIONS, POST']);
  });
});

describe('what SendGrid reported, in KPIs and the timeline', () => {
  const T0 = Date.UTC(2026, 10, 25, 9, 0);
  const email = (n: number, event: Extract<JourneyFact, { kind: 'email' }>['event'], key = 'customer-ada/welcome/1', at = T0 + n * 60_000): JourneyFact => ({
    kind: 'email',
    id: `ada/${n}`,
    userId: 'ada',
    at,
    key,
    campaignId: 'welcome',
    variant: 'friendly',
    event,
  });

  test('per campaign and variant: delivered, bounced, opened and clicked, with rates over sent and delivered', () => {
    const group = (kind: 'message' | 'email', n: number, over: { status?: string; event?: string; variant?: string | null }) => ({
      _id: { kind, campaignId: 'welcome', variant: 'friendly', status: null, event: null, ...over },
      n,
    });
    const kpis = foldKpis([], 0, [
      group('message', 40, { status: 'sent' }),
      group('email', 36, { event: 'delivered' }),
      group('email', 3, { event: 'bounced' }),
      group('email', 1, { event: 'dropped' }),
      group('email', 12, { event: 'opened' }),
      group('email', 5, { event: 'clicked' }),
      group('email', 2, { event: 'spamreport' }),
      group('email', 1, { event: 'unsubscribed' }),
      group('email', 1, { event: 'delivered', variant: null }),
    ]);
    const [friendly, plain] = [kpis.campaigns[0]!.variants.find((v) => v.variant === 'friendly')!, kpis.campaigns[0]!.variants.find((v) => v.variant === 'default')!];
    assert.deepEqual(
      { delivered: friendly.delivered, bounced: friendly.bounced, opened: friendly.opened, clicked: friendly.clicked, deliveryRate: friendly.deliveryRate, openRate: friendly.openRate, clickRate: friendly.clickRate },
      { delivered: 36, bounced: 3, opened: 12, clicked: 5, deliveryRate: 90, openRate: 33.3, clickRate: 13.9 },
    );
    assert.deepEqual([plain.sent, plain.delivered, plain.deliveryRate, plain.openRate], [0, 1, null, 0], 'a delivery without a send on record has no delivery rate');
  });

  test('a closed journey told from the read model shows what SendGrid reported, once per kind, after the send', () => {
    const snapshot: JourneySnapshot = {
      userId: 'ada', seq: 3, definitionVersion: 'v1', stage: 'prospect', stageEnteredAt: T0, plan: null, segments: [], counters: {}, payments: 0,
      everLoyal: false, reactivations: 0, lastActivityAt: null, startedAt: T0,
    };
    const facts: JourneyFact[] = [
      { kind: 'stage', id: 'ada/0', userId: 'ada', at: T0, stage: 'prospect', from: null, cause: { kind: 'start' } },
      { kind: 'message', id: 'ada/1', userId: 'ada', at: T0 + 1_000, key: 'customer-ada/welcome/1', campaignId: 'welcome', variant: 'friendly', messageKind: 'marketing', status: 'sent' },
      email(7, 'clicked'),
      email(2, 'delivered'),
      email(5, 'opened'),
    ];
    const recorded = recordedJourney(snapshot, facts);
    assert.deepEqual(recorded.messages[0], {
      key: 'customer-ada/welcome/1',
      campaignId: 'welcome',
      occurrence: 1,
      kind: 'marketing',
      status: 'sent',
      dueAt: new Date(T0 + 1_000).toISOString(),
      at: new Date(T0 + 1_000).toISOString(),
      variant: 'friendly',
      deliveredAt: new Date(T0 + 2 * 60_000).toISOString(),
      openedAt: new Date(T0 + 5 * 60_000).toISOString(),
      clickedAt: new Date(T0 + 7 * 60_000).toISOString(),
    });
    assert.deepEqual(
      timelineOf(recorded).map((e) => [e.kind, e.text, e.status]),
      [
        ['stage', 'entered prospect: journey started', undefined],
        ['message', 'welcome [friendly] sent', 'sent'],
        ['email', 'welcome [friendly] delivered', 'delivered'],
        ['email', 'welcome [friendly] opened', 'opened'],
        ['email', 'welcome [friendly] clicked', 'clicked'],
      ],
    );
  });

  test('the live journey’s messages carry the outcome; a hard bounce says so', () => {
    const at = (m: number) => new Date(T0 + m * 60_000).toISOString();
    const timeline = timelineOf({
      stages: [],
      pending: [],
      audit: [],
      messages: [
        { key: 'customer-ada/welcome/1', campaignId: 'welcome', occurrence: 1, kind: 'marketing', status: 'sent', dueAt: at(0), at: at(0), bouncedAt: at(1), bounce: 'hard' },
        { key: 'customer-ada/nudge/1', campaignId: 'nudge', occurrence: 1, kind: 'marketing', status: 'sent', dueAt: at(2), at: at(2), deliveredAt: at(3), complainedAt: at(9), unsubscribedAt: at(8), droppedAt: undefined },
      ],
    });
    assert.deepEqual(
      timeline.map((e) => [e.at, e.kind, e.text]),
      [
        [at(0), 'message', 'welcome sent'],
        [at(1), 'email', 'welcome bounced (hard)'],
        [at(2), 'message', 'nudge sent'],
        [at(3), 'email', 'nudge delivered'],
        [at(8), 'email', 'nudge unsubscribed'],
        [at(9), 'email', 'nudge reported as spam'],
      ],
    );
  });
});
