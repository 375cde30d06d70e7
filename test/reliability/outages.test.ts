import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '../support/processes.js';
import { FULL, KEY, inParallel, journeyOf, sleep, startFaultStack, type FaultStack } from './fault-stack.js';

/** The trial of this suite's journey: short, so its timer comes due while Temporal is down. */
const TRIAL_MS = 15_000;
const RESTARTS = FULL ? 4 : 1;
const LOAD_CUSTOMERS = FULL ? 40 : 10;

/**
 * Temporal and MongoDB stopped and started again under load. While one is down the API answers 503 with
 * Retry-After (never 500, never a 202 for what it could not store); afterwards everything acknowledged is
 * there, retried events are applied once, and timers that came due during the outage fire.
 */
describe('Temporal and MongoDB outages under load', () => {
  let stack: FaultStack;

  before(async () => {
    stack = await startFaultStack('outages', { trial: `${TRIAL_MS / 1000} seconds`, env: { UPSTREAM_TIMEOUT_MS: '3000' } });
  });
  after(async () => {
    await stack?.stop();
  });

  test(`Temporal stopped and restarted ${RESTARTS} time(s) mid-load on the same SQLite file`, async (t) => {
    const users = Array.from({ length: LOAD_CUSTOMERS }, (_, i) => `load-${i}`);
    const sent = new Map<string, Set<string>>(users.map((u) => [u, new Set()]));
    const refused: Array<{ userId: string; messageId: string }> = [];
    const statuses = new Map<number, number>();
    let badRetryAfter = 0;
    let seq = 0;
    let loading = true;
    const track = async (userId: string, messageId: string) => {
      const res = await stack.call('POST', '/v1/track', { key: KEY, body: { userId, event: 'Workout Completed', messageId } });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 503 && !(Number(res.headers.get('retry-after')) > 0)) badRetryAfter += 1;
      return res.status;
    };
    const load = (async () => {
      while (loading) {
        await inParallel(users, 4, async (userId) => {
          const messageId = `${userId}-${++seq}`;
          sent.get(userId)!.add(messageId);
          const status = await track(userId, messageId);
          if (status !== 202) refused.push({ userId, messageId });
        });
      }
    })();

    const timerUsers: Array<{ userId: string; stoppedAt: number; restartedAt: number }> = [];
    for (let round = 0; round < RESTARTS; round++) {
      // A customer whose trial ends while the server is down.
      const userId = `timer-${round}`;
      assert.equal((await stack.call('POST', '/v1/track', { key: KEY, body: { userId, event: 'Trial Started', messageId: `${userId}-1` } })).status, 202);
      const inTrial = await waitFor(`${userId} in trial`, async () => {
        const j = await journeyOf(stack, userId);
        return j && j.stage !== 'prospect' ? j : undefined;
      }, 60_000);
      const stoppedAt = Date.now();
      assert.equal(inTrial.stage, 'trial', `${userId}'s trial must still run when the server stops (raise TRIAL_MS on a slower machine)`);
      await stack.stopTemporal(round % 2 === 0 ? 'SIGKILL' : 'SIGTERM');
      const down = await stack.call('POST', '/v1/track', { key: KEY, body: { userId: 'probe', event: 'Workout Completed', messageId: `probe-${round}` } });
      assert.equal(down.status, 503, JSON.stringify(down.body));
      assert.equal(down.body.error.upstream, 'temporal');
      assert.ok(Number(down.headers.get('retry-after')) > 0);
      await sleep(Math.max(3_000, Date.parse(inTrial.stages.at(-1)!.at) + TRIAL_MS + 1_000 - Date.now()));
      const restartedAt = Date.now();
      await stack.startTemporal();
      timerUsers.push({ userId, stoppedAt, restartedAt });
      await waitFor('the API to reach Temporal again', async () => (await track('probe', `probe-up-${round}`)) === 202, 60_000, 500);
      await sleep(2_000);
    }
    loading = false;
    await load;

    // What a backend does with a 503: send it again later. Each event then counts once, however many tries it took.
    for (const { userId, messageId } of refused) {
      await waitFor(`${messageId} accepted on retry`, async () => (await track(userId, messageId)) === 202, 60_000, 500);
    }
    assert.deepEqual([...statuses.keys()].filter((s) => s !== 202 && s !== 503), [], `only 202 and 503: ${JSON.stringify([...statuses])}`);
    assert.equal(badRetryAfter, 0, 'every 503 carries Retry-After');
    assert.ok((statuses.get(503) ?? 0) > 0, 'the load met the outage');

    const counts = await waitFor(
      'every event in its journey',
      async () => {
        const journeys = await inParallel(users, 4, (u) => journeyOf(stack, u));
        return journeys.every((j, i) => j?.stats.events === sent.get(users[i]!)!.size) ? journeys : undefined;
      },
      120_000,
      1_000,
    ).catch(async (err) => {
      const journeys = await inParallel(users, 4, (u) => journeyOf(stack, u));
      throw new Error(`${(err as Error).message}: ${JSON.stringify(users.map((u, i) => [u, sent.get(u)!.size, journeys[i]?.stats.events]))}`);
    });
    const totalSent = users.reduce((n, u) => n + sent.get(u)!.size, 0);
    t.diagnostic(
      `restarts: ${RESTARTS}, events: ${totalSent} distinct (${statuses.get(202) ?? 0} answered 202, ${statuses.get(503) ?? 0} answered 503, all re-sent until 202), ` +
        `applied twice: 0, duplicates refused: ${counts.reduce((n, j) => n + (j?.stats.duplicates ?? 0), 0)}`,
    );

    for (const { userId, stoppedAt, restartedAt } of timerUsers) {
      const journey = await waitFor(`${userId} churned by its timer`, async () => {
        const j = await journeyOf(stack, userId);
        return j?.stage === 'churned' ? j : undefined;
      }, 60_000);
      const trialAt = Date.parse(journey.stages.find((s) => s.stage === 'trial')!.at);
      const churnedAt = Date.parse(journey.stages.find((s) => s.stage === 'churned')!.at);
      assert.ok(trialAt + TRIAL_MS > stoppedAt && trialAt + TRIAL_MS < restartedAt, `${userId}'s timer came due while the server was down`);
      assert.equal(churnedAt, trialAt + TRIAL_MS, 'the journey dates the change at the timer\'s due time');
      const history = await stack.client.workflow.getHandle(`customer-${userId}`).fetchHistory();
      const fired = history.events?.filter((e) => e.timerFiredEventAttributes) ?? [];
      assert.equal(fired.length, 1);
      const firedAt = Number(fired[0]!.eventTime!.seconds) * 1_000 + Math.floor((fired[0]!.eventTime!.nanos ?? 0) / 1e6);
      assert.ok(firedAt >= restartedAt, `${userId}'s timer fired after the restart (${firedAt - restartedAt} ms after it began)`);
    }
  });

  test('a support action the API stopped waiting for: its retry with the same Idempotency-Key answers it, taken once', async () => {
    const userId = 'support-retry';
    type Journey = { stage: string; marketing: string; audit: Array<{ action: string; reason?: string }> };
    const journey = async () => (await journeyOf(stack, userId)) as unknown as Journey | undefined;
    assert.equal((await stack.call('POST', '/v1/track', { key: KEY, body: { userId, event: 'Trial Started', messageId: `${userId}-1` } })).status, 202);
    await waitFor(`${userId} in trial`, async () => {
      const j = await journey();
      return j && j.stage !== 'prospect' ? j : undefined;
    }, 60_000);
    const act = (action: 'pause-marketing' | 'resume-marketing', key: string, reason = 'asked on the phone') =>
      stack.call('POST', `/v1/customers/${userId}/${action}`, { key: KEY, body: { reason }, headers: { 'idempotency-key': key } });

    // The worker frozen: the update reaches Temporal, which waits for a worker to take it; the API gives up first.
    const worker = stack.workers[0]!;
    worker.process.kill('SIGSTOP');
    let first;
    try {
      first = await act('pause-marketing', 'ticket-77');
    } finally {
      worker.process.kill('SIGCONT');
    }
    assert.equal(first.status, 503, JSON.stringify(first.body));
    assert.ok(Number(first.headers.get('retry-after')) > 0);

    // The client retries as the 503 asks, with the same key: the action the journey took once, answered.
    const retried = await waitFor('the retry answered', async () => {
      const res = await act('pause-marketing', 'ticket-77');
      return res.status === 503 ? undefined : res;
    }, 60_000, 500);
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    const paused = retried.body as Journey;
    assert.equal(paused.marketing, 'paused');
    assert.deepEqual(paused.audit.map((a) => [a.action, a.reason]), [['marketing paused', 'asked on the phone']]);
    const again = await act('pause-marketing', 'ticket-77');
    assert.equal(again.status, 200, 'a third send of the key is still the one action');
    assert.deepEqual(again.body, retried.body, 'answered with what the action did');

    // Another key is another action: this one the journey refuses, as it would without keys.
    const other = await act('pause-marketing', 'ticket-78');
    assert.equal(other.status, 422);
    assert.match(other.body.error.message, /paused already/);
    const resumed = await act('resume-marketing', 'ticket-79');
    assert.equal(resumed.status, 200);
    assert.equal((await act('resume-marketing', 'ticket-79')).status, 200, 'its retry too, not "marketing is not paused"');
    // The same key with another body is another request, never the first one's answer.
    const changed = await act('pause-marketing', 'ticket-77', 'asked again by email');
    assert.equal(changed.status, 200);
    assert.deepEqual((changed.body as Journey).audit.map((a) => a.action), ['marketing paused', 'marketing resumed', 'marketing paused']);

    const bad = await stack.call('POST', `/v1/customers/${userId}/resume-marketing`, { key: KEY, body: {}, headers: { 'idempotency-key': 'two words' } });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.match(JSON.stringify(bad.body), /Idempotency-Key/);
    const after = (await journey())!;
    assert.equal(after.marketing, 'paused', 'a refused key changes nothing');
    assert.equal(after.audit.length, 3);
  });

  test('MongoDB stopped and restarted: identify answers 503, a delivery scheduled meanwhile goes out once after the restart', async () => {
    const userId = 'mongo-1';
    assert.equal((await stack.call('POST', '/v1/identify', { key: KEY, body: { userId, traits: { email: 'mongo-1@example.com', firstName: 'Mo' } } })).status, 200);
    const before = stack.sendgrid.messages.length;
    await stack.stopFerret();
    try {
      const identify = await stack.call('POST', '/v1/identify', { key: KEY, body: { userId: 'mongo-2', traits: { email: 'mongo-2@example.com' } } });
      assert.equal(identify.status, 503, JSON.stringify(identify.body));
      assert.equal(identify.body.error.upstream, 'mongodb');
      assert.ok(Number(identify.headers.get('retry-after')) > 0);
      const track = await stack.call('POST', '/v1/track', { key: KEY, body: { userId, event: 'Signed Up', messageId: `${userId}-1` } });
      assert.equal(track.status, 202, 'events go to Temporal, which is up');
      await sleep(6_000); // the welcome's attempts fail meanwhile
      assert.equal(stack.sendgrid.messages.length, before, 'nothing sent while the profile cannot be read');
    } finally {
      await stack.startFerret();
    }
    await waitFor('identify to work again', async () => (await stack.call('POST', '/v1/identify', { key: KEY, body: { userId: 'mongo-2', traits: { email: 'mongo-2@example.com' } } })).status === 200, 60_000, 500);
    const journey = await waitFor('the welcome sent after the restart', async () => {
      const j = await journeyOf(stack, userId);
      return j?.messages.some((m) => m.campaignId === 'welcome' && m.status === 'sent') ? j : undefined;
    }, 120_000, 1_000);
    assert.equal(journey.stats.events, 1);
    assert.deepEqual(stack.sendgrid.messages.filter((m) => m.customArgs.user_id === userId).map((m) => m.customArgs.delivery_key), [`customer-${userId}/welcome/1`]);
    const profile = await stack.call('GET', '/v1/customers/mongo-2', { key: KEY });
    assert.equal(profile.body.profile.email, 'mongo-2@example.com');
  });
});
