import assert from 'node:assert/strict';
import { gzipSync, deflateSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { Analytics } from '@segment/analytics-node';
import RudderAnalytics from '@rudderstack/rudder-sdk-node';
import { freePort } from '../../src/servers/local-servers.js';
import { runEntry, waitFor, type AppProcess } from '../support/processes.js';
import { apiCaller, startLocalServers, type LocalServers } from '../support/stack.js';

const WRITE_KEY = 'segment-writer-key-0123456789';
const READ_KEY = 'segment-reader-key-0123456789';
const ADMIN_KEY = 'segment-admin-key-01234567890';
const METRICS_KEY = 'segment-metrics-key-0123456789';
const SENDGRID_KEY = 'SG.segment-e2e';

/**
 * Clients of the Segment HTTP API against the whole stack: the real `@segment/analytics-node` and
 * `@rudderstack/rudder-sdk-node`, configured only with our host and a write key, through an outage; and
 * raw HTTP per call type (Basic and Bearer, gzip and deflate, batch, every envelope field).
 */
describe('Segment and RudderStack clients', () => {
  let servers: LocalServers;
  let worker: AppProcess;
  let api: AppProcess;
  let base: string;
  const call = apiCaller(() => base);

  before(async () => {
    servers = await startLocalServers('lifecycle-segment-', SENDGRID_KEY);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env = {
      TEMPORAL_ADDRESS: servers.temporal.address,
      MONGODB_URI: servers.ferret.uri('lifecycle_segment'),
      TASK_QUEUE: 'lifecycle-segment',
      API_PORT: String(port),
      API_KEYS: `${WRITE_KEY}=events:write,${READ_KEY}=customers:read|events:read,${ADMIN_KEY}=customers:write,${METRICS_KEY}=metrics:read`,
      SENDGRID_API_KEY: SENDGRID_KEY,
      SENDGRID_BASE_URL: servers.sendgrid.url,
      UPSTREAM_TIMEOUT_MS: '3000',
      CUSTOMER_EVENTS_PER_SECOND: '0',
    };
    worker = runEntry('src/worker/main.ts', env);
    api = runEntry('src/api/main.ts', env);
    await waitFor('the API to be ready', async () => (await call('GET', '/readyz')).status === 200, 60_000).catch((err) => {
      throw new Error(`${(err as Error).message}\nAPI output:\n${api.output()}\nworker output:\n${worker.output()}`);
    });
  });

  after(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
    await servers?.stop();
  });

  const journey = async (userId: string) => (await call('GET', `/v1/customers/${encodeURIComponent(userId)}`, { key: READ_KEY })).body?.journey;
  const settled = (userId: string, stage: string, workouts: number) =>
    waitFor(`${userId} in ${stage} with ${workouts} workouts`, async () => {
      const j = await journey(userId);
      return j?.stage === stage && (j.counters.workouts ?? 0) === workouts ? j : undefined;
    }, 60_000);

  /** Batches the API answered 503 so far (its own metrics): proof the SDKs met the outage and retried. */
  const batches503 = async () => {
    const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_KEY}` } })).text();
    return Number(/^http_requests_total\{method="POST",route="\/v1\/batch",status="503"\} (\d+)/m.exec(text)?.[1] ?? 0);
  };

  /** The Temporal dev server frozen (SIGSTOP) for `ms`: the API answers 503 with Retry-After meanwhile. */
  const outage = async (ms: number) => {
    servers.temporal.process.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, ms));
    servers.temporal.process.kill('SIGCONT');
  };

  test('@segment/analytics-node, host and write key only: every call type reaches the journey, each event once, through an outage', async () => {
    const analytics = new Analytics({ writeKey: WRITE_KEY, host: base, flushAt: 20, flushInterval: 200 });
    const failures: unknown[] = [];
    analytics.on('error', (err) => failures.push(err));
    const userId = 'seg-ada';
    analytics.identify({ userId, traits: { email: 'ada@example.com', firstName: 'Ada', timezone: 'Europe/London' } });
    analytics.group({ userId, groupId: 'acme', traits: { plan: 'enterprise' } });
    analytics.track({ userId, event: 'Signed Up' });
    analytics.page({ userId, name: 'Pricing', properties: { path: '/pricing' } });
    analytics.screen({ userId, name: 'Workout' });
    analytics.track({ userId, event: 'Trial Started' });
    await analytics.flush();
    await settled(userId, 'trial', 0);

    // An outage while the SDK sends: it retries on 503 until the API takes the batch; nothing twice.
    const before503 = await batches503();
    const down = outage(5_000);
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 3; i++) analytics.track({ userId, event: 'Workout Logged', properties: { n: i } });
    await analytics.flush();
    await down;
    await analytics.closeAndFlush({ timeout: 60_000 });
    assert.deepEqual(failures, []);
    await settled(userId, 'trial', 3);
    assert.ok((await batches503()) > before503, 'the SDK met a 503 and retried');
    const customer = (await call('GET', `/v1/customers/${userId}`, { key: READ_KEY })).body;
    assert.deepEqual(customer.profile.group, { id: 'acme', traits: { plan: 'enterprise' } });
    assert.equal(customer.profile.email, 'ada@example.com');
  });

  test('@rudderstack/rudder-sdk-node (gzip, no Content-Type), host and write key only: each event once, through an outage', async () => {
    const client = new RudderAnalytics(WRITE_KEY, { dataPlaneUrl: base, flushAt: 20, flushInterval: 200, logLevel: 'error' });
    const userId = 'rudder-bo';
    const flush = () => new Promise<void>((resolve, reject) => client.flush((err?: unknown) => (err ? reject(err) : resolve())));
    client.identify({ userId, traits: { email: 'bo@example.com' } });
    client.track({ userId, event: 'Signed Up' });
    client.page({ userId, name: 'Pricing' });
    client.track({ userId, event: 'Trial Started' });
    await flush();
    await settled(userId, 'trial', 0);
    const before503 = await batches503();
    const down = outage(5_000);
    await new Promise((r) => setTimeout(r, 100));
    client.track({ userId, event: 'Workout Logged' });
    client.track({ userId, event: 'Workout Logged' });
    await flush();
    await down;
    await settled(userId, 'trial', 2);
    assert.ok((await batches503()) > before503, 'the SDK met a 503 and retried');
  });

  test('raw HTTP, each call type: Basic and Bearer, gzip and deflate, every envelope field; unknown fields warn', async () => {
    const basic = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
    const post = async (path: string, body: unknown, headers: Record<string, string> = {}, encode?: 'gzip' | 'deflate') => {
      const text = JSON.stringify(body);
      const payload = encode === 'gzip' ? gzipSync(text) : encode === 'deflate' ? deflateSync(text) : text;
      const res = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/json', ...(encode ? { 'content-encoding': encode } : {}), ...headers },
        body: payload,
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> & { warnings?: string[] } };
    };
    const envelope = {
      context: { library: { name: 'raw', version: '1' }, ip: '203.0.113.9' },
      integrations: { All: true },
      _metadata: { bundled: [] },
      channel: 'server',
      version: 2,
      sentAt: new Date().toISOString(),
      originalTimestamp: new Date(Date.now() - 60_000).toISOString(),
      receivedAt: new Date().toISOString(),
    };
    const userId = 'raw-cy';
    assert.equal((await post('/v1/identify', { ...envelope, userId, traits: { email: 'cy@example.com' } })).status, 200);
    assert.equal((await post('/v1/track', { ...envelope, userId, event: 'Signed Up', messageId: 'raw-cy-1' }, { authorization: `Bearer ${WRITE_KEY}` })).status, 202);
    assert.equal((await post('/v1/page', { ...envelope, userId, name: 'Pricing' }, {}, 'gzip')).status, 202);
    assert.equal((await post('/v1/screen', { ...envelope, userId, name: 'Home' }, {}, 'deflate')).status, 202);
    assert.equal((await post('/v1/group', { ...envelope, userId, groupId: 'g1', traits: { seats: 3 } })).status, 200);
    const typo = await post('/v1/track', { userId, event: 'Trial Started', propertiez: { x: 1 } });
    assert.equal(typo.status, 202);
    assert.match(typo.body.warnings![0]!, /unknown field "propertiez"/);
    await settled(userId, 'trial', 0);

    // A visitor's history joins the customer at identify, once; later anonymous calls reach the customer.
    const anonymousId = 'visitor-77';
    assert.equal((await post('/v1/track', { anonymousId, event: 'Paywall Viewed', timestamp: new Date(Date.now() - 5_000).toISOString() })).body.heldForAnonymousId, anonymousId);
    assert.equal((await post('/v1/track', { anonymousId, event: 'Workout Logged', timestamp: new Date(Date.now() - 4_000).toISOString() })).status, 202);
    const linked = await post('/v1/identify', { userId: 'raw-dee', anonymousId, traits: {} });
    assert.equal(linked.body.joins, anonymousId);
    assert.equal((await post('/v1/alias', { previousId: anonymousId, userId: 'raw-dee' })).body.joins, anonymousId, 'a second link changes nothing');
    assert.equal((await post('/v1/alias', { previousId: anonymousId, userId: 'raw-eve' })).body.linkedTo, 'raw-dee', 'the first link wins');
    assert.equal((await post('/v1/track', { anonymousId, event: 'Workout Logged', messageId: 'dee-w2' })).body.userId, 'raw-dee');
    await settled('raw-dee', 'prospect', 2);
    const timeline = (await call('GET', '/v1/customers/raw-dee', { key: READ_KEY })).body.timeline as Array<{ text: string }>;
    const joins = timeline.filter((t) => t.text.includes(`anonymous visitor ${anonymousId}`));
    assert.equal(joins.length, 1, JSON.stringify(timeline));
    assert.match(joins[0]!.text, /2 events \(Paywall Viewed, Workout Logged\)/);
    assert.equal((await post('/v1/identify', { anonymousId: 'visitor-88', traits: { email: 'x@example.com' } })).status, 400, 'an anonymous identify has no profile to go to');

    // No key: 401 naming both schemes; a compression bomb: 413, nothing written.
    const noKey = await fetch(`${base}/v1/track`, { method: 'POST', body: '{}' });
    assert.equal(noKey.status, 401);
    assert.match(noKey.headers.get('www-authenticate') ?? '', /Bearer.*Basic/);
    const bomb = await post('/v1/track', { userId: 'bomb', event: 'x'.repeat(10), properties: { pad: 'a'.repeat(40_000) } }, {}, 'gzip');
    assert.equal(bomb.status, 413);
    assert.equal((await call('GET', '/v1/customers/bomb', { key: READ_KEY })).status, 404, 'nothing written');
  });

  test('a refused batch item is kept, listed and replayed once; the batch answers 200 only when nothing is unapplied', async () => {
    const res = await call('POST', '/v1/batch', {
      key: WRITE_KEY,
      body: { batch: [{ type: 'track', userId: 'rej-1', event: 'Signed Up', messageId: 'rej-ok' }, { type: 'track', userId: 'rej-1', messageId: 'rej-bad', properties: { a: 1 } }], sentAt: new Date().toISOString() },
    });
    assert.equal(res.status, 200);
    const rejectedId = res.body.results[1].rejectedId;
    assert.ok(rejectedId);
    const again = await call('POST', '/v1/batch', { key: WRITE_KEY, body: { batch: [{ type: 'track', userId: 'rej-1', messageId: 'rej-bad', properties: { a: 1 } }] } });
    assert.equal(again.body.results[0].rejectedId, rejectedId, 'a retried batch keeps the item once');
    const list = await call('GET', '/v1/rejected?userId=rej-1', { key: READ_KEY });
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.items.map((i: { id: string; reason: string }) => [i.id, i.reason]), [[rejectedId, 'event:invalid_type']]);
    assert.equal(list.body.items[0].issues[0].message, 'event is required');
    assert.equal(JSON.stringify(list.body).includes('"a":1'), false, 'the body is not listed');
    const refusedAgain = await call('POST', `/v1/rejected/${rejectedId}/replay`, { key: WRITE_KEY });
    assert.equal(refusedAgain.status, 422, 'still invalid: refused, and replayable later');
    assert.equal((await call('GET', '/v1/rejected?userId=rej-1', { key: READ_KEY })).body.items[0].replayedAt, null);
    assert.equal((await call('POST', `/v1/rejected/${rejectedId}/replay`, { key: READ_KEY })).status, 403);

    // After a fix it applies, once: a visitor's identify has no profile until the visitor is linked.
    const visitorBatch = await call('POST', '/v1/batch', { key: WRITE_KEY, body: { batch: [{ type: 'identify', anonymousId: 'vis-r', traits: { firstName: 'Rae' } }] } });
    assert.equal(visitorBatch.status, 200);
    const visitorItem = visitorBatch.body.results[0].rejectedId;
    assert.equal((await call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId: 'rej-1', anonymousId: 'vis-r', traits: {} } })).status, 200);
    const replayed = await call('POST', `/v1/rejected/${visitorItem}/replay`, { key: WRITE_KEY });
    assert.equal(replayed.status, 200, JSON.stringify(replayed.body));
    assert.equal(replayed.body.result.userId, 'rej-1');
    // The journey is being started by the identify's link: read once it answers (the API waits 3 s here).
    let answer: unknown;
    await waitFor('the replayed trait on the profile', async () => {
      const customer = await call('GET', '/v1/customers/rej-1', { key: READ_KEY });
      answer = { status: customer.status, body: customer.body };
      return customer.body?.profile?.firstName === 'Rae';
    }).catch((err: Error) => assert.fail(`${err.message}; the last answer: ${JSON.stringify(answer).slice(0, 2_000)}`));
    assert.equal((await call('POST', `/v1/rejected/${visitorItem}/replay`, { key: WRITE_KEY })).status, 409, 'once');

    // Erasure covers refused items and a visitor's history.
    const erased = await call('DELETE', '/v1/customers/rej-1', { key: ADMIN_KEY });
    assert.equal(erased.status, 200);
    assert.equal(erased.body.mongodb.rejectedCalls, 2);
    assert.deepEqual((await call('GET', '/v1/rejected?userId=rej-1', { key: READ_KEY })).body.items, []);
    const visitor = await call('DELETE', '/v1/customers/raw-dee', { key: ADMIN_KEY });
    assert.equal(visitor.body.mongodb.identityLinks, 1);
    assert.equal(visitor.body.anonymous[0].workflowId, 'anonymous-visitor-77');
    assert.ok(visitor.body.anonymous[0].runsDeleted >= 1, 'the visitor’s history is deleted from Temporal');
  });
});
