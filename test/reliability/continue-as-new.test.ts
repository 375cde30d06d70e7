import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LIMITS } from '../../src/core/reducer-context.js';
import { newRunInput, type CustomerJourneyInput } from '../../src/temporal/contract.js';
import { waitFor } from '../support/processes.js';
import { FULL, KEY, inParallel, journeyOf, startFaultStack, type FaultStack } from './fault-stack.js';

const EVENTS = FULL ? 3_000 : 200;
const MAX_INPUTS_PER_RUN = FULL ? 50 : 15;

/**
 * A journey that continues as new every few inputs, under a constant stream of events through the API
 * (every seventh one a repeat of an event already acknowledged): each event counted once, each repeat
 * refused once, across runs.
 */
describe('continue-as-new under a constant stream of signals', () => {
  let stack: FaultStack;

  before(async () => {
    stack = await startFaultStack('can', { trial: '30 days' });
  });
  after(async () => {
    await stack?.stop();
  });

  test(`${EVENTS} events, a new run every ${MAX_INPUTS_PER_RUN} inputs: nothing lost, nothing applied twice`, async (t) => {
    const userId = 'stream-1';
    const input: CustomerJourneyInput = newRunInput(userId, 'reliability', { maxInputsPerRun: MAX_INPUTS_PER_RUN });
    await stack.client.workflow.start('customerJourney', { workflowId: `customer-${userId}`, taskQueue: stack.env.TASK_QUEUE!, args: [input] });
    const acknowledged: string[] = [];
    let repeats = 0;
    let unavailable = 0;
    const ids = Array.from({ length: EVENTS }, (_, i) => i);
    await inParallel(ids, 4, async (i) => {
      const repeat = i % 7 === 6 && acknowledged.length > 0;
      // A repeat is a retry of a recent event: the journey remembers its last LIMITS.recentMessageIds ids (and
      // the full run sends far more than that, so one drawn from all of them could be outside the window).
      const recent = acknowledged.slice(-Math.floor(LIMITS.recentMessageIds / 2));
      const messageId = repeat ? recent[Math.floor(Math.random() * recent.length)]! : `${userId}-${i}`;
      // A 503 (Temporal slow to answer) is sent again, as a backend would; it may have been stored anyway.
      let res = await stack.call('POST', '/v1/track', { key: KEY, body: { userId, event: 'Workout Completed', messageId } });
      while (res.status === 503) {
        unavailable += 1;
        res = await stack.call('POST', '/v1/track', { key: KEY, body: { userId, event: 'Workout Completed', messageId } });
      }
      assert.equal(res.status, 202, JSON.stringify(res.body));
      if (repeat) repeats += 1;
      else acknowledged.push(messageId);
    });
    const journey = await waitFor(
      'every event applied',
      async () => {
        const j = await journeyOf(stack, userId);
        return j && j.stats.events + j.stats.duplicates >= EVENTS ? j : undefined;
      },
      FULL ? 600_000 : 120_000,
      1_000,
    );
    assert.equal(journey.stats.events, acknowledged.length, 'each event counted once');
    assert.ok(journey.stats.duplicates >= repeats && journey.stats.duplicates <= repeats + unavailable, `each repeat refused (${journey.stats.duplicates} for ${repeats} repeats and ${unavailable} re-sent 503s)`);
    assert.ok(journey.stats.runs > 1, `continued as new (${journey.stats.runs} runs)`);
    const runs = await waitFor('visibility to list every run', async () => {
      let n = 0;
      for await (const _ of stack.client.workflow.list({ query: `WorkflowId = "customer-${userId}"` })) n += 1;
      return n === journey.stats.runs ? n : undefined;
    }, 30_000, 500);
    t.diagnostic(`events: ${acknowledged.length}, repeats: ${repeats}, 503s re-sent: ${unavailable}, duplicates refused: ${journey.stats.duplicates}, runs: ${runs}`);
  });
});
