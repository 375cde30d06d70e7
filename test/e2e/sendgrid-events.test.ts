import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { Customer, Kpis, SendgridEventsApplied } from '../../src/api/response-schemas.js';
import { connectDatabase, type Database } from '../../src/db/models.js';
import { freePort } from '../../src/servers/local-servers.js';
import { runEntry, waitFor, type AppProcess } from '../support/processes.js';
import { publicKeyBase64, type EventWebhookEmitter, type SendgridWebhookEvent } from '../support/sendgrid-event-webhook.js';
import type { SendgridMessage } from '../support/sendgrid-server.js';
import { apiCaller, startLocalServers, type LocalServers } from '../support/stack.js';

const WRITE_KEY = 'e2e-writer-key-0123456789';
const READ_KEY = 'e2e-reader-key-0123456789';
const SUPPORT_KEY = 'e2e-support-key-0123456789';
const SENDGRID_KEY = 'SG.e2e-events-key';
const DATABASE = 'lifecycle_e2e_sendgrid_events';

/**
 * SendGrid's Event Webhook through the whole stack: the real Temporal dev server, FerretDB, our worker and
 * API as their own processes, and the SendGrid-compatible server, which takes the journeys' emails and then,
 * as SendGrid does, posts signed event batches about them to POST /v1/webhooks/sendgrid.
 */
describe('SendGrid events, end to end', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  let servers: LocalServers;
  let worker: AppProcess;
  let api: AppProcess;
  let base: string;
  let client: Client;
  let db: Database;
  let webhook: EventWebhookEmitter;

  const call = apiCaller(() => base);
  const withOutput = (err: unknown) => new Error(`${(err as Error).message}\nAPI output:\n${api?.output()}\nworker output:\n${worker?.output()}`, { cause: err });

  before(async () => {
    servers = await startLocalServers('lifecycle-e2e-sendgrid-events-', SENDGRID_KEY);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env = {
      TEMPORAL_ADDRESS: servers.temporal.address,
      MONGODB_URI: servers.ferret.uri(DATABASE),
      TASK_QUEUE: 'lifecycle-e2e-sendgrid-events',
      API_PORT: String(port),
      API_KEYS: `${WRITE_KEY}=events:write,${READ_KEY}=customers:read,${SUPPORT_KEY}=customers:write`,
      SENDGRID_API_KEY: SENDGRID_KEY,
      SENDGRID_BASE_URL: servers.sendgrid.url,
      SENDGRID_WEBHOOK_PUBLIC_KEY: publicKeyBase64(publicKey),
      UPSTREAM_TIMEOUT_MS: '5000',
    };
    worker = runEntry('src/worker/main.ts', env);
    api = runEntry('src/api/main.ts', env);
    await waitFor('the API to be ready', async () => (await call('GET', '/readyz')).status === 200, 90_000).catch((err) => {
      throw withOutput(err);
    });
    client = new Client({ connection: await Connection.connect({ address: servers.temporal.address }) });
    db = await connectDatabase(servers.ferret.uri(DATABASE));
    webhook = servers.sendgrid.eventWebhook({ url: `${base}/v1/webhooks/sendgrid`, privateKey });
  });

  after(async () => {
    await db?.close();
    await client?.connection.close();
    await Promise.all([api?.stop(), worker?.stop()]);
    await servers?.stop();
  });

  const customer = async (userId: string) => {
    const res = await call('GET', `/v1/customers/${userId}`, { key: READ_KEY });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return Customer.parse(res.body);
  };
  /** The running journey as the workflow tells it. */
  const live = async (userId: string) => {
    const journey = (await customer(userId)).journey;
    assert.equal(journey?.source, 'workflow');
    return journey as Extract<NonNullable<typeof journey>, { source: 'workflow' }>;
  };
  const kpis = async () => {
    const res = await call('GET', '/v1/kpis', { key: READ_KEY });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return Kpis.parse(res.body);
  };
  const variantOf = async (campaignId: string, variant = 'default') => (await kpis()).campaigns.find((c) => c.campaignId === campaignId)?.variants.find((v) => v.variant === variant);
  /** emailEvent signals in the journey's history: there the moment the API's signal call returned. */
  const emailSignals = async (userId: string) =>
    ((await client.workflow.getHandle(`customer-${userId}`).fetchHistory()).events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'emailEvent').length;
  const mails = (userId: string, campaignId?: string) => servers.sendgrid.messages.filter((m) => m.customArgs.user_id === userId && (campaignId === undefined || m.customArgs.campaign_id === campaignId));

  /** A customer who signed up, and the welcome email SendGrid took for them (the journey knows it went). */
  const signedUp = async (userId: string, timezone = 'Europe/Berlin'): Promise<SendgridMessage> => {
    assert.equal((await call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId, traits: { email: `${userId}@example.com`, firstName: userId, timezone } } })).status, 200);
    assert.equal((await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId, event: 'Signed Up', messageId: `${userId}-1` } })).status, 202);
    const welcome = await waitFor(`the welcome email to ${userId}`, async () => mails(userId, 'welcome')[0], 60_000).catch((err) => {
      throw withOutput(err);
    });
    await waitFor(`${userId}'s journey to know the welcome went`, async () => (await customer(userId)).journey?.messages.find((m) => m.campaignId === 'welcome')?.status === 'sent', 60_000);
    return welcome;
  };
  const applied = (body: unknown) => SendgridEventsApplied.parse(body);

  let adaBatch: SendgridWebhookEvent[];

  test('delivered, opened and clicked: applied once each, in the timeline and in the KPIs per campaign and variant', async () => {
    const welcome = await signedUp('ada');
    // SendGrid reports after the send, in whole seconds: the events fall after everything the journey did so far
    // (its clock never goes back), and are posted once they are past.
    const latest = Math.max(...(await customer('ada')).timeline.filter((e) => e.kind !== 'pending').map((e) => Date.parse(e.at)));
    const first = Math.ceil((latest + 1) / 1000) * 1000;
    adaBatch = webhook.events([
      { message: welcome, event: 'processed', at: first },
      { message: welcome, event: 'delivered', at: first + 1_000 },
      { message: welcome, event: 'open', at: first + 2_000 },
      { message: welcome, event: 'click', at: first + 3_000 },
    ]);
    await new Promise((r) => setTimeout(r, Math.max(0, first + 3_000 - Date.now() + 50)));
    const res = await webhook.post(adaBatch);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(applied(res.body), { received: 4, applied: 4, duplicates: 0, ignored: 0, orphaned: 0 });

    const iso = (i: number) => new Date(adaBatch[i]!.timestamp * 1000).toISOString();
    const ada = await waitFor(
      'the timeline to tell what SendGrid reported',
      async () => {
        const c = await customer('ada');
        return c.timeline.filter((e) => e.kind === 'email').length === 3 ? c : undefined;
      },
      30_000,
    );
    assert.deepEqual(
      ada.timeline.filter((e) => e.kind === 'email').map((e) => [e.at, e.text, e.campaignId, e.status]),
      [
        [iso(1), 'welcome delivered', 'welcome', 'delivered'],
        [iso(2), 'welcome opened', 'welcome', 'opened'],
        [iso(3), 'welcome clicked', 'welcome', 'clicked'],
      ],
    );
    const message = (await live('ada')).messages.find((m) => m.campaignId === 'welcome')!;
    assert.deepEqual([message.deliveredAt, message.openedAt, message.clickedAt, message.bouncedAt], [iso(1), iso(2), iso(3), undefined]);

    await waitFor('the KPIs to count them', async () => (await variantOf('welcome'))?.clicked === 1, 30_000);
    const welcomeKpis = await variantOf('welcome');
    assert.deepEqual(
      { sent: welcomeKpis!.sent, delivered: welcomeKpis!.delivered, bounced: welcomeKpis!.bounced, opened: welcomeKpis!.opened, clicked: welcomeKpis!.clicked },
      { sent: 1, delivered: 1, bounced: 0, opened: 1, clicked: 1 },
    );
    assert.deepEqual([welcomeKpis!.deliveryRate, welcomeKpis!.openRate, welcomeKpis!.clickRate], [100, 100, 100]);

    // What MongoDB keeps: ids and types, the delivery's latest event; nothing of the address, IP, URL or user agent.
    const stored = await db.models.EmailEvent.find({ userId: 'ada' }).lean();
    assert.deepEqual(stored.map((e) => [e._id, e.type, e.status]).sort(), adaBatch.map((e, i) => [e.sg_event_id, ['processed', 'delivered', 'open', 'click'][i], i === 0 ? 'recorded' : 'signalled']).sort());
    assert.equal(stored.find((e) => e.type === 'open')!.localHour, Number(new Intl.DateTimeFormat('en-GB', { hour: 'numeric', hourCycle: 'h23', timeZone: 'Europe/Berlin' }).format(new Date(adaBatch[2]!.timestamp * 1000))));
    for (const personal of ['ada@example.com', '203.0.113.7', 'Mozilla', 'coachinglive.example']) assert.ok(!JSON.stringify(stored).includes(personal), personal);
    const delivery = await db.models.Delivery.findById(welcome.customArgs.delivery_key).lean();
    assert.deepEqual([delivery!.lastEvent, [...delivery!.events!].sort()], ['click', ['click', 'delivered', 'open', 'processed']]);
  });

  test('the same batch posted again (SendGrid retrying) is applied once', async () => {
    const before = { signals: await emailSignals('ada'), events: await db.models.EmailEvent.countDocuments({}) };
    const res = await webhook.post(adaBatch);
    assert.equal(res.status, 200);
    assert.deepEqual(applied(res.body), { received: 4, applied: 0, duplicates: 4, ignored: 0, orphaned: 0 });
    assert.equal(before.signals, 3, 'delivered, open and click were signalled; processed was not');
    assert.deepEqual({ signals: await emailSignals('ada'), events: await db.models.EmailEvent.countDocuments({}) }, before, 'nothing signalled, nothing stored');
    assert.equal((await customer('ada')).timeline.filter((e) => e.kind === 'email').length, 3);
    assert.equal((await variantOf('welcome'))!.opened, 1);
  });

  test('unsigned and tampered requests get 401: nothing stored, nothing signalled', async () => {
    const welcome = mails('ada', 'welcome')[0]!;
    const before = { signals: await emailSignals('ada'), events: await db.models.EmailEvent.countDocuments({}) };
    const fresh = [{ message: welcome, event: 'spamreport' as const }];
    for (const res of [
      await webhook.post(fresh, { unsigned: true }),
      await webhook.post(fresh, { tamper: (p) => p.replace('"spamreport"', '"delivered"') }),
      await webhook.post(fresh, { signWith: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey }),
      await webhook.post(fresh, { timestamp: String(Math.floor(Date.now() / 1000) - 3_600) }),
    ]) {
      assert.equal(res.status, 401, JSON.stringify(res.body));
      assert.equal((res.body as { error: { code: string } }).error.code, 'unauthenticated');
    }
    assert.deepEqual({ signals: await emailSignals('ada'), events: await db.models.EmailEvent.countDocuments({}) }, before);
    assert.equal((await live('ada')).email.status, 'allowed', 'the forged spam report changed nothing');
  });

  test('events that are not ours are ignored, not refused: another sender’s mail, a key we never issued', async () => {
    const welcome = mails('ada', 'welcome')[0]!;
    const res = await webhook.post([
      { message: { ...welcome, customArgs: {} }, event: 'delivered' },
      { message: { ...welcome, customArgs: { delivery_key: 'customer-ada/welcome/9' } }, event: 'delivered' },
      { message: { ...welcome, customArgs: { delivery_key: 'not-ours' } }, event: 'delivered' },
    ]);
    assert.deepEqual(applied(res.body), { received: 3, applied: 0, duplicates: 0, ignored: 3, orphaned: 0 });
  });

  test('a hard bounce suppresses email: the next email is skipped as suppressed', async () => {
    const welcome = await signedUp('bo');
    const res = await webhook.post([{ message: welcome, event: 'bounce' }]);
    assert.deepEqual(applied(res.body), { received: 1, applied: 1, duplicates: 0, ignored: 0, orphaned: 0 });
    await waitFor('the journey to suppress email', async () => (await live('bo')).email.status === 'suppressed', 30_000);

    assert.equal((await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId: 'bo', event: 'Subscription Started', messageId: 'bo-2', properties: { plan: 'light' } } })).status, 202);
    const skipped = await waitFor('the subscription welcome to be decided', async () => (await customer('bo')).journey?.messages.find((m) => m.campaignId === 'subscription_welcome'), 30_000);
    assert.deepEqual([skipped.status, skipped.reason], ['skipped', 'email suppressed: hard bounce on welcome']);
    assert.deepEqual(mails('bo').map((m) => m.customArgs.campaign_id), ['welcome'], 'SendGrid got nothing more for bo');
    const bo = await customer('bo');
    assert.deepEqual(bo.timeline.filter((e) => e.kind === 'email').map((e) => e.text), ['welcome bounced (hard)']);
    await waitFor('the KPIs to count the bounce', async () => (await variantOf('welcome'))?.bounced === 1, 30_000);
  });

  test('an unsubscribe turns marketing off; transactional email still goes', async () => {
    const welcome = await signedUp('cy');
    assert.equal((await live('cy')).marketing, 'allowed');
    const res = await webhook.post([{ message: welcome, event: 'unsubscribe' }]);
    assert.deepEqual(applied(res.body), { received: 1, applied: 1, duplicates: 0, ignored: 0, orphaned: 0 });
    await waitFor('marketing to be off', async () => (await live('cy')).marketing === 'unsubscribed', 30_000);

    assert.equal((await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId: 'cy', event: 'Subscription Started', messageId: 'cy-2', properties: { plan: 'full' } } })).status, 202);
    await waitFor('the subscription welcome (transactional) to go', async () => mails('cy', 'subscription_welcome').length === 1, 60_000);
    assert.equal((await live('cy')).email.status, 'allowed');
  });

  test('erasure deletes the customer’s SendGrid events; later events for their messages are ignored', async () => {
    const welcome = mails('ada', 'welcome')[0]!;
    const erased = await call('DELETE', '/v1/customers/ada', { key: SUPPORT_KEY });
    assert.equal(erased.status, 200, JSON.stringify(erased.body));
    assert.deepEqual([erased.body.mongodb.emailEvents, erased.body.mongodb.deliveries], [4, 1]);
    const res = await webhook.post([{ message: welcome, event: 'open' }]);
    assert.deepEqual(applied(res.body), { received: 1, applied: 0, duplicates: 0, ignored: 1, orphaned: 0 });
    assert.equal(await db.models.EmailEvent.countDocuments({ userId: 'ada' }), 0);
  });
});
