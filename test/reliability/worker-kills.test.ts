import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitFor, type AppProcess } from '../support/processes.js';
import { FULL, KEY, inParallel, journeyOf, sleep, startFaultStack, type FaultStack } from './fault-stack.js';

const CUSTOMERS = FULL ? 200 : 30;
const KILLS = FULL ? 110 : 8;
/** Each send waits this long at the SendGrid server before its 202, so kills land while sends are in flight. */
const HANG_MS = 1_500;

/**
 * The worker is killed with SIGKILL again and again while it delivers messages: no message is lost, and a
 * message goes out twice only when a kill fell between SendGrid's 202 and the 'sent' record (SendGrid has
 * no idempotency key, so nothing can tell a retry that the first attempt got through). The suite counts
 * those and checks that each one is explained by such a kill.
 */
describe('worker killed with SIGKILL during delivery', () => {
  let stack: FaultStack;
  const kills: number[] = [];

  before(async () => {
    stack = await startFaultStack('kills', { trial: '30 days', workers: 2 });
  });
  after(async () => {
    await stack?.stop();
  });

  test(`${CUSTOMERS} customers, ${KILLS} kills: every journey completes, every message sent, duplicates only from the record window`, async (t) => {
    const users = Array.from({ length: CUSTOMERS }, (_, i) => `kill-${i}`);
    await inParallel(users, 8, async (userId) => {
      const res = await stack.call('POST', '/v1/identify', { key: KEY, body: { userId, traits: { email: `${userId}@example.com`, firstName: userId } } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    });
    stack.sendgrid.injectFaults(Array.from({ length: CUSTOMERS * 4 }, () => ({ status: 'hang' as const, ms: HANG_MS })));

    // Each round: a group of customers' events, a moment for their sends to reach SendGrid (which holds each
    // for HANG_MS before its 202), then a kill of a worker that has been polling, and a new worker started.
    const running = new Set<AppProcess>(stack.workers);
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
      const started = stack.startWorker().then((w) => running.add(w));
      starting.add(started);
      void started.finally(() => starting.delete(started));
    }
    await Promise.all([...starting]);
    t.diagnostic(`kills: ${kills.length}, workers left running: ${stack.workers.length}`);

    const expectedKeys = users.flatMap((u) => [`customer-${u}/welcome/1`, `customer-${u}/trial_tips/1`]);
    await waitFor(
      'every journey in trial with both messages sent',
      async () => {
        const pending = await inParallel(users, 4, async (u) => {
          const j = await journeyOf(stack, u);
          return j?.stage === 'trial' && j.messages.length === 2 && j.messages.every((m) => m.status === 'sent') ? undefined : u;
        });
        return pending.every((p) => p === undefined);
      },
      FULL ? 900_000 : 240_000,
      2_000,
    );

    const received = new Map<string, number[]>();
    for (const m of stack.sendgrid.messages) {
      const key = m.customArgs.delivery_key!;
      received.set(key, [...(received.get(key) ?? []), m.receivedAt]);
    }
    assert.deepEqual([...received.keys()].filter((k) => !expectedKeys.includes(k)), [], 'no message that was not asked for');
    assert.deepEqual(expectedKeys.filter((k) => !received.has(k)), [], 'no message lost');
    const duplicates = [...received].filter(([, at]) => at.length > 1);
    const deliveries = await stack.database.models.Delivery.find({ _id: { $in: expectedKeys } }).lean();
    const attemptsOf = new Map(deliveries.map((d) => [String(d._id), d.attempts ?? 0]));
    const windows: number[] = [];
    for (const [key, at] of duplicates) {
      // A second send needs the first attempt cut off after SendGrid's 202: a kill between the two receipts, and a retry.
      const kill = kills.find((k) => k >= at[0]! && k <= at[1]!);
      assert.ok(kill !== undefined && attemptsOf.get(key)! >= 2, `${key} sent at ${at.join(', ')} (attempts ${attemptsOf.get(key)}), kills at ${kills.join(', ')}`);
      windows.push(kill - at[0]!);
    }
    assert.equal(deliveries.length, expectedKeys.length);
    assert.deepEqual(deliveries.filter((d) => d.status !== 'sent').map((d) => d._id), [], 'every delivery recorded sent');
    const retried = deliveries.filter((d) => (d.attempts ?? 0) > 1).length;
    t.diagnostic(
      `messages: ${expectedKeys.length}, deliveries retried after a kill: ${retried}, requests cut off: ${stack.sendgrid.requests - stack.sendgrid.messages.length}, duplicates: ${duplicates.length}, kill after the first 202: ${windows.join(', ') || '-'} ms` +
        ` (${duplicates.map(([k]) => k).join(', ') || 'none'}), SendGrid requests: ${stack.sendgrid.requests}`,
    );
    assert.ok(kills.length >= KILLS);
  });
});
