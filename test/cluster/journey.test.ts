import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { NUM_HISTORY_SHARDS } from '../../src/servers/cluster.js';
import { newRunInput } from '../../src/temporal/contract.js';
import { waitFor } from '../support/processes.js';
import { zoneInsideTheWindow } from '../support/zones.js';
import { ADMIN_KEY, READ_KEY, WRITE_KEY, skipCluster, startClusterStack, type ClusterStack } from './cluster-stack.js';

const CHROMIUM = '/usr/bin/chromium';
const DAILY_BRIEF = 'broadcast-coachinglive-daily_brief';

interface Journey {
  stage: string;
  stages: Array<{ stage: string; at: string }>;
  pending: unknown;
  messages: Array<{ key: string; campaignId: string; status: string }>;
  stats: { events: number; duplicates: number; runs: number };
}

/**
 * The CoachingLive journey on the production shape (PostgreSQL, Temporal's four services, FerretDB on
 * PostgreSQL, two workers, two APIs behind HAProxy), every call through the front address.
 */
describe('the journey on the cluster, through the front address', { skip: skipCluster }, () => {
  let stack: ClusterStack;
  const timezone = zoneInsideTheWindow();

  const journeyOf = async (userId: string): Promise<Journey | undefined> => {
    const res = await stack.call('GET', `/v1/customers/${userId}`, { key: READ_KEY });
    return res.status === 200 ? (res.body.journey as Journey | undefined) : undefined;
  };
  const track = async (userId: string, event: string, messageId: string) => {
    const res = await stack.call('POST', '/v1/track', { key: WRITE_KEY, body: { userId, event, messageId } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res;
  };
  const identify = async (userId: string, traits: Record<string, unknown>) => {
    const res = await stack.call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId, traits } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  };

  before(async () => {
    stack = await startClusterStack('journey');
  });
  after(async () => {
    await stack?.stop();
  });

  test('every process is its own, listed in processes.json; Temporal runs on PostgreSQL with several history shards', async () => {
    const file = JSON.parse(readFileSync(join(stack.cluster.dataDir, 'processes.json'), 'utf8')) as { processes: Array<{ name: string; pid: number; port: number }> };
    assert.deepEqual(file.processes.map((p) => p.name).sort(), [
      'api-1',
      'api-2',
      'ferretdb',
      'haproxy',
      'postgresql',
      'temporal-frontend',
      'temporal-history',
      'temporal-matching',
      'temporal-worker',
      'ui',
      'worker-1',
      'worker-2',
    ]);
    for (const p of file.processes) {
      assert.ok(p.pid > 0 && process.kill(p.pid, 0), `${p.name} runs`);
    }
    assert.equal(new Set(file.processes.map((p) => p.pid)).size, file.processes.length, 'separate processes');
    const info = await stack.client.connection.workflowService.getClusterInfo({});
    assert.equal(info.historyShardCount, NUM_HISTORY_SHARDS);
    assert.ok(NUM_HISTORY_SHARDS > 1);
    assert.equal(info.persistenceStore, 'postgres12');
    assert.equal(info.visibilityStore, 'postgres12');
    const attributes = await stack.client.connection.operatorService.listSearchAttributes({ namespace: stack.cluster.namespace });
    assert.deepEqual(
      Object.entries(attributes.customAttributes ?? {}).filter(([n]) => ['LifecycleStage', 'Plan', 'Segments'].includes(n)).map(([n, t]) => [n, t]).sort(),
      [
        ['LifecycleStage', 2],
        ['Plan', 2],
        ['Segments', 7],
      ],
      'Keyword, Keyword, KeywordList',
    );
    const ui = await fetch(stack.cluster.uiUrl.replace('localhost', '127.0.0.1'));
    assert.equal(ui.status, 200, 'the Web UI answers');
    const settings = (await (await fetch(`${stack.cluster.uiUrl.replace('localhost', '127.0.0.1')}/api/v1/settings`)).json()) as { Codec?: { Endpoint?: string; IncludeCredentials?: boolean } };
    assert.equal(settings.Codec?.Endpoint, `http://localhost:${stack.cluster.ports.front}/codec`);
    assert.equal(settings.Codec?.IncludeCredentials, true);
  });

  test('stages and messages, both APIs answering; the list by stage comes from visibility', async () => {
    const served = new Set<string>();
    for (const userId of ['ada-c', 'bo-c', 'cy-c']) {
      await identify(userId, { email: `${userId}@example.com`, firstName: userId, timezone });
      served.add((await track(userId, 'Signed Up', `${userId}-1`)).headers.get('x-served-by') ?? '?');
      if (userId !== 'cy-c') served.add((await track(userId, 'Trial Started', `${userId}-2`)).headers.get('x-served-by') ?? '?');
    }
    assert.deepEqual([...served].sort(), ['api1', 'api2'], 'HAProxy spreads the calls over both APIs');
    for (const userId of ['ada-c', 'bo-c']) {
      const j = await waitFor(`${userId} in trial`, async () => ((await journeyOf(userId))?.stage === 'trial' ? journeyOf(userId) : undefined), 60_000, 500);
      assert.deepEqual(j!.stages.map((s) => s.stage), ['prospect', 'trial']);
    }
    await stack.sendgrid.waitForMessages(3, 60_000);
    assert.deepEqual(stack.sendgrid.messages.filter((m) => m.customArgs.campaign_id === 'welcome').map((m) => m.customArgs.user_id).sort(), ['ada-c', 'bo-c', 'cy-c']);

    const listed = await waitFor(
      'visibility to list the trial customers',
      async () => {
        const res = await stack.call('GET', '/v1/customers?stage=trial&limit=10', { key: READ_KEY });
        const ids = (res.body.customers as Array<{ userId: string }> | undefined)?.map((c) => c.userId).sort();
        return ids?.length === 2 ? ids : undefined;
      },
      60_000,
      1_000,
    );
    assert.deepEqual(listed, ['ada-c', 'bo-c']);
    const prospects = await stack.call('GET', '/v1/customers?stage=prospect', { key: READ_KEY });
    assert.deepEqual((prospects.body.customers as Array<{ userId: string }>).map((c) => c.userId), ['cy-c']);
  });

  test('support Updates: extend a trial (200 with the journey after it), refused where it does not apply (422)', async () => {
    const before = (await stack.call('GET', '/v1/customers/ada-c', { key: READ_KEY })).body.journey as { stage: string; pending: Array<{ what: string; at: string }> };
    assert.equal(before.stage, 'trial');
    const end = Date.parse(before.pending.find((p) => p.what === 'trial ends')!.at);
    const extended = await stack.call('POST', '/v1/customers/ada-c/extend-trial', { key: ADMIN_KEY, body: { days: 7, reason: 'cluster test' } });
    assert.equal(extended.status, 200, JSON.stringify(extended.body));
    assert.equal(Date.parse(extended.body.pending.find((p: { what: string }) => p.what === 'trial ends').at), end + 7 * 86_400_000, 'the trial end moved by 7 days');
    assert.equal(extended.body.audit[0].reason, 'cluster test');
    const refused = await stack.call('POST', '/v1/customers/cy-c/extend-trial', { key: ADMIN_KEY, body: { days: 7 } });
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.equal((await stack.call('POST', '/v1/customers/ada-c/extend-trial', { key: READ_KEY, body: { days: 7 } })).status, 403);
  });

  test('continue-as-new: a journey that starts a new run every 5 inputs counts each of 30 events once', async () => {
    const userId = 'stream-c';
    await stack.client.workflow.start('customerJourney', {
      workflowId: `customer-${userId}`,
      taskQueue: stack.taskQueue,
      args: [newRunInput(userId, 'coachinglive', { maxInputsPerRun: 5 })],
    });
    for (let i = 0; i < 30; i++) {
      const res = await stack.call('POST', '/v1/track', { key: WRITE_KEY, body: { userId, event: 'Workout Completed', messageId: `${userId}-${i % 25}` } });
      assert.equal(res.status, 202, JSON.stringify(res.body));
    }
    const journey = await waitFor('every event applied', async () => {
      const j = await journeyOf(userId);
      return j && j.stats.events + j.stats.duplicates >= 30 ? j : undefined;
    }, 120_000, 1_000);
    assert.equal(journey.stats.events, 25, 'each distinct event once');
    assert.equal(journey.stats.duplicates, 5, 'each repeat refused');
    assert.ok(journey.stats.runs > 1, `continued as new (${journey.stats.runs} runs)`);
    // Visibility is written asynchronously (the history service's visibility queue, then PostgreSQL): it lags
    // under load, so compare with the journey's own count as it is at each look.
    let last = '';
    await waitFor('visibility to list every run', async () => {
      let n = 0;
      for await (const _ of stack.client.workflow.list({ query: `WorkflowId = "customer-${userId}"` })) n += 1;
      const runs = (await journeyOf(userId))?.stats.runs;
      last = `visibility lists ${n} runs, the journey counts ${runs}`;
      return n === runs;
    }, 180_000, 1_000).catch((err: Error) => {
      throw new Error(`${err.message} (${last})`);
    });
  });

  test('broadcasts on Schedules: the daily brief, triggered, reaches the prospect who asked for it, once', async () => {
    const schedule = stack.client.schedule.getHandle(DAILY_BRIEF);
    await waitFor('the workers to create the broadcast schedule', () => schedule.describe(), 60_000, 1_000);
    const nextFire = (await schedule.describe()).info.nextActionTimes[0]!.getTime();
    if (nextFire - Date.now() < 60_000) await new Promise((r) => setTimeout(r, Math.max(0, nextFire - Date.now()) + 5_000));
    await identify('cy-c', { dailyBrief: true });
    await waitFor('the read model to see the trait', async () => {
      const res = await stack.call('GET', '/v1/customers/cy-c', { key: READ_KEY });
      return res.body.profile?.traits?.dailyBrief === true || res.body.profile?.dailyBrief === true;
    }, 30_000, 500).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 2_000));
    const runsOf = async () => (await schedule.describe()).info.recentActions.map((a) => a.action.workflow);
    const earlier = new Set((await runsOf()).map((w) => w.firstExecutionRunId));
    await schedule.trigger();
    const run = await waitFor('the triggered broadcast run', async () => (await runsOf()).find((w) => !earlier.has(w.firstExecutionRunId)), 60_000, 500);
    const result = await stack.client.workflow.getHandle(run.workflowId, run.firstExecutionRunId).result();
    assert.deepEqual(result, { signalled: 1, withoutJourney: 0 }, 'the one prospect who reads the brief');
    await waitFor('the brief to cy-c', async () => stack.sendgrid.messages.some((m) => m.customArgs.campaign_id === 'daily_brief'), 60_000, 500);
    await new Promise((r) => setTimeout(r, 2_000));
    assert.deepEqual(stack.sendgrid.messages.filter((m) => m.customArgs.campaign_id === 'daily_brief').map((m) => m.customArgs.user_id), ['cy-c']);
  });

  test('the dashboard in Chromium: one sign-in holds whichever API answers; the codec sign-in too', { skip: process.env.LIFECYCLE_SKIP_BROWSER === '1' ? 'LIFECYCLE_SKIP_BROWSER=1' : false }, async () => {
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
      const context = await browser.newContext();
      const page = await context.newPage();
      const front = `http://localhost:${stack.cluster.ports.front}`;
      const servedBy: string[] = [];
      page.on('response', (r) => {
        if (r.url().startsWith(`${front}/dashboard`)) servedBy.push(r.headers()['x-served-by'] ?? '?');
      });
      await page.goto(`${front}/dashboard`);
      await page.fill('#key', READ_KEY);
      await Promise.all([page.waitForURL(`${front}/dashboard`), page.click('button[type="submit"]')]);
      for (let i = 0; i < 4; i++) {
        await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
        await page.reload();
      }
      await page.waitForSelector('body[data-state="ready"]', { timeout: 30_000 });
      assert.ok(servedBy.includes('api1') && servedBy.includes('api2'), `pages and data from both APIs: ${servedBy.join(', ')}`);

      // The same cookie, straight to each API: each accepts the session the other made.
      const [cookie] = await context.cookies();
      for (const port of stack.cluster.ports.api) {
        const res = await fetch(`http://127.0.0.1:${port}/dashboard/data`, { headers: { cookie: `${cookie!.name}=${cookie!.value}` } });
        assert.equal(res.status, 200, `API on ${port}`);
      }

      const signIn = await fetch(`http://127.0.0.1:${stack.cluster.ports.api[0]}/codec/sign-in`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ key: ADMIN_KEY }),
      });
      assert.equal(signIn.status, 303);
      const codecCookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
      const other = await fetch(`http://127.0.0.1:${stack.cluster.ports.api[1]}/codec/decode`, {
        method: 'POST',
        headers: { cookie: codecCookie, 'content-type': 'application/json' },
        body: JSON.stringify({ payloads: [] }),
      });
      assert.equal(other.status, 200, 'the codec sign-in made on one API decodes on the other');
    } finally {
      await browser?.close();
    }
  });
});
