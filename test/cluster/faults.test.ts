import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { reliabilityDefinition } from '../reliability/fault-stack.js';
import { waitFor } from '../support/processes.js';
import { WRITE_KEY, READ_KEY, skipCluster, startClusterStack, type ClusterStack } from './cluster-stack.js';

/** The trial of this suite's journey: short, so its timer comes due while a part of the cluster is down. */
const TRIAL_MS = 20_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Journey {
  stage: string;
  stages: Array<{ stage: string; at: string }>;
  messages: Array<{ key: string; campaignId: string; status: string }>;
  stats: { events: number; duplicates: number; runs: number };
}

/**
 * Faults under load on the cluster: a worker and an API killed with SIGKILL, Temporal's history service and
 * PostgreSQL restarted. Through the front address the answers are only 202, 200 or 503 with Retry-After;
 * afterwards every acknowledged event is applied once, no email went twice, and timers that came due
 * during an outage fired.
 */
describe('faults under load on the cluster', { skip: skipCluster }, () => {
  let stack: ClusterStack;
  const statuses = new Map<number, number>();
  let missingRetryAfter = 0;
  /** Every event each customer was sent (acknowledged or not), by messageId. */
  const sent = new Map<string, Set<string>>();
  const refused: Array<{ userId: string; messageId: string }> = [];

  const journeyOf = async (userId: string): Promise<Journey | undefined> => {
    const res = await stack.call('GET', `/v1/customers/${userId}`, { key: READ_KEY });
    return res.status === 200 ? (res.body.journey as Journey | undefined) : undefined;
  };
  const track = async (userId: string, event: string, messageId: string): Promise<number> => {
    const res = await stack.call('POST', '/v1/track', { key: WRITE_KEY, body: { userId, event, messageId } }).catch(() => ({ status: 0, headers: new Headers(), body: undefined }));
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    if (res.status === 503 && !(Number(res.headers.get('retry-after')) > 0)) missingRetryAfter += 1;
    return res.status;
  };

  /** Events from `users` (4 at a time) for as long as `fault` runs; what was refused is kept to send again. */
  const underLoad = async (users: string[], fault: () => Promise<void>) => {
    let loading = true;
    let seq = 0;
    const load = (async () => {
      while (loading) {
        await Promise.all(
          users.slice(0, 4).map(async (_, lane) => {
            for (let i = lane; i < users.length && loading; i += 4) {
              const userId = users[i]!;
              const messageId = `${userId}-w${++seq}`;
              if (!sent.has(userId)) sent.set(userId, new Set());
              sent.get(userId)!.add(messageId);
              if ((await track(userId, 'Workout Completed', messageId)) !== 202) {
                refused.push({ userId, messageId });
                await sleep(500); // as a client honouring Retry-After would (shortened, to keep the load on)
              }
            }
          }),
        );
      }
    })();
    await sleep(1_500);
    try {
      await fault();
    } finally {
      await sleep(1_500);
      loading = false;
      await load;
    }
  };

  /** A customer whose trial ends while something is down; resolves with when the trial began. */
  const startTrial = async (userId: string) => {
    assert.equal(await track(userId, 'Trial Started', `${userId}-trial`), 202);
    const j = await waitFor(`${userId} in trial`, async () => {
      const journey = await journeyOf(userId);
      return journey?.stage === 'trial' ? journey : undefined;
    }, 60_000, 250);
    return Date.parse(j.stages.at(-1)!.at);
  };
  const timerFiredAfter = async (userId: string, trialAt: number, downFrom: number, upAt: number) => {
    const j = await waitFor(`${userId} churned by its timer`, async () => {
      const journey = await journeyOf(userId);
      return journey?.stage === 'churned' ? journey : undefined;
    }, 120_000, 1_000);
    assert.ok(trialAt + TRIAL_MS > downFrom && trialAt + TRIAL_MS < upAt, `${userId}'s timer came due during the outage`);
    assert.equal(Date.parse(j.stages.at(-1)!.at), trialAt + TRIAL_MS, 'dated at its due time');
    const history = await stack.client.workflow.getHandle(`customer-${userId}`).fetchHistory();
    assert.equal(history.events?.filter((e) => e.timerFiredEventAttributes).length, 1, 'fired once');
  };

  const report = (t: TestContext) => t.diagnostic(`answers so far: ${JSON.stringify(Object.fromEntries(statuses))}, refused and re-sent: ${refused.length}`);

  before(async () => {
    stack = await startClusterStack('faults', {
      definition: reliabilityDefinition(`${TRIAL_MS / 1000} seconds`),
      // Longer than the mailer's send timeout (20 s): an attempt cut off by a kill is looked up, not resent blindly.
      env: { SENDGRID_LOOKUP_SETTLE_MS: '25000', UPSTREAM_TIMEOUT_MS: '3000' },
    });
  });
  after(async () => {
    await stack?.stop();
  });

  test('SIGKILL one of the two workers mid-delivery: every message sent exactly once', async (t) => {
    const users = Array.from({ length: 16 }, (_, i) => `kill-${i}`);
    for (const userId of users) {
      const res = await stack.call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId, traits: { email: `${userId}@example.com`, firstName: userId } } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    // Sends held before SendGrid takes them and with the 202 held back, so the kill lands with sends in flight.
    stack.sendgrid.injectFaults(Array.from({ length: 32 }, (_, i) => ({ status: i % 2 === 0 ? ('hang' as const) : ('slow-202' as const), ms: 2_000 })));
    for (const userId of users) {
      assert.equal(await track(userId, 'Signed Up', `${userId}-1`), 202);
      assert.equal(await track(userId, 'Trial Started', `${userId}-2`), 202);
    }
    await sleep(1_500);
    const victim = stack.cluster.process('worker-1');
    await victim.kill();
    await sleep(3_000);
    await victim.start();
    stack.cluster.writeProcessFile();

    const expected = users.flatMap((u) => [`customer-${u}/welcome/1`, `customer-${u}/trial_tips/1`]);
    await waitFor('every message sent', async () => {
      const keys = new Set(stack.sendgrid.messages.map((m) => m.customArgs.delivery_key));
      return expected.every((k) => keys.has(k));
    }, 180_000, 1_000);
    const deliveries = await waitFor('every delivery recorded sent', async () => {
      const d = await stack.database.models.Delivery.find({ _id: { $in: expected } }).lean();
      return d.length === expected.length && d.every((x) => x.status === 'sent') ? d : undefined;
    }, 120_000, 1_000);
    const counts = new Map<string, number>();
    for (const m of stack.sendgrid.messages) counts.set(m.customArgs.delivery_key!, (counts.get(m.customArgs.delivery_key!) ?? 0) + 1);
    assert.deepEqual([...counts].filter(([, n]) => n > 1), [], 'no email sent twice');
    t.diagnostic(`messages: ${expected.length}, send requests: ${stack.sendgrid.requests}, found at SendGrid after the kill: ${deliveries.filter((d) => d.recoveredVia).length}`);
  });

  test('SIGKILL one API under load: the front keeps answering (202 or 503 with Retry-After), nothing applied twice', async (t) => {
    const users = Array.from({ length: 8 }, (_, i) => `api-${i}`);
    const api = stack.cluster.process('api-1');
    await underLoad(users, async () => {
      await api.kill();
      await sleep(4_000);
      await api.start();
    });
    stack.cluster.writeProcessFile();
    report(t);
  });

  test('the history service restarted under load: a timer due meanwhile fires after it', async (t) => {
    const users = Array.from({ length: 8 }, (_, i) => `hist-${i}`);
    const trialAt = await startTrial('timer-history');
    let downFrom = 0;
    let upAt = 0;
    await underLoad(users, async () => {
      const history = stack.cluster.process('temporal-history');
      downFrom = Date.now();
      await history.stop();
      await sleep(Math.max(3_000, trialAt + TRIAL_MS + 1_000 - Date.now()));
      await history.start();
      upAt = Date.now();
      stack.cluster.writeProcessFile();
    });
    await timerFiredAfter('timer-history', trialAt, downFrom, upAt);
    report(t);
  });

  test('PostgreSQL restarted under load: 503 with Retry-After while it is down, a timer due meanwhile fires after it', async (t) => {
    const users = Array.from({ length: 8 }, (_, i) => `pg-${i}`);
    const trialAt = await startTrial('timer-pg');
    let downFrom = 0;
    let upAt = 0;
    const before503 = statuses.get(503) ?? 0;
    await underLoad(users, async () => {
      const pg = stack.cluster.process('postgresql');
      downFrom = Date.now();
      await pg.stop();
      const identify = await stack.call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId: 'pg-probe', traits: { email: 'p@example.com' } } });
      assert.equal(identify.status, 503, `MongoDB (FerretDB on PostgreSQL) is down: ${JSON.stringify(identify.body)}`);
      assert.ok(Number(identify.headers.get('retry-after')) > 0);
      await sleep(Math.max(5_000, trialAt + TRIAL_MS + 1_000 - Date.now()));
      await pg.start();
      upAt = Date.now();
      stack.cluster.writeProcessFile();
    });
    assert.ok((statuses.get(503) ?? 0) > before503, 'the load met the outage');
    await timerFiredAfter('timer-pg', trialAt, downFrom, upAt);
    report(t);
  });

  test('afterwards: only 202 and 503 (each with Retry-After); every event, re-sent until 202, applied once', async (t) => {
    // What a backend does with a 503: send it again later.
    for (const { userId, messageId } of refused) {
      await waitFor(`${messageId} accepted on retry`, async () => (await track(userId, 'Workout Completed', messageId)) === 202, 120_000, 500);
    }
    assert.deepEqual([...statuses.keys()].filter((s) => s !== 202 && s !== 503).sort(), [], `only 202 and 503: ${JSON.stringify(Object.fromEntries(statuses))}`);
    assert.equal(missingRetryAfter, 0, 'every 503 carries Retry-After');
    const users = [...sent.keys()];
    const journeys = await waitFor('every event in its journey', async () => {
      const all = await Promise.all(users.map((u) => journeyOf(u)));
      return all.every((j, i) => j?.stats.events === sent.get(users[i]!)!.size) ? all : undefined;
    }, 180_000, 2_000).catch(async (err) => {
      const all = await Promise.all(users.map((u) => journeyOf(u)));
      throw new Error(`${(err as Error).message}: ${JSON.stringify(users.map((u, i) => [u, sent.get(u)!.size, all[i]?.stats.events]))}`);
    });
    const total = users.reduce((n, u) => n + sent.get(u)!.size, 0);
    t.diagnostic(`events: ${total} distinct, answers: ${JSON.stringify(Object.fromEntries(statuses))}, duplicates refused: ${journeys.reduce((n, j) => n + (j?.stats.duplicates ?? 0), 0)}`);
  });
});
