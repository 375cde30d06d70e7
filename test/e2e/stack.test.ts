import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { freePort, startFerretDb, type RunningServer } from '../../src/servers/local-servers.js';
import { runEntry, waitFor, type AppProcess } from '../support/processes.js';
import { apiCaller, startLocalServers, type LocalServers } from '../support/stack.js';
import type { SendgridServer } from '../support/sendgrid-server.js';

const WRITE_KEY = 'e2e-writer-key-0123456789';
const READ_KEY = 'e2e-reader-key-0123456789';
const ADMIN_KEY = 'e2e-admin-key-01234567890';
const SENDGRID_KEY = 'SG.e2e-key';

/**
 * The whole stack as a user runs it: the real Temporal dev server (SQLite), FerretDB, our worker and API
 * as their own processes, and a SendGrid-compatible server that the real client delivers to.
 */
describe('the whole stack through HTTP', () => {
  let servers: LocalServers;
  let dataDir: string;
  let temporal: RunningServer & { uiUrl: string };
  let ferret: RunningServer & { uri: (db: string) => string };
  let sendgrid: SendgridServer;
  let worker: AppProcess;
  let api: AppProcess;
  let base: string;
  let client: Client;
  let env: Record<string, string>;

  const call = apiCaller(() => base);

  before(async () => {
    servers = await startLocalServers('lifecycle-e2e-', SENDGRID_KEY);
    ({ dataDir, temporal, ferret, sendgrid } = servers);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = {
      TEMPORAL_ADDRESS: temporal.address,
      MONGODB_URI: ferret.uri('lifecycle_e2e'),
      TASK_QUEUE: 'lifecycle-e2e',
      API_PORT: String(port),
      API_KEYS: `${WRITE_KEY}=events:write,${READ_KEY}=customers:read,${ADMIN_KEY}=events:write|customers:read|customers:write`,
      SENDGRID_API_KEY: SENDGRID_KEY,
      SENDGRID_BASE_URL: sendgrid.url,
      UPSTREAM_TIMEOUT_MS: '3000',
    };
    worker = runEntry('src/worker/main.ts', env);
    api = runEntry('src/api/main.ts', env);
    await waitFor('the API to be ready', async () => (await call('GET', '/readyz')).status === 200, 60_000).catch((err) => {
      throw new Error(`${(err as Error).message}\nAPI output:\n${api.output()}\nworker output:\n${worker.output()}`);
    });
    client = new Client({ connection: await Connection.connect({ address: temporal.address }) });
  });

  after(async () => {
    await client?.connection.close();
    await Promise.all([api?.stop(), worker?.stop()]);
    await servers?.stop();
  });

  test('keys and scopes: no key is 401, a key without the scope is 403', async () => {
    assert.equal((await call('POST', '/v1/track', { body: {} })).status, 401);
    assert.equal((await call('POST', '/v1/track', { key: 'not-a-key-at-all-0000', body: {} })).status, 401);
    assert.equal((await call('POST', '/v1/track', { key: READ_KEY, body: {} })).status, 403);
    assert.equal((await call('GET', '/v1/customers/nobody', { key: WRITE_KEY })).status, 403);
    assert.equal((await call('GET', '/healthz')).status, 200);
  });

  test('bad input is refused with every problem listed, and nothing is written', async () => {
    const res = await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId: 'bad-1', event: '', properties: { $where: 1 }, bogus: true } });
    assert.equal(res.status, 400);
    const paths = res.body.error.issues.map((i: { path: string }) => i.path).sort();
    // An unknown field is a warning, never a problem; a missing messageId is derived (Segment spec).
    assert.deepEqual(paths, ['event', 'properties'].sort());
    const malformed = await call('POST', '/v1/identify', { key: WRITE_KEY, raw: '{"userId": "bad-1", ' });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.error.code, 'malformed_json');
    const badTraits = await call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId: 'bad-1', traits: { email: 'nope', timezone: 'Mars/Olympus' } } });
    assert.equal(badTraits.status, 400);
    assert.equal(badTraits.body.error.issues.length, 2);
    assert.equal((await call('GET', '/v1/customers/bad-1', { key: READ_KEY })).status, 404, 'no profile, no journey');
  });

  test('an event starts the journey; the stage reads back through the API and visibility; the email arrives once', async () => {
    const userId = 'ada-e2e';
    const identify = await call('POST', '/v1/identify', {
      key: WRITE_KEY,
      body: { userId, traits: { email: 'ada@example.com', firstName: 'Ada', locale: 'en-GB', timezone: 'Europe/London', goal: 'strength' } },
    });
    assert.equal(identify.status, 200);
    assert.equal(identify.body.journey, 'not started');

    for (const [event, messageId] of [
      ['Signed Up', 'ada-1'],
      ['Trial Started', 'ada-2'],
      ['Trial Started', 'ada-2'],
    ] as const) {
      const res = await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId, event, messageId, properties: { source: 'e2e' } } });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal(res.body.workflowId, `customer-${userId}`);
    }

    const customer = await waitFor('the journey to reach trial', async () => {
      const res = await call('GET', `/v1/customers/${userId}`, { key: READ_KEY });
      return res.status === 200 && res.body.journey?.stage === 'trial' && res.body.journey.messages[0]?.status === 'sent' ? res.body : undefined;
    });
    assert.equal(customer.profile.email, 'ada@example.com');
    assert.equal(customer.profile.traits.goal, 'strength');
    assert.deepEqual(customer.journey.stages.map((s: { stage: string }) => s.stage), ['prospect', 'trial']);
    assert.equal(customer.journey.stats.events, 2);
    assert.equal(customer.journey.stats.duplicates, 1, 'the repeated messageId was applied once');
    const trialEnds = customer.journey.pending.find((p: { what: string }) => p.what === 'trial ends');
    const entered = Date.parse(customer.journey.stages[1].at);
    assert.equal(Date.parse(trialEnds.at) - entered, 30 * 86_400_000);
    assert.match(customer.links.temporalUi, /customer-ada-e2e/);

    const listed = await waitFor('visibility to list the customer in trial', async () => {
      const ids: string[] = [];
      for await (const wf of client.workflow.list({ query: `LifecycleStage = "trial" AND WorkflowId = "customer-${userId}"` })) ids.push(wf.workflowId);
      return ids.length === 1 ? ids : undefined;
    });
    assert.deepEqual(listed, [`customer-${userId}`]);

    const [welcome] = await sendgrid.waitForMessages(1);
    assert.equal(welcome!.to, 'ada@example.com');
    assert.equal(welcome!.customArgs.delivery_key, `customer-${userId}/welcome/1`);
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(sendgrid.messages.filter((m) => m.customArgs.user_id === userId).length, 1, 'exactly one email');
  });

  test('a subscription sets the plan, visible in visibility as Plan', async () => {
    const userId = 'bo-e2e';
    await call('POST', '/v1/track', { key: ADMIN_KEY, body: { userId, event: 'Trial Started', messageId: 'bo-1' } });
    await call('POST', '/v1/track', { key: ADMIN_KEY, body: { userId, event: 'Subscription Started', messageId: 'bo-2', properties: { plan: 'full' } } });
    const listed = await waitFor('Plan="full" in visibility', async () => {
      const ids: string[] = [];
      for await (const wf of client.workflow.list({ query: `Plan = "full" AND LifecycleStage = "subscriber"` })) ids.push(wf.workflowId);
      return ids.includes(`customer-${userId}`) ? ids : undefined;
    });
    assert.ok(listed.includes(`customer-${userId}`));
    const res = await call('GET', `/v1/customers/${userId}`, { key: ADMIN_KEY });
    assert.equal(res.body.profile, null, 'no identify yet');
    assert.equal(res.body.journey.plan, 'full');
  });

  test('a batch applies each item on its own and says which were refused', async () => {
    const res = await call('POST', '/v1/batch', {
      key: WRITE_KEY,
      body: {
        batch: [
          { type: 'identify', userId: 'cy-e2e', traits: { email: 'cy@example.com' } },
          { type: 'track', userId: 'cy-e2e', event: 'Signed Up', messageId: 'cy-1' },
          { type: 'track', userId: 'cy-e2e', messageId: 'cy-2' },
          { type: 'screen', name: 'Home' },
        ],
      },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.results.map((r: { status: string }) => r.status),
      ['accepted', 'accepted', 'rejected', 'rejected'],
    );
    assert.equal(res.body.accepted, 2);
    const tooMany = await call('POST', '/v1/batch', { key: WRITE_KEY, body: { batch: Array.from({ length: 501 }, () => ({})) } });
    assert.equal(tooMany.status, 400);
    await sendgrid.waitForMessages(2);
  });

  test('an event that arrives before the profile: the welcome waits for identify, then goes once', async () => {
    const userId = 'fay-e2e';
    assert.equal((await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId, event: 'Signed Up', messageId: 'fay-1' } })).status, 202);
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal((await call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId, traits: { email: 'fay@example.com', firstName: 'Fay' } } })).status, 200);
    const sent = await waitFor('the welcome to fay', async () => sendgrid.messages.find((m) => m.customArgs.user_id === userId), 30_000);
    assert.equal(sent.subject, 'Welcome to CoachingLive, Fay!');
    const journey = (await call('GET', `/v1/customers/${userId}`, { key: READ_KEY })).body.journey;
    assert.equal(journey.messages[0].status, 'sent');
  });

  test('support lists customers by stage and plan through visibility, a page at a time', async () => {
    const subscribers = await waitFor('bo in the list of full-plan subscribers', async () => {
      const res = await call('GET', '/v1/customers?stage=subscriber&plan=full', { key: READ_KEY });
      return res.body.customers?.some((c: { userId: string }) => c.userId === 'bo-e2e') ? res.body : undefined;
    });
    assert.deepEqual(subscribers.customers.map((c: { userId: string; plan: string }) => [c.userId, c.plan]), [['bo-e2e', 'full']]);
    const prospects = await waitFor('two prospects listed', async () => {
      const first = await call('GET', '/v1/customers?stage=prospect&limit=1', { key: READ_KEY });
      if (first.body.customers?.length !== 1 || !first.body.nextCursor) return undefined;
      const second = await call('GET', `/v1/customers?stage=prospect&limit=1&cursor=${first.body.nextCursor}`, { key: READ_KEY });
      return second.body.customers?.length === 1 ? [first.body.customers[0].userId, second.body.customers[0].userId] : undefined;
    });
    assert.deepEqual([...prospects].sort(), ['cy-e2e', 'fay-e2e']);
    const bad = await call('GET', '/v1/customers?stage=trial%22%20OR%20true', { key: READ_KEY });
    assert.equal(bad.status, 400, 'no visibility-query injection');
    assert.equal((await call('GET', '/v1/customers?stage=trial', { key: WRITE_KEY })).status, 403);
  });

  test('support actions over HTTP: extend a trial, refuse what does not apply, correct a time zone', async () => {
    const before = (await call('GET', '/v1/customers/ada-e2e', { key: READ_KEY })).body.journey;
    const end = Date.parse(before.pending.find((p: { what: string }) => p.what === 'trial ends').at);
    assert.equal((await call('POST', '/v1/customers/ada-e2e/extend-trial', { key: READ_KEY, body: { days: 7 } })).status, 403);
    assert.equal((await call('POST', '/v1/customers/ada-e2e/extend-trial', { key: ADMIN_KEY, body: { days: 0 } })).status, 400);
    const extended = await call('POST', '/v1/customers/ada-e2e/extend-trial', { key: ADMIN_KEY, body: { days: 7, reason: 'support ticket 42' } });
    assert.equal(extended.status, 200, JSON.stringify(extended.body));
    assert.equal(Date.parse(extended.body.pending.find((p: { what: string }) => p.what === 'trial ends').at), end + 7 * 86_400_000);
    assert.equal(extended.body.audit[0].reason, 'support ticket 42');
    assert.match(extended.body.audit[0].actor, /^api-key:/);
    const refused = await call('POST', '/v1/customers/bo-e2e/extend-trial', { key: ADMIN_KEY, body: { days: 7 } });
    assert.equal(refused.status, 422);
    assert.match(refused.body.error.message, /not running/);
    assert.equal((await call('POST', '/v1/customers/nobody-e2e/pause-marketing', { key: ADMIN_KEY })).status, 404);
    const corrected = await call('PATCH', '/v1/customers/ada-e2e/profile', { key: ADMIN_KEY, body: { timezone: 'America/Chicago' } });
    assert.equal(corrected.status, 200);
    assert.equal((await call('GET', '/v1/customers/ada-e2e', { key: READ_KEY })).body.profile.timezone, 'America/Chicago');
  });

  test('the lifecycle command line shows, lists and acts through the API', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const run = (...args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/support-cli.ts', ...args], {
        env: { ...process.env, LIFECYCLE_API_URL: base, LIFECYCLE_API_KEY: ADMIN_KEY },
      });
    const shown = JSON.parse((await run('--json', 'customer', 'show', 'ada-e2e')).stdout);
    assert.equal(shown.journey.stage, 'trial');
    const table = (await run('customer', 'show', 'ada-e2e')).stdout;
    assert.match(table, /^Customer ada-e2e <ada@example.com>/);
    assert.match(table, /STAGE\s+AT\s+WHY/);
    const listed = (await run('customer', 'list', '--stage', 'subscriber')).stdout;
    assert.match(listed, /bo-e2e\s+subscriber\s+full/);
    await assert.rejects(run('customer', 'extend-trial', 'bo-e2e', '--days', '3'), (err: { stderr: string }) => /422: .*not running/.test(err.stderr));
    await assert.rejects(run('customer', 'extend-trial', 'ada-e2e', '--days', 'zero'), (err: { stderr: string }) => /whole number of days/.test(err.stderr));
  });

  test('a closed journey still tells its story: replayed by a worker, or from the read model when none runs', async () => {
    const userId = 'cy-e2e';
    await call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId, traits: { email: 'cy@example.com', timezone: 'Europe/London' } } });
    for (const [event, messageId] of [
      ['Signed Up', 'cy-1'],
      ['Trial Started', 'cy-2'],
    ] as const) {
      assert.equal((await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId, event, messageId } })).status, 202);
    }
    const handle = client.workflow.getHandle(`customer-${userId}`);
    await waitFor('the welcome to be sent and recorded', async () => {
      const res = await call('GET', `/v1/customers/${userId}`, { key: READ_KEY });
      if (res.body.journey?.messages?.[0]?.status !== 'sent') return false;
      return (await handle.describe()).raw.pendingActivities?.length === 0;
    });
    await handle.terminate('e2e: the customer left');

    const replayed = await call('GET', `/v1/customers/${userId}`, { key: READ_KEY });
    assert.equal(replayed.status, 200);
    assert.equal(replayed.body.journey.source, 'workflow');
    assert.equal(replayed.body.journey.status, 'TERMINATED');
    assert.equal(replayed.body.journey.stage, 'trial');

    await worker.stop();
    try {
      const recorded = await call('GET', `/v1/customers/${userId}`, { key: READ_KEY });
      assert.equal(recorded.status, 200);
      const { journey, timeline } = recorded.body;
      assert.equal(journey.source, 'read-model');
      assert.equal(journey.status, 'TERMINATED');
      assert.equal(journey.stage, 'trial');
      assert.deepEqual(journey.stages.map((s: { from: string | null; stage: string }) => [s.from, s.stage]), [[null, 'prospect'], ['prospect', 'trial']]);
      const keysWith = (status: string) => journey.messages.filter((m: { status: string }) => m.status === status).map((m: { key: string }) => m.key);
      assert.deepEqual(keysWith('sent'), [`customer-${userId}/welcome/1`]);
      assert.deepEqual(keysWith('cancelled'), [1, 2, 3].map((n) => `customer-${userId}/prospect_nudge/${n}`), 'the trial ended the nudge series');
      const stageLines = timeline.filter((t: { kind: string }) => t.kind === 'stage').map((t: { text: string }) => t.text);
      assert.deepEqual(stageLines, ['entered prospect: journey started', 'prospect -> trial because of event "Trial Started" (cy-2)']);
      assert.equal(timeline.filter((t: { kind: string }) => t.kind === 'message').length, 4);
      const stagesOf = (t: Array<{ kind: string; at: string; text: string }>) => t.filter((e) => e.kind === 'stage').map((e) => [e.at, e.text]);
      assert.deepEqual(stagesOf(timeline), stagesOf(replayed.body.timeline), 'the read model tells the stages as the workflow did');
    } finally {
      worker = runEntry('src/worker/main.ts', env);
    }
  });

  test('with MongoDB down, identify answers 503 with Retry-After (never 500), and the outage heals', async () => {
    await ferret.stop();
    try {
      const res = await call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId: 'dee-e2e', traits: { email: 'dee@example.com' } } });
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.ok(Number(res.headers.get('retry-after')) > 0);
      assert.equal(res.body.error.upstream, 'mongodb');
      assert.equal((await call('GET', '/readyz')).status, 503);
    } finally {
      ferret = servers.ferret = await startFerretDb({ dataDir: join(dataDir, 'ferretdb'), port: Number(ferret.address.split(':')[1]) });
    }
    await waitFor('identify to work again', async () => (await call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId: 'dee-e2e', traits: { email: 'dee@example.com' } } })).status === 200, 30_000);
  });

  test('with Temporal down, track answers 503 with Retry-After and is not acknowledged', async () => {
    const port = await freePort();
    const apiPort = await freePort();
    const lonely = runEntry('src/api/main.ts', {
      TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
      MONGODB_URI: ferret.uri('lifecycle_e2e'),
      API_PORT: String(apiPort),
      API_KEYS: `${WRITE_KEY}=events:write`,
      UPSTREAM_TIMEOUT_MS: '1500',
    });
    try {
      const url = `http://127.0.0.1:${apiPort}`;
      await waitFor('the second API', async () => (await fetch(`${url}/healthz`)).ok);
      const res = await fetch(`${url}/v1/track`, {
        method: 'POST',
        headers: { authorization: `Bearer ${WRITE_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'eve-e2e', event: 'Signed Up', messageId: 'eve-1' }),
      });
      assert.equal(res.status, 503);
      assert.ok(Number(res.headers.get('retry-after')) > 0);
      assert.equal(((await res.json()) as { error: { upstream: string } }).error.upstream, 'temporal');
    } finally {
      await lonely.stop();
    }
  });
});
