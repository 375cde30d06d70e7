import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { chromium } from 'playwright-core';
import type { z } from 'zod';
import { API_OPERATIONS } from '../../src/api/openapi.js';
import { Customer, CustomerList, ErrorBody, IdentifyAccepted, JourneyView, Kpis, OutboxList, Readiness, TrackAccepted } from '../../src/api/response-schemas.js';
import { freePort } from '../../src/servers/local-servers.js';
import { TEST_PAYLOAD_KEYS } from '../support/codec.js';
import { sample } from '../support/prometheus.js';
import { runEntry, waitFor, type AppProcess } from '../support/processes.js';
import { apiCaller, startLocalServers, type LocalServers } from '../support/stack.js';

const WRITE_KEY = 'obs-writer-key-0123456789';
const READ_KEY = 'obs-reader-key-0123456789';
const SUPPORT_KEY = 'obs-support-key-012345678';
const METRICS_KEY = 'obs-metrics-key-012345678';
const SENDGRID_KEY = 'SG.obs-key';
const CHROMIUM = '/usr/bin/chromium';

type LogLine = Record<string, unknown> & { msg: string };
const jsonLines = (output: string): LogLine[] =>
  output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);

/**
 * What an operator sees of the running stack: the OpenAPI document and its rendered reference, the
 * API's and the worker's Prometheus metrics, and the logs, against the real Temporal dev server,
 * FerretDB, our worker and API as processes, and a SendGrid-compatible server.
 */
describe('observability of the whole stack', () => {
  let servers: LocalServers;
  let worker: AppProcess;
  let api: AppProcess;
  let base: string;
  let workerMetrics: string;
  const call = apiCaller(() => base);
  const scrape = async () => {
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_KEY}` } });
    assert.equal(res.status, 200);
    return res.text();
  };
  const scrapeWorker = async () => (await fetch(workerMetrics)).text();
  const parsed = <S extends z.ZodType>(schema: S, res: { status: number; body: unknown }, status: number): z.infer<S> => {
    assert.equal(res.status, status, JSON.stringify(res.body));
    return schema.parse(res.body);
  };

  before(async () => {
    servers = await startLocalServers('lifecycle-obs-', SENDGRID_KEY);
    const [apiPort, metricsPort] = [await freePort(), await freePort()];
    base = `http://127.0.0.1:${apiPort}`;
    workerMetrics = `http://127.0.0.1:${metricsPort}/metrics`;
    const env = {
      TEMPORAL_ADDRESS: servers.temporal.address,
      MONGODB_URI: servers.ferret.uri('lifecycle_obs'),
      TASK_QUEUE: 'lifecycle-obs',
      API_PORT: String(apiPort),
      API_KEYS: `${WRITE_KEY}=events:write,${READ_KEY}=customers:read,${SUPPORT_KEY}=customers:write,${METRICS_KEY}=metrics:read`,
      SENDGRID_API_KEY: SENDGRID_KEY,
      SENDGRID_BASE_URL: servers.sendgrid.url,
      UPSTREAM_TIMEOUT_MS: '3000',
      LOG_LEVEL: 'info',
      WORKER_METRICS_PORT: String(metricsPort),
    };
    worker = runEntry('src/worker/main.ts', env);
    api = runEntry('src/api/main.ts', env);
    await waitFor('the API to be ready and the worker to serve metrics', async () => (await call('GET', '/readyz')).status === 200 && (await fetch(workerMetrics)).ok, 60_000).catch(
      (err) => {
        throw new Error(`${(err as Error).message}\nAPI output:\n${api.output()}\nworker output:\n${worker.output()}`);
      },
    );
  });

  after(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
    await servers?.stop();
  });

  test('/openapi.json is public, OpenAPI 3.1 and valid', async () => {
    const res = await fetch(`${base}/openapi.json`);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, object> };
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(await new Validator().validate(doc as never), { valid: true });
    assert.equal(Object.values(doc.paths).flatMap((p) => Object.keys(p)).length, API_OPERATIONS.length);
  });

  test('/docs serves the reference page under a strict policy; every script and style it names loads', async () => {
    const res = await fetch(`${base}/docs`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/html/);
    const csp = res.headers.get('content-security-policy')!;
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-eval/);
    const html = await res.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    assert.deepEqual(assets, ['/docs/favicon-32x32.png', '/docs/swagger-ui.css', '/docs/swagger-ui-bundle.js', '/docs/api-reference.js']);
    for (const asset of assets) {
      const got = await fetch(`${base}${asset}`);
      assert.equal(got.status, 200, asset);
      const type = got.headers.get('content-type')!;
      if (asset.endsWith('.js')) assert.match(type, /javascript/, asset);
      if (asset.endsWith('.css')) assert.match(type, /text\/css/, asset);
      assert.ok((await got.arrayBuffer()).byteLength > 0, asset);
    }
    assert.match(await (await fetch(`${base}/docs/api-reference.js`)).text(), /url: '\/openapi\.json'/);
  });

  test('in a browser, the reference renders every operation with no policy violation or script error', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(`${base}/docs`);
      await page.locator('.opblock').nth(API_OPERATIONS.length - 1).waitFor({ timeout: 30_000 });
      assert.equal(await page.locator('.opblock').count(), API_OPERATIONS.length);
      assert.equal(await page.locator('.info .title').first().textContent().then((t) => t?.startsWith('Lifecycle orchestrator API')), true);
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
    }
  });

  test('/metrics needs a key with metrics:read, and counts a request just made under its route pattern', async () => {
    assert.equal((await call('GET', '/metrics')).status, 401);
    assert.equal((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${WRITE_KEY}` } })).status, 403);
    const labels = { method: 'GET', route: '/v1/customers/:userId', status: '404' };
    const before = sample(await scrape(), 'http_requests_total', labels) ?? 0;
    parsed(ErrorBody, await call('GET', '/v1/customers/nobody-obs', { key: READ_KEY }), 404);
    const text = await scrape();
    assert.equal(sample(text, 'http_requests_total', labels), before + 1);
    assert.ok(!text.includes('nobody-obs'), 'no customer id in a label');
    assert.ok(sample(text, 'process_cpu_user_seconds_total')! > 0);
  });

  test('an accepted and a rejected track move the event counters by exactly 1 each; answers match the document', async () => {
    parsed(Readiness, await call('GET', '/readyz'), 200);
    parsed(IdentifyAccepted, await call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId: 'obs-ada', traits: { email: 'obs-ada@example.com', firstName: 'Ada', name: 'Ada Lovelace' } } }), 200);
    const before = await scrape();
    parsed(TrackAccepted, await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId: 'obs-ada', event: 'Signed Up', messageId: 'obs-ada-1' } }), 202);
    // A track without its event name is refused (a missing messageId no longer is: Segment clients may leave it out).
    const refused = parsed(ErrorBody, await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId: 'obs-ada', messageId: 'obs-ada-2' } }), 400);
    assert.deepEqual(refused.error.issues?.map((i) => i.path), ['event']);
    const afterText = await scrape();
    const delta = (name: string, labels: Record<string, string>) => (sample(afterText, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    assert.equal(delta('lifecycle_events_accepted_total', { type: 'track' }), 1);
    assert.equal(delta('lifecycle_events_rejected_total', { type: 'track', reason: 'invalid' }), 1);
    assert.equal(delta('lifecycle_events_accepted_total', { type: 'identify' }), 0);
  });

  test('deliveries: the worker counts each by outcome, next to the Temporal SDK’s own metrics; the API reads them from MongoDB', async () => {
    await servers.sendgrid.waitForMessages(1);
    const sent = await waitFor('the worker to count the welcome', async () => {
      const text = await scrapeWorker();
      return sample(text, 'lifecycle_deliveries_total', { outcome: 'sent', kind: 'transactional' }) !== undefined ? text : undefined;
    });
    assert.equal(sample(sent, 'lifecycle_deliveries_total', { outcome: 'sent', kind: 'transactional' }), 1);

    // A provider outage, then the retry that delivers; then a provider refusal.
    servers.sendgrid.injectFaults([{ status: 503 }]);
    await call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId: 'obs-bo', traits: { email: 'obs-bo@example.com' } } });
    await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId: 'obs-bo', event: 'Signed Up', messageId: 'obs-bo-1' } });
    await servers.sendgrid.waitForMessages(2, 30_000);
    servers.sendgrid.injectFaults([{ status: 400, message: 'The to address is not valid.' }]);
    await call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId: 'obs-cy', traits: { email: 'obs-cy@example.com' } } });
    await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId: 'obs-cy', event: 'Signed Up', messageId: 'obs-cy-1' } });
    const text = await waitFor('the worker to count the refusal', async () => {
      const t = await scrapeWorker();
      return sample(t, 'lifecycle_deliveries_total', { outcome: 'rejected', kind: 'transactional' }) !== undefined ? t : undefined;
    });
    assert.equal(sample(text, 'lifecycle_deliveries_total', { outcome: 'sent', kind: 'transactional' }), 2);
    assert.equal(sample(text, 'lifecycle_deliveries_total', { outcome: 'retried', kind: 'transactional' }), 1);
    assert.equal(sample(text, 'lifecycle_deliveries_total', { outcome: 'rejected', kind: 'transactional' }), 1);
    assert.equal(sample(text, 'lifecycle_delivery_duration_seconds_count', { outcome: 'sent' }), 2);
    assert.ok((sample(text, 'temporal_activity_execution_latency_count', { activity_type: 'deliverMessage' }) ?? 0) >= 4, 'the SDK timed every attempt');
    assert.match(text, /^temporal_worker_task_slots_available\{/m);
    assert.match(text, /^nodejs_heap_size_used_bytes /m);

    const recorded = await scrape();
    assert.equal(sample(recorded, 'lifecycle_delivery_records', { status: 'sent', kind: 'transactional' }), 2);
    assert.equal(sample(recorded, 'lifecycle_delivery_records', { status: 'failed', kind: 'transactional' }), 1);
  });

  test('the read and support answers match the document', async () => {
    const customer = parsed(Customer, await call('GET', '/v1/customers/obs-ada', { key: READ_KEY }), 200);
    assert.equal(customer.journey?.source, 'workflow');
    parsed(CustomerList, await call('GET', '/v1/customers?stage=prospect', { key: READ_KEY }), 200);
    parsed(OutboxList, await call('GET', '/v1/outbox?limit=5', { key: READ_KEY }), 200);
    parsed(Kpis, await call('GET', '/v1/kpis', { key: READ_KEY }), 200);
    const paused = parsed(JourneyView, await call('POST', '/v1/customers/obs-ada/pause-marketing', { key: SUPPORT_KEY, body: { reason: 'asked' } }), 200);
    assert.equal(paused.marketing, 'paused');
    parsed(ErrorBody, await call('POST', '/v1/customers/obs-ada/extend-trial', { key: SUPPORT_KEY, body: { days: 3 } }), 422);
  });

  test('API log lines carry the request id, customer and journey; worker lines the workflow, run, activity and customer; no personal data', async () => {
    const requestId = 'obs-request-0001';
    const res = await fetch(`${base}/v1/track`, {
      method: 'POST',
      headers: { authorization: `Bearer ${WRITE_KEY}`, 'content-type': 'application/json', 'x-request-id': requestId },
      body: JSON.stringify({ userId: 'obs-ada', event: 'App Opened', messageId: 'obs-ada-2' }),
    });
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('x-request-id'), requestId);
    const line = await waitFor('the request line', async () => jsonLines(api.output()).find((l) => l.requestId === requestId));
    assert.equal(line.msg, 'request completed');
    assert.equal(line.userId, 'obs-ada');
    assert.equal(line.workflowId, 'customer-obs-ada');

    const delivered = jsonLines(worker.output()).find((l) => l.msg === 'message delivered' && l.userId === 'obs-ada');
    assert.ok(delivered, 'the worker logged the delivery');
    assert.equal(delivered.workflowId, 'customer-obs-ada');
    assert.match(String(delivered.runId), /^[0-9a-f-]{36}$/);
    assert.equal(delivered.activityType, 'deliverMessage');
    assert.equal(delivered.deliveryKey, 'customer-obs-ada/welcome/1');
    const sdk = jsonLines(worker.output()).filter((l) => l.sdkComponent !== undefined);
    assert.ok(sdk.some((l) => l.sdkComponent === 'worker'), 'the Temporal SDK logs through pino');
    const failed = jsonLines(worker.output()).find((l) => l.msg === 'delivery rejected by the provider');
    assert.equal(failed?.userId, 'obs-cy');
    assert.equal(failed?.activityType, 'deliverMessage');

    for (const [name, output] of [
      ['API', api.output()],
      ['worker', worker.output()],
    ] as const) {
      const payloadKey = TEST_PAYLOAD_KEYS.slice(TEST_PAYLOAD_KEYS.indexOf(':') + 1);
      for (const secret of ['obs-ada@example.com', 'obs-bo@example.com', 'Ada Lovelace', WRITE_KEY, READ_KEY, METRICS_KEY, SENDGRID_KEY, payloadKey]) {
        assert.ok(!output.includes(secret), `${name} logs hold ${secret}`);
      }
    }
  });
});
