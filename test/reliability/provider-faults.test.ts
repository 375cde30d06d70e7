import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '../support/processes.js';
import { FULL, KEY, inParallel, journeyOf, startFaultStack, type FaultStack } from './fault-stack.js';

const CUSTOMERS = FULL ? 40 : 6;
const RESET_SECONDS = 4;

/**
 * SendGrid answering 429 with its rate-limit headers, and 5xx, in bursts: everything goes out once the
 * provider recovers, once, and not before the reset time it gave; a 400 fails that one delivery and the
 * journey goes on.
 */
describe('SendGrid faults', () => {
  let stack: FaultStack;
  const users = Array.from({ length: CUSTOMERS }, (_, i) => `sg-${i}`);
  const received = (campaign: string) => stack.sendgrid.messages.filter((m) => m.customArgs.campaign_id === campaign);
  const allSent = (campaign: string, who: string[]) =>
    waitFor(
      `every ${campaign} sent`,
      async () => {
        const journeys = await inParallel(who, 4, (u) => journeyOf(stack, u));
        return journeys.every((j) => j?.messages.some((m) => m.campaignId === campaign && m.status === 'sent'));
      },
      FULL ? 300_000 : 120_000,
      1_000,
    );
  const track = async (userId: string, event: string, messageId: string) => {
    const res = await stack.call('POST', '/v1/track', { key: KEY, body: { userId, event, messageId } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
  };

  before(async () => {
    stack = await startFaultStack('provider', { trial: '30 days' });
    await inParallel([...users, 'sg-reject'], 4, async (userId) => {
      const res = await stack.call('POST', '/v1/identify', { key: KEY, body: { userId, traits: { email: `${userId}@example.com`, firstName: userId } } });
      assert.equal(res.status, 200);
    });
  });
  after(async () => {
    await stack?.stop();
  });

  test(`429 with X-RateLimit-Reset ${RESET_SECONDS} s ahead: every message waits for the reset, then goes out once`, async (t) => {
    const injectedAt = Date.now();
    // Twice as many as first attempts: every first attempt and its first retry meet a 429.
    stack.sendgrid.injectFaults(Array.from({ length: CUSTOMERS * 2 }, () => ({ status: 429 as const, resetSeconds: RESET_SECONDS })));
    await inParallel(users, 4, (u) => track(u, 'Signed Up', `${u}-1`));
    await allSent('welcome', users);
    const welcomes = received('welcome');
    assert.deepEqual(welcomes.map((m) => m.customArgs.user_id).sort(), [...users].sort(), 'one welcome per customer');
    // A 429 answered at t resets at floor(t/1000) + RESET_SECONDS (seconds); no answer came before the injection.
    const earliestReset = (Math.floor(injectedAt / 1_000) + RESET_SECONDS) * 1_000;
    const early = welcomes.filter((m) => m.receivedAt < earliestReset);
    assert.deepEqual(early.map((m) => m.customArgs.user_id), [], 'nothing accepted before the reset time');
    t.diagnostic(`429s: ${CUSTOMERS * 2}, first welcome ${welcomes.reduce((a, m) => Math.min(a, m.receivedAt), Infinity) - injectedAt} ms after the first 429 burst`);
  });

  test('500, 502 and 503 in bursts: every message goes out once after the provider recovers', async (t) => {
    const faults = Array.from({ length: CUSTOMERS * 2 }, (_, i) => ({ status: ([500, 502, 503] as const)[i % 3]! }));
    stack.sendgrid.injectFaults(faults);
    const requestsBefore = stack.sendgrid.requests;
    await inParallel(users, 4, (u) => track(u, 'Trial Started', `${u}-2`));
    await allSent('trial_tips', users);
    assert.deepEqual(received('trial_tips').map((m) => m.customArgs.user_id).sort(), [...users].sort(), 'one message per customer');
    assert.equal(stack.sendgrid.requests - requestsBefore, CUSTOMERS + faults.length, 'each fault cost exactly one extra request');
    t.diagnostic(`5xx: ${faults.length}, requests: ${stack.sendgrid.requests - requestsBefore} for ${CUSTOMERS} messages`);
  });

  test('a 400 is recorded as a failed delivery and the journey goes on', async () => {
    const userId = 'sg-reject';
    stack.sendgrid.injectFaults([{ status: 400, message: 'The to email does not contain a valid address.' }]);
    await track(userId, 'Signed Up', `${userId}-1`);
    const failed = await waitFor('the welcome to fail', async () => {
      const j = await journeyOf(stack, userId);
      return j?.messages.find((m) => m.campaignId === 'welcome' && m.status === 'failed');
    }, 60_000);
    assert.match(failed.reason ?? '', /SendGrid 400: The to email does not contain a valid address/);
    const record = await stack.database.models.Delivery.findById(`customer-${userId}/welcome/1`).lean();
    assert.equal(record?.status, 'failed');
    assert.equal(record?.attempts, 1, 'a 400 is not retried');
    await track(userId, 'Trial Started', `${userId}-2`);
    const journey = await waitFor('the journey to go on', async () => {
      const j = await journeyOf(stack, userId);
      return j?.stage === 'trial' && j.messages.some((m) => m.campaignId === 'trial_tips' && m.status === 'sent') ? j : undefined;
    }, 60_000);
    assert.deepEqual(journey.messages.map((m) => [m.campaignId, m.status]), [['welcome', 'failed'], ['trial_tips', 'sent']]);
    assert.deepEqual(stack.sendgrid.messages.filter((m) => m.customArgs.user_id === userId).map((m) => m.customArgs.campaign_id), ['trial_tips']);
  });
});
