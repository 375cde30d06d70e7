import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { getJourneyQuery } from '../../src/temporal/contract.js';
import { saveHistory } from '../support/histories.js';
import { waitFor, type AppProcess } from '../support/processes.js';
import { FULL, KEY, inParallel, journeyOf, sleep, startFaultStack, type FaultStack } from './fault-stack.js';

const CUSTOMERS = FULL ? 200 : 30;
const KILLS = FULL ? 110 : 8;
/** Each send is held this long at the SendGrid server, so kills land while sends are in flight. */
const HANG_MS = 1_500;
/**
 * How old an attempt cut off with no trace at SendGrid must be before it is sent again: longer than the
 * mailer's send timeout (20 s), so a slow attempt still running somewhere cannot land after the resend.
 */
const SETTLE_MS = 25_000;

/**
 * The worker is killed with SIGKILL again and again while it delivers messages: no message is lost and none
 * is sent twice. Half the sends are held before SendGrid takes them (a kill then leaves nothing at
 * SendGrid), half are taken at once with the 202 held back (a kill then leaves the message at SendGrid and
 * the delivery record at 'sending': the window a blind retry would send twice in). The retry looks before
 * it resends (Email Activity Feed), so every key is in SendGrid's log exactly once.
 */
describe('worker killed with SIGKILL during delivery', () => {
  let stack: FaultStack;
  const kills: number[] = [];

  before(async () => {
    stack = await startFaultStack('kills', { trial: '30 days', workers: 2, env: { SENDGRID_LOOKUP_SETTLE_MS: String(SETTLE_MS) } });
  });
  after(async () => {
    await stack?.stop();
  });

  test(`${CUSTOMERS} customers, ${KILLS} kills: every journey completes, every message sent exactly once`, async (t) => {
    const users = Array.from({ length: CUSTOMERS }, (_, i) => `kill-${i}`);
    await inParallel(users, 8, async (userId) => {
      const res = await stack.call('POST', '/v1/identify', { key: KEY, body: { userId, traits: { email: `${userId}@example.com`, firstName: userId } } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    });
    stack.sendgrid.injectFaults(Array.from({ length: CUSTOMERS * 4 }, (_, i) => ({ status: i % 2 === 0 ? ('hang' as const) : ('slow-202' as const), ms: HANG_MS })));

    // Each round: a group of customers' events, a moment for their sends to reach SendGrid (which holds each
    // for HANG_MS, before taking it or before its 202), then a kill of a worker that has been polling, and a
    // new worker started.
    const running = new Set<AppProcess>(stack.workers);
    const everyWorker = [...stack.workers];
    const starting = new Set<Promise<unknown>>();
    const perRound = Math.ceil(CUSTOMERS / KILLS);
    for (let round = 0; round < KILLS; round++) {
      await inParallel(users.slice(round * perRound, (round + 1) * perRound), 4, async (userId) => {
        for (const [event, n] of [['Signed Up', 1], ['Trial Started', 2]] as const) {
          const res = await stack.call('POST', '/v1/track', { key: KEY, body: { userId, event, messageId: `${userId}-${n}` } });
          assert.equal(res.status, 202, JSON.stringify(res.body));
        }
      });
      await sleep(1_000 + Math.random() * 2_000);
      if (running.size === 0) await waitFor('a worker to be running', async () => running.size > 0, 300_000, 100);
      const victim = [...running][0]!;
      running.delete(victim);
      kills.push(Date.now());
      await stack.killWorker(victim);
      const started = stack.startWorker().then((w) => {
        everyWorker.push(w);
        running.add(w);
      });
      starting.add(started);
      void started.finally(() => starting.delete(started));
    }
    await Promise.all([...starting]);
    t.diagnostic(`kills: ${kills.length}, workers left running: ${stack.workers.length}`);

    const expectedKeys = users.flatMap((u) => [`customer-${u}/welcome/1`, `customer-${u}/trial_tips/1`]);
    let pending: string[] = [];
    await waitFor(
      'every journey in trial with both messages sent',
      async () => {
        const left = await inParallel(users, 4, async (u) => {
          const j = await journeyOf(stack, u);
          return j?.stage === 'trial' && j.messages.length === 2 && j.messages.every((m) => m.status === 'sent')
            ? undefined
            : `${u}: ${j ? `${j.stage}, ${j.messages.map((m) => `${m.campaignId} ${m.status}`).join(', ') || 'no messages'}` : `no journey (${JSON.stringify((await stack.call('GET', `/v1/customers/${u}`, { key: KEY })).body).slice(0, 300)})`}`;
        });
        pending = left.filter((p) => p !== undefined);
        return pending.length === 0;
      },
      FULL ? 900_000 : 240_000,
      2_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}; ${await whyStuck(stack, pending, everyWorker)}`);
    });

    const received = new Map<string, number[]>();
    for (const m of stack.sendgrid.messages) {
      const key = m.customArgs.delivery_key!;
      received.set(key, [...(received.get(key) ?? []), m.receivedAt]);
    }
    assert.deepEqual([...received.keys()].filter((k) => !expectedKeys.includes(k)), [], 'no message that was not asked for');
    assert.deepEqual(expectedKeys.filter((k) => !received.has(k)), [], 'no message lost');
    const duplicates = [...received].filter(([, at]) => at.length > 1).map(([key, at]) => `${key} at ${at.join(', ')}`);
    const deliveries = await stack.database.models.Delivery.find({ _id: { $in: expectedKeys } }).lean();
    assert.equal(deliveries.length, expectedKeys.length);
    assert.deepEqual(deliveries.filter((d) => d.status !== 'sent').map((d) => d._id), [], 'every delivery recorded sent');
    const messageOf = new Map(stack.sendgrid.messages.map((m) => [m.customArgs.delivery_key!, m]));
    assert.deepEqual(
      deliveries.filter((d) => d.providerMessageId !== messageOf.get(String(d._id))?.id).map((d) => `${d._id}: ${d.providerMessageId}`),
      [],
      "each record names the message SendGrid has (the X-Message-Id, or the feed's msg_id for one found after a kill)",
    );
    // The window: the request had gone to SendGrid (which took it, even when it arrived as the sender died), and
    // the attempt ended before the delivery was recorded 'sent': a kill, mostly, or any failure after the 202
    // (a MongoDB write that failed on a loaded machine). Each such delivery was found at SendGrid by its retry
    // and recorded then, not sent again.
    const recovered = deliveries.filter((d) => d.recoveredVia !== undefined);
    const byKill = recovered.filter((d) => kills.some((k) => k >= new Date(d.sendingAt!).getTime() && k <= new Date(d.sentAt!).getTime()));
    const otherwise = recovered
      .filter((d) => !byKill.includes(d))
      .map((d) => {
        const lines = everyWorker.flatMap((w) => w.output().split('\n')).filter((l) => (l.includes(`"${String(d._id).split('/')[0]}"`) || l.includes(`"${String(d._id)}"`)) && /"level":(40|50)/.test(l));
        return `${d._id} (sending at ${new Date(d.sendingAt!).getTime()}, taken at ${messageOf.get(String(d._id))!.receivedAt}, recorded at ${new Date(d.sentAt!).getTime()}): ${lines.join(' | ').slice(0, 1_000) || 'no warning left in the logs'}`;
      });
    const resent = deliveries.filter((d) => (d.attempts ?? 0) > 1).length;
    t.diagnostic(
      `messages: ${expectedKeys.length}, SendGrid sends: ${stack.sendgrid.messages.length}, duplicates: ${duplicates.length}, ` +
        `attempts cut off after SendGrid took the message, found by the retry and not resent: ${recovered.length} (${byKill.length} by a kill), ` +
        `deliveries sent again after an attempt SendGrid did not take: ${resent}, ` +
        `send requests: ${stack.sendgrid.requests} (cut off: ${stack.sendgrid.requests - stack.sendgrid.messages.length}), activity feed requests: ${stack.sendgrid.activityRequests}`,
    );
    if (otherwise.length > 0) t.diagnostic(`found at SendGrid after an attempt that ended without a kill: ${otherwise.join('; ')}`);
    assert.deepEqual(duplicates, [], 'no message sent twice');
    assert.deepEqual(recovered.filter((d) => d.recoveredVia !== 'activity-feed').map((d) => d._id), [], 'found through the activity feed (the stack has no Event Webhook)');
    assert.ok(kills.length >= KILLS);
  });
});

/**
 * What a journey that did not finish shows: its history's last events, whether its query answers (a
 * nondeterminism error shows there first), its workers' warnings. Every stuck history is kept under
 * test-results/histories/ (a CI artefact) to replay and read.
 */
async function whyStuck(stack: FaultStack, pending: string[], workers: AppProcess[]): Promise<string> {
  const at = new Set(stack.sendgrid.messages.map((m) => m.customArgs.delivery_key)).size;
  for (const line of pending) {
    const id = line.split(':')[0]!;
    await saveHistory(stack.client.workflow.getHandle(`customer-${id}`), `stuck-${id}`).catch(() => undefined);
  }
  const stuck = pending[0]?.split(':')[0];
  if (!stuck) return `at SendGrid: ${at}`;
  const handle = stack.client.workflow.getHandle(`customer-${stuck}`);
  const events = (await handle.fetchHistory().catch(() => undefined))?.events ?? [];
  const tail = events.slice(-12).map((e) => `${e.eventId} ${e.eventType} ${e.workflowTaskFailedEventAttributes?.failure?.message ?? ''}`);
  const query = await handle.query(getJourneyQuery).then(
    () => 'answered',
    (e: Error) => `${e.name}: ${e.message}`,
  );
  const warnings = workers.flatMap((w) => w.output().split('\n')).filter((l) => l.includes(`"customer-${stuck}"`) && /"level":(40|50)/.test(l)).slice(-5);
  return `${pending.length} left: ${pending.slice(0, 8).join('; ')}; at SendGrid: ${at}; ${stuck}'s history ends: ${tail.join(' | ')}; its query: ${query}; its workers' warnings: ${warnings.join(' | ').slice(0, 3_000)}`;
}
