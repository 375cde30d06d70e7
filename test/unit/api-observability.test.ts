import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createApp } from '../../src/api/app.js';
import type { CustomerService } from '../../src/api/customer-service.js';
import { UpstreamUnavailable } from '../../src/http/errors.js';
import type { CustomerEvent as TrackBody } from '../../src/api/customer-service.js';
import type { Scope } from '../../src/config/config.js';
import { createLogger } from '../../src/logging/logger.js';
import { requestLogFields } from '../../src/logging/request-context.js';
import { createApiMetrics } from '../../src/metrics/api-metrics.js';

const KEY = 'observability-test-key-0123456789';
const EMAIL = 'ada.lovelace@example.com';
const NAME = 'Ada Lovelace';

/** Customers "down-…" find Temporal unreachable; every other call succeeds without I/O. */
const customers = {
  async track(body: TrackBody) {
    if (body.userId.startsWith('down-')) throw new UpstreamUnavailable('temporal', new Error('connection refused'));
    return { workflowId: `customer-${body.userId}` };
  },
  async identify() {
    return { created: true, journey: 'signalled' as const };
  },
  async getCustomer() {
    return null;
  },
} as unknown as CustomerService;

type LogLine = Record<string, unknown> & { msg: string; level: number };

/**
 * The API in this process, logging into a buffer: a real HTTP request goes through the same middleware,
 * handlers and error handler as in production.
 */
describe('request logs and API metrics', () => {
  let base: string;
  let close: () => void;
  let raw = '';
  const metrics = createApiMetrics();
  const lines = (): LogLine[] => raw.split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine);

  before(async () => {
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        raw += chunk.toString();
        done();
      },
    });
    const logger = createLogger({ level: 'info', name: 'api', destination, context: requestLogFields });
    const apiKeys = new Map<string, Set<Scope>>([[KEY, new Set<Scope>(['events:write', 'customers:read', 'metrics:read'])]]);
    const server = createApp({ customers, apiKeys, logger, temporalUiUrl: 'http://ui', namespace: 'default', metrics }).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => server.close();
  });
  after(() => close());

  const call = async (method: string, path: string, opts: { body?: unknown; key?: string; requestId?: string } = {}) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(opts.key ? { authorization: `Bearer ${opts.key}` } : {}),
        ...(opts.requestId ? { 'x-request-id': opts.requestId } : {}),
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    });
    await res.arrayBuffer();
    return res.status;
  };
  const linesOf = (requestId: string) => lines().filter((l) => l.requestId === requestId);
  const value = async (name: string, labels: Record<string, string>) => {
    const metric = (await metrics.registry.getSingleMetric(name)!.get()).values;
    return metric.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
  };

  test('a request line carries the request id, the customer and the journey, and no personal data or key', async () => {
    const status = await call('POST', '/v1/identify', {
      key: KEY,
      requestId: 'req-identify-1',
      body: { userId: 'ada', traits: { email: EMAIL, name: NAME, firstName: 'Ada', lastName: 'Lovelace' } },
    });
    assert.equal(status, 200);
    const [line, ...more] = linesOf('req-identify-1');
    assert.equal(more.length, 0);
    assert.equal(line!.msg, 'request completed');
    assert.equal(line!.userId, 'ada');
    assert.equal(line!.workflowId, 'customer-ada');
    assert.equal((line!.res as { statusCode: number }).statusCode, 200);
    for (const secret of [EMAIL, NAME, 'Lovelace', KEY]) assert.ok(!raw.includes(secret), `the log holds ${secret}`);
  });

  test('an outage logs its warning and the request with the same ids', async () => {
    assert.equal(await call('POST', '/v1/track', { key: KEY, requestId: 'req-down-1', body: { userId: 'down-1', event: 'Signed Up', messageId: 'm1' } }), 503);
    const found = linesOf('req-down-1');
    assert.deepEqual(found.map((l) => l.msg).sort(), ['request errored', 'upstream unavailable']);
    for (const line of found) {
      assert.equal(line.userId, 'down-1');
      assert.equal(line.workflowId, 'customer-down-1');
    }
    assert.equal(found.find((l) => l.msg === 'upstream unavailable')!.upstream, 'temporal');
  });

  test('the customer of a path is logged, also on a 404; a generated request id when the caller sends none or a bad one', async () => {
    assert.equal(await call('GET', '/v1/customers/bo%20b', { key: KEY, requestId: 'req-path-1' }), 404);
    const [line] = linesOf('req-path-1');
    assert.equal(line!.userId, 'bo b');
    assert.equal(line!.workflowId, 'customer-bo b');
    const before = lines().length;
    assert.equal(await call('GET', '/healthz', { requestId: 'not valid!' }), 200);
    const [health] = lines().slice(before);
    assert.match(String(health!.requestId), /^[0-9a-f-]{36}$/);
    assert.equal(health!.userId, undefined);
  });

  test('events are counted once each: accepted, and refused with their reason', async () => {
    const track = { event: 'Signed Up', messageId: 'm' };
    assert.equal(await call('POST', '/v1/track', { key: KEY, body: { userId: 'cy', ...track } }), 202);
    assert.equal(await call('POST', '/v1/track', { key: KEY, body: { userId: 'cy' } }), 400);
    assert.equal(await call('POST', '/v1/track', { body: { userId: 'cy', ...track } }), 401);
    assert.equal(await call('POST', '/v1/identify', { key: KEY, body: { userId: 'cy', traits: {} } }), 200);
    const batch = { batch: [{ type: 'track', userId: 'cy', ...track }, { type: 'identify', userId: 'cy', traits: {} }, { type: 'page' }, { type: 'track', userId: 'down-2', ...track }] };
    // An item unavailable (down-2): the whole batch is 503, so a client retries it; accepted items are applied once.
    assert.equal(await call('POST', '/v1/batch', { key: KEY, body: batch }), 503);
    assert.equal(await call('POST', '/v1/batch', { key: KEY, body: { batch: [] } }), 400);

    assert.equal(await value('lifecycle_events_accepted_total', { type: 'track' }), 2);
    assert.equal(await value('lifecycle_events_accepted_total', { type: 'identify' }), 3, 'two identify calls before this test, and one item');
    assert.equal(await value('lifecycle_events_rejected_total', { type: 'track', reason: 'invalid' }), 1);
    assert.equal(await value('lifecycle_events_rejected_total', { type: 'track', reason: 'unauthenticated' }), 1);
    assert.equal(await value('lifecycle_events_rejected_total', { type: 'track', reason: 'unavailable' }), 2, 'one call, one item');
    assert.equal(await value('lifecycle_events_rejected_total', { type: 'other', reason: 'invalid' }), 1);
    assert.equal(await value('lifecycle_events_rejected_total', { type: 'batch', reason: 'invalid' }), 1);
  });

  test('requests are counted by route pattern, never by URL', async () => {
    assert.equal(await value('http_requests_total', { method: 'GET', route: '/v1/customers/:userId', status: '404' }), 1);
    assert.equal(await value('http_requests_total', { method: 'GET', route: '/healthz', status: '200' }), 1);
    assert.equal(await call('GET', '/no/such/thing'), 404);
    assert.equal(await value('http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }), 1);
    const text = await metrics.registry.metrics();
    assert.ok(!text.includes('bo b') && !text.includes('bo%20b'), 'no customer id in a label');
    assert.match(text, /^http_request_duration_seconds_count\{method="POST",route="\/v1\/track",status="202"\} 1$/m);
  });
});
