/**
 * The push channel's pure parts: what each push service status means, the notification built from a
 * template (and cut to fit a push message), the Topic, what a message's subscription results come to,
 * the push service allow-list, the subscription body, the configuration and the definition's push messages.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ALL_GONE, answerOf } from '../../src/channels/push.js';
import { loadConfig, vapidKeys } from '../../src/config/config.js';
import type { DeliveryRequest } from '../../src/core/journey-state.js';
import { DefinitionError, parseDefinition } from '../../src/definition-store/load-definition.js';
import { MAX_PUSH_PAYLOAD_BYTES, pushMessage, pushTopic } from '../../src/delivery/push-message.js';
import { pushAnswerKind } from '../../src/delivery/web-push-sender.js';
import { DEFAULT_PUSH_SERVICES, pushEndpointProblem } from '../../src/push/push-services.js';
import { PushSubscriptionBody, pushSubscriptionId } from '../../src/push/push-subscriptions.js';
import { configProblems, minimalDefinition } from './fixtures.js';

const REQUEST = { key: 'customer-ada/class_booked/3', campaignId: 'class_booked' } as DeliveryRequest;
const P256DH = `B${'A'.repeat(86)}`;
const AUTH = 'tBHItJI5svbpez7KI4CCXg';

describe('push service answers', () => {
  test('2xx sent; 404 and 410 gone; 408, 429 and 5xx retried; 400, 401, 403, 413 and other 4xx failed', () => {
    const table: Array<[number, string]> = [
      [201, 'sent'], [200, 'sent'], [202, 'sent'],
      [404, 'gone'], [410, 'gone'],
      [408, 'retry'], [429, 'retry'], [500, 'retry'], [502, 'retry'], [503, 'retry'],
      [400, 'failed'], [401, 'failed'], [403, 'failed'], [413, 'failed'], [415, 'failed'], [301, 'failed'],
    ];
    assert.deepEqual(table.map(([status]) => [status, pushAnswerKind(status)]), table);
  });

  test('the subscriptions\' results: any retry holds the message; else any sent is sent; else failures fail it; none at all is unreachable', () => {
    const retry = (afterMs?: number, reached: 'not-sent' | 'unknown' = 'not-sent') => ({ kind: 'retry' as const, reason: 'push service x answered 429', status: 429, reached, ...(afterMs ? { afterMs } : {}) });
    assert.deepEqual(answerOf(['loc-1'], [], [retry(2_000), retry(7_000, 'unknown')], 3), {
      kind: 'retry',
      reason: 'push service x answered 429 (and 1 more of 3 subscriptions)',
      reached: 'unknown',
      status: 429,
      afterMs: 7_000,
    });
    assert.deepEqual(answerOf(['loc-1'], ['push service x answered 413'], [], 2), { kind: 'sent', provider: 'web-push', providerMessageId: 'loc-1' });
    assert.deepEqual(answerOf([], ['a', 'b'], [], 2), { kind: 'failed', reason: 'a; b' });
    assert.deepEqual(answerOf([], [], [], 2), { kind: 'unreachable', reason: ALL_GONE });
  });
});

describe('the notification', () => {
  const rendered = { locale: 'de', subject: 'Du bist dabei', html: '<p>unused</p>', text: 'Ada, HIIT 45 ist gebucht.' };

  test('title = subject, body = text, the message\'s url and icon, a tag the same for every attempt', () => {
    assert.deepEqual(pushMessage(REQUEST, rendered, { url: '/classes/next', icon: 'https://cdn.example/i.png', urgency: 'high' }), {
      title: 'Du bist dabei',
      body: 'Ada, HIIT 45 ist gebucht.',
      url: '/classes/next',
      icon: 'https://cdn.example/i.png',
      tag: pushTopic(REQUEST.key),
      deliveryKey: REQUEST.key,
      campaignId: 'class_booked',
      locale: 'de',
    });
    assert.deepEqual(Object.keys(pushMessage(REQUEST, rendered, {})).sort(), ['body', 'campaignId', 'deliveryKey', 'locale', 'tag', 'title']);
  });

  test('the Topic is at most 32 URL-safe base64 characters, stable per delivery key and different between keys', () => {
    const topic = pushTopic(REQUEST.key);
    assert.match(topic, /^[A-Za-z0-9_-]{1,32}$/);
    assert.equal(topic, pushTopic(REQUEST.key));
    assert.notEqual(topic, pushTopic('customer-ada/class_booked/4'));
  });

  test('a text too long for a push message is cut (with an ellipsis) to fit, counting bytes, not characters', () => {
    for (const text of ['x'.repeat(10_000), 'ü'.repeat(5_000), '"\\'.repeat(3_000), '😀'.repeat(2_000)]) {
      const message = pushMessage(REQUEST, { ...rendered, text }, { url: '/x' });
      const bytes = Buffer.byteLength(JSON.stringify(message));
      assert.ok(bytes <= MAX_PUSH_PAYLOAD_BYTES, `${bytes} bytes`);
      assert.ok(bytes > MAX_PUSH_PAYLOAD_BYTES - 400, `kept most of it: ${bytes} bytes`);
      assert.ok(message.body.endsWith('…'));
      assert.ok(text.startsWith(message.body.slice(0, -1)), 'whole characters kept');
    }
    const title = 'T'.repeat(8_000);
    const both = pushMessage(REQUEST, { ...rendered, subject: title, text: 'y'.repeat(8_000) }, {});
    assert.equal(both.body, '');
    assert.ok(Buffer.byteLength(JSON.stringify(both)) <= MAX_PUSH_PAYLOAD_BYTES);
  });
});

describe('push services and subscriptions', () => {
  test('an endpoint must be https, without credentials, on a listed push service (an origin, *.host for subdomains, or *)', () => {
    const services = DEFAULT_PUSH_SERVICES;
    assert.equal(pushEndpointProblem('https://fcm.googleapis.com/fcm/send/abc', services), undefined);
    assert.equal(pushEndpointProblem('https://wns2-by3p.notify.windows.com/w/?token=x', services), undefined);
    assert.equal(pushEndpointProblem('https://web.push.apple.com/QOj', services), undefined);
    assert.equal(pushEndpointProblem('http://fcm.googleapis.com/fcm/send/abc', services), 'the endpoint must be an https:// URL');
    assert.equal(pushEndpointProblem('https://user:pw@fcm.googleapis.com/x', services), 'the endpoint must not carry credentials');
    assert.match(pushEndpointProblem('https://fcm.googleapis.com.evil.example/x', services)!, /push service https:\/\/fcm\.googleapis\.com\.evil\.example is not one this deployment sends to/);
    assert.match(pushEndpointProblem('https://notify.windows.com.evil.example/x', services)!, /not one this deployment sends to/);
    assert.match(pushEndpointProblem('https://169.254.169.254/latest', services)!, /not one this deployment sends to/);
    assert.match(pushEndpointProblem('https://fcm.googleapis.com:8443/x', services)!, /not one this deployment sends to/);
    assert.equal(pushEndpointProblem('https://127.0.0.1:8443/push/1', ['https://127.0.0.1:8443']), undefined);
    assert.equal(pushEndpointProblem('https://anything.example/x', ['*']), undefined);
    assert.equal(pushEndpointProblem('not a url', ['*']), 'the endpoint is not a URL');
  });

  test('the body is the browser\'s PushSubscription JSON: a 65-byte uncompressed key and a 16-byte auth secret, nothing else', () => {
    const good = { endpoint: 'https://fcm.googleapis.com/fcm/send/abc', expirationTime: null, keys: { p256dh: P256DH, auth: AUTH } };
    assert.equal(PushSubscriptionBody.safeParse(good).success, true);
    assert.equal(PushSubscriptionBody.safeParse({ ...good, expirationTime: undefined }).success, true);
    const problems = (body: unknown) => PushSubscriptionBody.safeParse(body).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    assert.deepEqual(problems({ ...good, keys: { p256dh: 'AAAA', auth: AUTH } }), [
      'keys.p256dh: keys.p256dh (the P-256 public key, uncompressed) is 65 bytes',
      'keys.p256dh: keys.p256dh is an uncompressed point (starts with 0x04)',
    ]);
    assert.deepEqual(problems({ ...good, keys: { p256dh: `C${'A'.repeat(86)}`, auth: AUTH } }), ['keys.p256dh: keys.p256dh is an uncompressed point (starts with 0x04)']);
    assert.deepEqual(problems({ ...good, keys: { p256dh: P256DH, auth: 'a+b/' } }), ['keys.auth: keys.auth (the auth secret) is base64url', 'keys.auth: keys.auth (the auth secret) is 16 bytes']);
    assert.equal(PushSubscriptionBody.safeParse({ ...good, extra: 1 }).success, false);
    assert.equal(PushSubscriptionBody.safeParse({ endpoint: good.endpoint }).success, false);
    assert.match(pushSubscriptionId(good.endpoint), /^[A-Za-z0-9_-]{22}$/);
    assert.equal(pushSubscriptionId(good.endpoint), pushSubscriptionId(good.endpoint));
  });
});

describe('push configuration and definitions', () => {
  const problems = configProblems;
  const KEYS = { VAPID_PUBLIC_KEY: P256DH, VAPID_PRIVATE_KEY: 'A'.repeat(43), VAPID_SUBJECT: 'mailto:push@example.com' };

  test('VAPID keys: all three for a worker, the public one alone for an API, each checked; WEB_PUSH_SERVICES entries checked', () => {
    assert.deepEqual(vapidKeys(loadConfig(KEYS)), { publicKey: P256DH, privateKey: 'A'.repeat(43), subject: 'mailto:push@example.com' });
    assert.equal(vapidKeys(loadConfig({ VAPID_PUBLIC_KEY: P256DH })), undefined);
    assert.deepEqual(loadConfig({}).WEB_PUSH_SERVICES, DEFAULT_PUSH_SERVICES);
    assert.match(problems({ VAPID_PRIVATE_KEY: KEYS.VAPID_PRIVATE_KEY }).join('\n'), /set VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT together/);
    assert.match(problems({ ...KEYS, VAPID_PRIVATE_KEY: 'short' }).join('\n'), /VAPID_PRIVATE_KEY: the P-256 private key: 32 bytes/);
    assert.match(problems({ ...KEYS, VAPID_SUBJECT: 'push@example.com' }).join('\n'), /VAPID_SUBJECT: a mailto: address or an https: URL/);
    const services = problems({ WEB_PUSH_SERVICES: 'https://fcm.googleapis.com,http://push.example.com,https://push.example.com/path' }).join('\n');
    assert.match(services, /"http:\/\/push\.example\.com": push services are reached over https only/);
    assert.match(services, /"https:\/\/push\.example\.com\/path" is not an origin/);
    assert.deepEqual(loadConfig({ WEB_PUSH_SERVICES: 'https://*.push.example.com, *' }).WEB_PUSH_SERVICES, ['https://*.push.example.com', '*']);
  });

  test('a push message takes url, icon, urgency and ttl, each checked, and its templates need text in every locale', () => {
    const def = (message: Record<string, unknown>, text = true) =>
      minimalDefinition({
        campaigns: [{ id: 'hello', name: 'Hello', kind: 'transactional', trigger: { event: 'Signed Up' }, message: message as never }],
        templates: [{ id: 'hello', locales: { en: { subject: 'Hi', html: '<p>Hi</p>', ...(text ? { text: 'Hi there' } : {}) } } }],
      });
    assert.equal(parseDefinition(def({ channel: 'push', template: 'hello', url: 'https://app.example/x', icon: '/icon.png', urgency: 'low', ttl: 600 })).definition.campaigns[0]!.message.channel, 'push');
    const refused = (raw: unknown) =>
      assert.throws(() => parseDefinition(raw), (err: unknown) => {
        assert.ok(err instanceof DefinitionError);
        return true;
      });
    refused(def({ channel: 'push', template: 'hello', url: 'http://app.example/x' }));
    refused(def({ channel: 'push', template: 'hello', urgency: 'urgent' }));
    refused(def({ channel: 'push', template: 'hello', ttl: -1 }));
    assert.throws(() => parseDefinition(def({ channel: 'push', template: 'hello' }, false)), /template "hello" is sent by push and needs `text` \(the message body\) in every locale; missing in en/);
  });
});
