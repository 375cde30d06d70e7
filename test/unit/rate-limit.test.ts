import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { createApp } from '../../src/api/app.js';
import type { CustomerService } from '../../src/api/customer-service.js';
import { createRateLimits, TokenBuckets } from '../../src/api/rate-limit.js';
import { BatchResult, ErrorBody } from '../../src/api/response-schemas.js';
import type { CustomerEvent as TrackBody } from '../../src/api/customer-service.js';
import type { Scope } from '../../src/config/config.js';
import { createApiMetrics } from '../../src/metrics/api-metrics.js';

describe('token buckets, on an injected clock', () => {
  const clock = (start = 1_000_000) => {
    let now = start;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };

  test('a full bucket lets the burst through, then refuses with the whole seconds until the next token', () => {
    const c = clock();
    const buckets = new TokenBuckets({ ratePerSecond: 2, burst: 3, now: c.now });
    assert.deepEqual([1, 2, 3].map(() => buckets.take('k').allowed), [true, true, true]);
    assert.deepEqual(buckets.take('k'), { allowed: false, retryAfterSeconds: 1 });
    c.advance(499);
    assert.deepEqual(buckets.take('k'), { allowed: false, retryAfterSeconds: 1 }, '0.998 tokens: rounded up, not down');
    c.advance(1);
    assert.deepEqual(buckets.take('k'), { allowed: true });
    assert.equal(buckets.take('other').allowed, true, 'every key has its own bucket');
    c.advance(60_000);
    assert.deepEqual([1, 2, 3, 4].map(() => buckets.take('k').allowed), [true, true, true, false], 'refilled to the burst, never beyond');
  });

  test('a slow rate says so in Retry-After: 0.2 per second is 5 seconds per token', () => {
    const c = clock();
    const buckets = new TokenBuckets({ ratePerSecond: 0.2, burst: 1, now: c.now });
    assert.equal(buckets.take('k').allowed, true);
    assert.deepEqual(buckets.take('k'), { allowed: false, retryAfterSeconds: 5 });
    c.advance(2_000);
    assert.deepEqual(buckets.take('k'), { allowed: false, retryAfterSeconds: 3 });
    c.advance(3_000);
    assert.equal(buckets.take('k').allowed, true);
  });

  test('a steady 5 per second passes a limit of 20 per second for ten minutes; 50 per second does not', () => {
    const c = clock();
    const buckets = new TokenBuckets({ ratePerSecond: 20, burst: 40, now: c.now });
    let refused = 0;
    for (let i = 0; i < 5 * 600; i++) {
      if (!buckets.take('busy').allowed) refused++;
      c.advance(200);
    }
    assert.equal(refused, 0);
    let accepted = 0;
    for (let i = 0; i < 50 * 10; i++) {
      if (buckets.take('flood').allowed) accepted++;
      c.advance(20);
    }
    // 40 at once, then 20 a second for the 10 seconds (the last token arrives as the last call is made).
    assert.equal(accepted, 40 + 199);
  });

  test('rate 0 turns the limit off', () => {
    const buckets = new TokenBuckets({ ratePerSecond: 0, burst: 1 });
    assert.equal(buckets.enabled, false);
    assert.ok(Array.from({ length: 1_000 }, () => buckets.take('k').allowed).every(Boolean));
    assert.equal(buckets.size, 0);
  });

  test('memory stays bounded: refilled buckets are forgotten first, then the least recently used', () => {
    const c = clock();
    const buckets = new TokenBuckets({ ratePerSecond: 1, burst: 2, now: c.now, maxKeys: 3 });
    for (const key of ['a', 'b', 'c']) buckets.take(key);
    buckets.take('a');
    buckets.take('a'); // 'a' is empty and the most recently used
    c.advance(1_500); // 'b' and 'c' are full again
    buckets.take('d');
    assert.equal(buckets.size, 2, 'b and c were forgotten');
    assert.deepEqual(buckets.take('a'), { allowed: true }, '1.5 tokens refilled for a');
    assert.deepEqual(buckets.take('a'), { allowed: false, retryAfterSeconds: 1 }, 'a kept its state');
  });
});

describe('rate limits on the API', () => {
  const KEY = 'rate-limit-test-key-0123456789';
  const OTHER_KEY = 'rate-limit-other-key-01234567';
  const applied: string[] = [];
  const customers = {
    async track(body: TrackBody) {
      applied.push(`${body.userId}:${body.messageId}`);
      return { workflowId: `customer-${body.userId}` };
    },
    async identify() {
      return { created: false, journey: 'signalled' as const };
    },
    async getCustomer() {
      return null;
    },
  } as unknown as CustomerService;
  let now = 5_000_000;
  const metrics = createApiMetrics();
  let base: string;
  let close: () => void;

  before(async () => {
    const scopes = new Set<Scope>(['events:write', 'customers:read', 'metrics:read']);
    const apiKeys = new Map([
      [KEY, scopes],
      [OTHER_KEY, scopes],
    ]);
    const rateLimits = createRateLimits({ perKey: { ratePerSecond: 1, burst: 10 }, perCustomer: { ratePerSecond: 0.5, burst: 2 }, now: () => now });
    const server = createApp({ customers, apiKeys, logger: pino({ level: 'silent' }), temporalUiUrl: 'http://ui', namespace: 'default', metrics, rateLimits }).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  after(() => close());

  const post = async (path: string, body: unknown, key = KEY) => {
    const res = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as unknown };
  };
  const counter = async (labels: Record<string, string>) =>
    (await metrics.registry.getSingleMetric('lifecycle_events_rejected_total')!.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;

  test('one customer over their events per second: 429 with Retry-After and the Error body, nothing applied; others go on', async () => {
    const track = (userId: string, messageId: string) => post('/v1/track', { userId, event: 'Workout Logged', messageId });
    assert.equal((await track('ada', 'a1')).status, 202);
    assert.equal((await post('/v1/identify', { userId: 'ada', traits: { locale: 'de' } })).status, 200, 'identify counts too');
    const refused = await track('ada', 'a2');
    assert.equal(refused.status, 429);
    assert.equal(refused.retryAfter, '2', '0.5 events per second: a token every 2 s');
    const error = ErrorBody.parse(refused.body);
    assert.equal(error.error.code, 'rate_limited');
    assert.equal(error.error.message, 'this customer is over 0.5 events per second; retry after 2 s');
    assert.equal((await track('bo', 'b1')).status, 202, 'another customer is not held back');
    now += 2_000;
    assert.equal((await track('ada', 'a2')).status, 202, 'after Retry-After it goes through');
    assert.deepEqual(applied, ['ada:a1', 'bo:b1', 'ada:a2']);
    assert.equal(await counter({ type: 'track', reason: 'rate_limited' }), 1);
  });

  test('a batch marks the refused items of a busy customer rate_limited (and that customer’s later ones), and answers 429 so the client retries it', async () => {
    now += 60_000;
    applied.length = 0;
    const item = (userId: string, messageId: string) => ({ type: 'track', userId, event: 'Workout Logged', messageId });
    const res = await post('/v1/batch', { batch: [item('cy', 'c1'), item('cy', 'c2'), item('cy', 'c3'), item('dee', 'd1'), item('cy', 'c4')] });
    assert.equal(res.status, 429);
    assert.equal(res.retryAfter, '2');
    const body = BatchResult.parse(res.body);
    assert.deepEqual(body.results.map((r) => r.status), ['accepted', 'accepted', 'rate_limited', 'accepted', 'rate_limited']);
    assert.deepEqual([body.accepted, body.rejected, body.unavailable, body.rateLimited], [3, 0, 0, 2]);
    assert.deepEqual(body.results[4], {
      index: 4,
      status: 'rate_limited',
      message: 'not attempted: an earlier item of this customer was rate limited (this customer is over 0.5 events per second; retry after 2 s)',
      retryAfterSeconds: 2,
    });
    assert.deepEqual(applied.sort(), ['cy:c1', 'cy:c2', 'dee:d1']);
    assert.equal(await counter({ type: 'track', reason: 'rate_limited' }), 3, 'one call before, two items now');
  });

  test('each key has its own request budget over every route behind a key; 429 before the body is read', async () => {
    now += 60_000;
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      const res = await fetch(`${base}/v1/customers/nobody`, { headers: { authorization: `Bearer ${KEY}` } });
      statuses.push(res.status);
      if (res.status === 429) assert.equal(res.headers.get('retry-after'), '1');
    }
    assert.deepEqual(statuses, [...Array(10).fill(404), 429]);
    const badBody = await fetch(`${base}/v1/track`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: '{' });
    assert.equal(badBody.status, 429);
    assert.equal((await fetch(`${base}/v1/customers/nobody`, { headers: { authorization: `Bearer ${OTHER_KEY}` } })).status, 404, 'another key is not held back');
    assert.equal((await fetch(`${base}/healthz`)).status, 200, 'public routes have no key to count');
    now += 1_000;
    assert.equal((await fetch(`${base}/v1/customers/nobody`, { headers: { authorization: `Bearer ${KEY}` } })).status, 404);
  });
});
