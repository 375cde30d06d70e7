/**
 * The SMS channel through the whole stack as processes (Temporal dev server, FerretDB, our worker and API)
 * with the real `twilio` SDK sending to a local Twilio-compatible server (test/support/twilio-server.ts),
 * which also makes Twilio's signed callbacks to our API: status callbacks reach the journey's timeline,
 * STOP / START / HELP change the customer's preferences and what is sent, a wrong signature is 403 and
 * changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../../src/servers/local-servers.js';
import { runEntry, waitFor, type AppProcess } from '../support/processes.js';
import { apiCaller, startLocalServers, type LocalServers } from '../support/stack.js';
import { startTwilioServer, type TwilioServer } from '../support/twilio-server.js';

const WRITE_KEY = 'e2e-sms-writer-0123456789';
const READ_KEY = 'e2e-sms-reader-0123456789';
const FROM = '+15005550006';
const ADA_PHONE = '+4915123456789';

/** SMS quiet hours that do not cover the next hours (UTC): the messages of this test go at once. */
function quietHoursElsewhere(): string {
  const hour = (h: number) => `${String(h % 24).padStart(2, '0')}:00`;
  const h = new Date().getUTCHours();
  return `${hour(h + 4)}-${hour(h + 6)}`;
}

describe('SMS through the whole stack: Twilio SDK, status callbacks, STOP / START / HELP', () => {
  let servers: LocalServers;
  let twilio: TwilioServer;
  let worker: AppProcess;
  let api: AppProcess;
  let base: string;
  const call = apiCaller(() => base);

  const withOutput = (err: unknown) => new Error(`${(err as Error).message}\nAPI output:\n${api?.output()}\nworker output:\n${worker?.output()}`);

  before(async () => {
    [servers, twilio] = await Promise.all([startLocalServers('lifecycle-e2e-sms-', 'SG.unused'), startTwilioServer()]);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env = {
      TEMPORAL_ADDRESS: servers.temporal.address,
      MONGODB_URI: servers.ferret.uri('lifecycle_e2e_sms'),
      TASK_QUEUE: 'lifecycle-e2e-sms',
      DEFINITION_FILE: 'test/fixtures/sms-demo.yaml',
      API_PORT: String(port),
      API_KEYS: `${WRITE_KEY}=events:write,${READ_KEY}=customers:read`,
      PUBLIC_URL: base,
      LINK_SECRETS: 'e2e-sms-link-secret-0123456789abcdef0123',
      UPSTREAM_TIMEOUT_MS: '3000',
      TWILIO_ACCOUNT_SID: twilio.accountSid,
      TWILIO_AUTH_TOKEN: twilio.authToken,
      TWILIO_FROM: FROM,
      TWILIO_API_BASE: twilio.url,
      SMS_DEFAULT_COUNTRY: 'DE',
      SMS_QUIET_HOURS: quietHoursElsewhere(),
      SMS_HELP_TEXT: 'CoachingLive test: reply STOP to unsubscribe.',
    };
    worker = runEntry('src/worker/main.ts', env);
    api = runEntry('src/api/main.ts', env);
    await waitFor('the API to be ready', async () => (await call('GET', '/readyz')).status === 200, 60_000).catch((err) => {
      throw withOutput(err);
    });
  });

  after(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
    await Promise.all([servers?.stop(), twilio?.close()]);
  });

  const customer = async (userId: string) => (await call('GET', `/v1/customers/${userId}`, { key: READ_KEY })).body;
  const messageOf = async (userId: string, key: string) => ((await customer(userId)).journey?.messages as Array<{ key: string; status: string; reason?: string; deliveredAt?: string }> | undefined)?.find((m) => m.key === key);
  const textsTo = (phone: string) => twilio.messages.filter((m) => m.to === phone);
  const inboundUrl = () => `${base}/v1/webhooks/twilio/inbound`;

  test('a text goes out through the Twilio SDK; its signed status callback reaches the journey once; a wrong signature is 403 and changes nothing', async () => {
    assert.equal((await call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId: 'ada', traits: { firstName: 'Ada', timezone: 'UTC', phone: '01512 3456789' } } })).status, 200);
    assert.equal((await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId: 'ada', event: 'Signed Up', messageId: 'ada-1' } })).status, 202);
    const [welcome] = await waitFor('the welcome text at Twilio', async () => textsTo(ADA_PHONE).length > 0 && textsTo(ADA_PHONE), 60_000).catch((err) => {
      throw withOutput(err);
    });
    assert.equal(welcome!.body, 'Welcome to CoachingLive, Ada! Reply HELP for help, STOP to opt out.');
    assert.equal(welcome!.from, FROM);
    assert.equal(welcome!.statusCallback, `${base}/v1/webhooks/twilio/status?key=${encodeURIComponent('customer-ada/welcome_text/1')}`);
    const sent = await waitFor('the welcome text recorded as sent', async () => {
      const m = await messageOf('ada', 'customer-ada/welcome_text/1');
      return m?.status === 'sent' && m;
    });
    assert.equal(sent.deliveredAt, undefined);

    // Forged: another token's signature, and none at all. 403, nothing stored or told.
    const forged = await twilio.status(welcome!.sid, 'delivered', undefined, { signature: 'bm90IGEgc2lnbmF0dXJl' });
    assert.equal(forged.status, 403, forged.body);
    assert.equal(JSON.parse(forged.body).error.code, 'forbidden');
    const unsigned = await fetch(welcome!.statusCallback!, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `MessageSid=${welcome!.sid}&MessageStatus=delivered` });
    assert.equal(unsigned.status, 403);
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal((await messageOf('ada', 'customer-ada/welcome_text/1'))?.deliveredAt, undefined, 'the forged callbacks changed nothing');

    const first = await twilio.status(welcome!.sid, 'delivered');
    assert.deepEqual([first.status, JSON.parse(first.body)], [200, { result: 'applied' }]);
    const again = await twilio.status(welcome!.sid, 'delivered');
    assert.deepEqual(JSON.parse(again.body), { result: 'duplicate' });
    assert.deepEqual(JSON.parse((await twilio.status(welcome!.sid, 'sent')).body), { result: 'applied' }, 'sent is recorded on the delivery only');
    await waitFor('delivered in the journey', async () => (await messageOf('ada', 'customer-ada/welcome_text/1'))?.deliveredAt);
    const timeline = (await customer('ada')).timeline as Array<{ kind: string; text: string; status?: string }>;
    assert.deepEqual(
      timeline.filter((e) => e.status === 'delivered').map((e) => e.text),
      ['welcome_text delivered'],
    );

    // Bad input with a good signature: 400, nothing changes.
    const bad = await twilio.inbound(`${base}/v1/webhooks/twilio/status?key=customer-ada/welcome_text/1`, { MessageStatus: 'Delivered!' });
    assert.equal(bad.status, 400, bad.body);
    assert.equal(JSON.parse(bad.body).error.issues[0].path, 'MessageStatus');
  });

  test('STOP stops every text and turns the sms preference off (in the timeline); HELP is answered; START turns it back on', async () => {
    // A forged STOP changes nothing.
    const forged = await twilio.inbound(inboundUrl(), { From: ADA_PHONE, To: FROM, Body: 'STOP' }, { signature: 'bm90IGEgc2lnbmF0dXJl' });
    assert.equal(forged.status, 403);
    assert.equal((await call('GET', '/v1/customers/ada/preferences', { key: READ_KEY })).body.channels.sms, true);

    const stop = await twilio.inbound(inboundUrl(), { From: ADA_PHONE, To: FROM, Body: ' stop ' });
    assert.equal(stop.status, 200, stop.body);
    assert.match(stop.body, /^<\?xml version="1.0" encoding="UTF-8"\?><Response><Message>You are unsubscribed.*START.*<\/Message><\/Response>$/);
    assert.equal((await call('GET', '/v1/customers/ada/preferences', { key: READ_KEY })).body.channels.sms, false);
    const told = await waitFor('the STOP in the timeline', async () => {
      const entries = ((await customer('ada')).timeline as Array<{ kind: string; text: string; status?: string }>).filter((e) => e.kind === 'preference');
      return entries.length > 0 && entries;
    });
    assert.deepEqual(told.map((e) => [e.status, e.text]), [['sms-stop', 'preferences: channel sms off (by an SMS reply (STOP or START))']]);

    // The next marketing text is not sent.
    const before = twilio.sendRequests;
    assert.equal((await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId: 'ada', event: 'Browsed', messageId: 'ada-2' } })).status, 202);
    const skipped = await waitFor('the offer to be skipped', async () => {
      const m = await messageOf('ada', 'customer-ada/offer_text/1');
      return m?.status === 'skipped' && m;
    });
    assert.equal(skipped.reason, 'the customer replied STOP to text messages');
    assert.equal(twilio.sendRequests, before);

    const help = await twilio.inbound(inboundUrl(), { From: ADA_PHONE, To: FROM, Body: 'HELP' });
    assert.equal(help.body, '<?xml version="1.0" encoding="UTF-8"?><Response><Message>CoachingLive test: reply STOP to unsubscribe.</Message></Response>');
    const chat = await twilio.inbound(inboundUrl(), { From: ADA_PHONE, To: FROM, Body: 'see you at class' });
    assert.equal(chat.body, '<?xml version="1.0" encoding="UTF-8"?><Response/>', 'no answer to anything else');

    // Twilio's Advanced Opt-Out answered START itself: no second confirmation.
    const start = await twilio.inbound(inboundUrl(), { From: ADA_PHONE, To: FROM, Body: 'Start', OptOutType: 'START' });
    assert.equal(start.body, '<?xml version="1.0" encoding="UTF-8"?><Response/>');
    assert.equal((await call('GET', '/v1/customers/ada/preferences', { key: READ_KEY })).body.channels.sms, true);
    await waitFor('the START in the timeline', async () => {
      const entries = ((await customer('ada')).timeline as Array<{ kind: string; text: string }>).filter((e) => e.kind === 'preference');
      return entries.length === 2 && entries;
    });
    assert.equal((await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId: 'ada', event: 'Browsed', messageId: 'ada-3' } })).status, 202);
    await waitFor('the next offer at Twilio', async () => textsTo(ADA_PHONE).some((m) => m.body.startsWith('20% off')), 60_000).catch((err) => {
      throw withOutput(err);
    });
  });
});
