import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { deliveryKeyQuery, readFeedMessages, xMessageIdOf } from '../../src/delivery/activity-feed.js';
import { decideUnknownOutcome, FEED_UNAVAILABLE_WAIT_MS, type UnknownOutcomeFacts } from '../../src/delivery/sent-lookup.js';
import { parseActivityQuery } from '../support/sendgrid-server.js';

const T0 = 1_800_000_000_000;
const facts = (over: Partial<UnknownOutcomeFacts>): UnknownOutcomeFacts => ({
  eventSeen: false,
  feed: { kind: 'absent' },
  webhookConfigured: false,
  sendingAt: T0,
  now: T0 + 10_000,
  settleMs: 120_000,
  ...over,
});

describe('decideUnknownOutcome', () => {
  test('proof of acceptance wins, whatever the age', () => {
    assert.deepEqual(decideUnknownOutcome(facts({ eventSeen: true, feed: 'off' })), { kind: 'sent', via: 'event-webhook' });
    assert.deepEqual(decideUnknownOutcome(facts({ feed: { kind: 'found', msgId: 'abc123.filter0001p1las1-1-2-0.0' }, now: T0 + 999_999 })), {
      kind: 'sent',
      via: 'activity-feed',
      providerMessageId: 'abc123',
    });
    assert.deepEqual(decideUnknownOutcome(facts({ feed: { kind: 'found' } })), { kind: 'sent', via: 'activity-feed' });
  });

  test('not seen: waits until the attempt is settleMs old, then resends', () => {
    assert.equal(decideUnknownOutcome(facts({})).kind, 'wait');
    assert.equal((decideUnknownOutcome(facts({})) as { ms: number }).ms, 110_000);
    assert.equal((decideUnknownOutcome(facts({ now: T0 + 119_900 })) as { ms: number }).ms, 1_000, 'at least a second between looks');
    assert.equal(decideUnknownOutcome(facts({ now: T0 + 120_000 })).kind, 'resend');
    assert.equal(decideUnknownOutcome(facts({ settleMs: 0, now: T0 })).kind, 'resend');
  });

  test('a feed that cannot answer now: wait for it (its reset time when given), never resend blind', () => {
    assert.deepEqual(decideUnknownOutcome(facts({ feed: { kind: 'unavailable', reason: 'x', retryAfterMs: 42_000 }, now: T0 + 999_999 })), { kind: 'wait', ms: 42_000, reason: 'x' });
    assert.equal((decideUnknownOutcome(facts({ feed: { kind: 'unavailable', reason: 'x' } })) as { ms: number }).ms, FEED_UNAVAILABLE_WAIT_MS);
  });

  test('nothing that could tell (feed off or no add-on, no Event Webhook): resend at once', () => {
    assert.equal(decideUnknownOutcome(facts({ feed: 'off' })).kind, 'resend');
    assert.equal(decideUnknownOutcome(facts({ feed: { kind: 'no-access', status: 404 } })).kind, 'resend');
    // With the Event Webhook an event may still come: wait for it.
    assert.equal(decideUnknownOutcome(facts({ feed: { kind: 'no-access', status: 403 }, webhookConfigured: true })).kind, 'wait');
    assert.equal(decideUnknownOutcome(facts({ feed: 'off', webhookConfigured: true })).kind, 'wait');
  });
});

describe('activity feed query', () => {
  test('the query names the delivery key as a unique arg; the local server reads it back', () => {
    assert.equal(deliveryKeyQuery('customer-u1/welcome/1'), `unique_args['delivery_key']="customer-u1/welcome/1"`);
    for (const key of ['customer-u1/welcome/1', 'customer-a "quoted" \\ id/welcome/2', 'customer-x AND y/welcome/3']) {
      assert.deepEqual(parseActivityQuery(deliveryKeyQuery(key)), [{ uniqueArg: 'delivery_key', equals: key }]);
    }
    assert.deepEqual(parseActivityQuery(`(unique_args['a']="1") AND msg_id LIKE 'abc%' AND msg_id="abc.def"`), [
      { uniqueArg: 'a', equals: '1' },
      { msgIdPrefix: 'abc' },
      { msgId: 'abc.def' },
    ]);
    assert.equal(parseActivityQuery(`to_email="a@example.com"`), undefined);
  });

  test('answers are read as SendGrid gives them', () => {
    assert.deepEqual(readFeedMessages({ messages: [] }), { kind: 'absent' });
    assert.deepEqual(readFeedMessages({ messages: [{ msg_id: 'm.1', status: 'delivered' }] }), { kind: 'found', msgId: 'm.1' });
    assert.equal(readFeedMessages({}).kind, 'unavailable');
    assert.equal(xMessageIdOf('XyZ_12.filter0001p1las1-16816-5A023E36-1.0'), 'XyZ_12');
    assert.equal(xMessageIdOf('plain'), 'plain');
  });
});

describe('settings', () => {
  test('SENDGRID_ACTIVITY_LOOKUP on by default, SENDGRID_LOOKUP_SETTLE_MS 120 s by default; bad values stop the process', () => {
    const config = loadConfig({ SENDGRID_API_KEY: 'SG.x' });
    assert.equal(config.SENDGRID_ACTIVITY_LOOKUP, 'on');
    assert.equal(config.SENDGRID_LOOKUP_SETTLE_MS, 120_000);
    assert.equal(loadConfig({ SENDGRID_ACTIVITY_LOOKUP: 'off', SENDGRID_LOOKUP_SETTLE_MS: '25000' }).SENDGRID_LOOKUP_SETTLE_MS, 25_000);
    assert.throws(() => loadConfig({ SENDGRID_ACTIVITY_LOOKUP: 'maybe' }), ConfigError);
    assert.throws(() => loadConfig({ SENDGRID_LOOKUP_SETTLE_MS: '-1' }), ConfigError);
  });
});
