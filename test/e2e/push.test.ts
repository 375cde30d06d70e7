/**
 * Web push through the whole stack as processes (Temporal dev server, FerretDB, our worker and API) and a
 * local HTTPS push service that verifies VAPID and decrypts what it gets (test/support/push-service.ts; the
 * worker trusts its certificate through NODE_EXTRA_CA_CERTS): the subscription API, a journey's push
 * reaching the browser's side decrypted, push falling back to email, a 410 removing the subscription, and
 * erasure deleting the subscriptions.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import webPush from 'web-push';
import { freePort } from '../../src/servers/local-servers.js';
import { pushTopic } from '../../src/delivery/push-message.js';
import { runEntry, waitFor, type AppProcess } from '../support/processes.js';
import { startPushService, type PushService } from '../support/push-service.js';
import { apiCaller, startLocalServers, type LocalServers } from '../support/stack.js';

const WRITE_KEY = 'e2e-push-writer-0123456789';
const READ_KEY = 'e2e-push-reader-0123456789';
const ADMIN_KEY = 'e2e-push-admin-01234567890';
const VAPID = webPush.generateVAPIDKeys();

describe('web push through the whole stack', () => {
  let servers: LocalServers;
  let service: PushService;
  let worker: AppProcess;
  let api: AppProcess;
  let base: string;
  const call = apiCaller(() => base);
  const withOutput = (err: unknown) => new Error(`${(err as Error).message}\nAPI output:\n${api?.output()}\nworker output:\n${worker?.output()}`);

  before(async () => {
    [servers, service] = await Promise.all([startLocalServers('lifecycle-e2e-push-', 'SG.unused'), startPushService()]);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env = {
      TEMPORAL_ADDRESS: servers.temporal.address,
      MONGODB_URI: servers.ferret.uri('lifecycle_e2e_push'),
      TASK_QUEUE: 'lifecycle-e2e-push',
      DEFINITION_FILE: 'test/fixtures/push-demo.yaml',
      API_PORT: String(port),
      API_KEYS: `${WRITE_KEY}=events:write,${READ_KEY}=customers:read,${ADMIN_KEY}=customers:read|customers:write`,
      PUBLIC_URL: base,
      LINK_SECRETS: 'e2e-push-link-secret-0123456789abcdef0123',
      UPSTREAM_TIMEOUT_MS: '3000',
      VAPID_PUBLIC_KEY: VAPID.publicKey,
      VAPID_PRIVATE_KEY: VAPID.privateKey,
      VAPID_SUBJECT: 'mailto:push@coachinglive.example',
      WEB_PUSH_SERVICES: service.origin,
      // The push service's self-signed certificate, trusted by the worker's https (web-push) only.
      NODE_EXTRA_CA_CERTS: service.caFile,
    };
    worker = runEntry('src/worker/main.ts', env);
    api = runEntry('src/api/main.ts', env);
    await waitFor('the API to be ready', async () => (await call('GET', '/readyz')).status === 200, 60_000).catch((err) => {
      throw withOutput(err);
    });
  });

  after(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
    await Promise.all([servers?.stop(), service?.close()]);
  });

  const list = async (userId: string) => (await call('GET', `/v1/customers/${userId}/push-subscriptions`, { key: READ_KEY })).body.subscriptions as Array<{ id: string; endpoint: string }>;
  const messageOf = async (userId: string, key: string) =>
    ((await call('GET', `/v1/customers/${userId}`, { key: READ_KEY })).body.journey?.messages as Array<{ key: string; status: string; reason?: string; channel?: string }> | undefined)?.find((m) => m.key === key);
  async function identify(userId: string, locale = 'en'): Promise<void> {
    const res = await call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId, traits: { email: `${userId}@example.com`, firstName: 'Ada', locale, marketingConsent: true } } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  }
  const track = async (userId: string, event: string, messageId: string, properties: Record<string, unknown> = {}) =>
    assert.equal((await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId, event, messageId, properties } })).status, 202);

  test('the subscription API: the VAPID key for apps, bad bodies refused with nothing stored, register (idempotent by endpoint), list, remove', async () => {
    assert.deepEqual((await call('GET', '/v1/push/vapid-public-key')).body, { publicKey: VAPID.publicKey });
    const browser = service.subscribe({ applicationServerKey: VAPID.publicKey });
    const path = '/v1/customers/ada/push-subscriptions';
    assert.equal((await call('POST', path, { key: READ_KEY, body: browser.json })).status, 403);
    assert.equal((await call('GET', path, { key: WRITE_KEY })).status, 403);

    const bad = [
      { ...browser.json, endpoint: browser.json.endpoint.replace('https:', 'http:') },
      { ...browser.json, endpoint: 'https://push.attacker.example/x' },
      { ...browser.json, keys: { ...browser.json.keys, p256dh: 'AAAA' } },
      { ...browser.json, keys: { p256dh: browser.json.keys.p256dh } },
      { ...browser.json, extra: 1 },
    ];
    for (const body of bad) {
      const res = await call('POST', path, { key: ADMIN_KEY, body });
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error.code, 'invalid_request');
    }
    const refused = await call('POST', path, { key: ADMIN_KEY, body: bad[1] });
    assert.match(refused.body.error.issues[0].message, /is not one this deployment sends to \(WEB_PUSH_SERVICES: https:\/\/127\.0\.0\.1:\d+\)/);
    assert.equal((await call('POST', path, { key: ADMIN_KEY, raw: '{"endpoint":' })).status, 400);
    assert.deepEqual(await list('ada'), [], 'nothing was stored');

    const created = await call('POST', path, { key: ADMIN_KEY, body: browser.json });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(Object.keys(created.body).sort(), ['createdAt', 'endpoint', 'expirationTime', 'id', 'updatedAt']);
    const again = await call('POST', path, { key: ADMIN_KEY, body: browser.json });
    assert.deepEqual([again.status, again.body.id], [200, created.body.id]);
    const second = service.subscribe({ applicationServerKey: VAPID.publicKey });
    assert.equal((await call('POST', path, { key: ADMIN_KEY, body: second.json })).status, 201);
    assert.deepEqual((await list('ada')).map((s) => s.endpoint), [browser.json.endpoint, second.json.endpoint]);

    assert.equal((await call('DELETE', `${path}/${created.body.id}`, { key: ADMIN_KEY })).status, 204);
    assert.equal((await call('DELETE', `${path}/${created.body.id}`, { key: ADMIN_KEY })).status, 404);
    assert.equal((await call('DELETE', `${path}?endpoint=${encodeURIComponent(second.json.endpoint)}`, { key: ADMIN_KEY })).status, 204);
    assert.equal((await call('DELETE', `${path}?endpoint=${encodeURIComponent(second.json.endpoint)}`, { key: ADMIN_KEY })).status, 404);
    assert.equal((await call('DELETE', `${path}/not-an-id`, { key: ADMIN_KEY })).status, 400);
    assert.deepEqual(await list('ada'), []);
  });

  test('a journey\'s push reaches the browser decrypted; without a subscription, or with every one gone (410), it falls back to email', async () => {
    await identify('grace', 'de');
    const browser = service.subscribe({ applicationServerKey: VAPID.publicKey });
    assert.equal((await call('POST', '/v1/customers/grace/push-subscriptions', { key: ADMIN_KEY, body: browser.json })).status, 201);
    await track('grace', 'Class Booked', 'grace-1', { className: 'HIIT 45' });
    const [got] = await service.waitForReceived(1, 60_000).catch((err) => {
      throw withOutput(err);
    });
    assert.equal(service.refused.length, 0, service.refused.join('; '));
    assert.deepEqual(got!.json, {
      title: 'Du bist dabei',
      body: 'Ada, HIIT 45 ist gebucht.',
      url: '/classes/next',
      tag: pushTopic('customer-grace/class_booked/1'),
      deliveryKey: 'customer-grace/class_booked/1',
      campaignId: 'class_booked',
      locale: 'de',
    });
    assert.deepEqual([got!.topic, got!.urgency, got!.ttl], [pushTopic('customer-grace/class_booked/1'), 'high', 86_400]);
    const sent = await waitFor('the push in the journey', async () => {
      const m = await messageOf('grace', 'customer-grace/class_booked/1');
      return m?.status === 'sent' && m;
    });
    assert.equal(sent.status, 'sent');

    // Every subscription gone: the push service answers 410, the subscription is removed, the streak goes by email.
    service.unsubscribe(browser.id);
    await track('grace', 'Workout Completed', 'grace-2');
    const outbox = await waitFor('the streak by email', async () => {
      const messages = (await call('GET', '/v1/outbox?userId=grace', { key: READ_KEY })).body.messages as Array<{ campaignId: string; subject: string }>;
      return messages.find((m) => m.campaignId === 'streak');
    }, 60_000).catch((err) => {
      throw withOutput(err);
    });
    assert.equal(outbox.subject, '5 in a row');
    assert.equal(service.requestsFor(browser.id), 2, 'the push service was asked, and answered 410');
    assert.deepEqual(await list('grace'), [], 'the gone subscription was removed');

    // A customer who never subscribed gets it by email straight away.
    await identify('linus');
    await track('linus', 'Workout Completed', 'linus-1');
    await waitFor('the streak by email for linus', async () =>
      ((await call('GET', '/v1/outbox?userId=linus', { key: READ_KEY })).body.messages as Array<{ campaignId: string }>).some((m) => m.campaignId === 'streak'),
    );
    assert.equal(service.received.length, 1, 'nothing more was pushed');
  });

  test('erasure deletes the customer\'s push subscriptions', async () => {
    await identify('erin');
    const browser = service.subscribe({ applicationServerKey: VAPID.publicKey });
    assert.equal((await call('POST', '/v1/customers/erin/push-subscriptions', { key: ADMIN_KEY, body: browser.json })).status, 201);
    const erased = await call('DELETE', '/v1/customers/erin', { key: ADMIN_KEY });
    assert.equal(erased.status, 200, JSON.stringify(erased.body));
    assert.equal(erased.body.mongodb.pushSubscriptions, 1);
    assert.deepEqual(await list('erin'), []);
  });
});
