import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '../support/processes.js';
import { JourneyHarness } from '../support/journey-harness.js';
import type { anonymousHistory } from '../../workflows/anonymous-history.js';
import {
  anonymousWorkflowId,
  getJourneyQuery,
  joinAnonymousSignal,
  keepAnonymousCallSignal,
  linkAnonymousSignal,
  type AnonymousHistoryInput,
  type AnonymousLink,
  type TrackedEvent,
} from '../../src/temporal/contract.js';

/**
 * A visitor's history joins the customer's journey on Temporal: kept while no worker runs, handed over by
 * signal-with-start once linked, each event applied once, also when the hand-over is repeated.
 */
describe('anonymous history joins the customer', () => {
  let h: JourneyHarness;
  before(async () => {
    h = await JourneyHarness.start('anonymous-join');
  });
  after(async () => {
    await h?.teardown();
  });

  test('calls kept and linked while no worker runs are applied in timestamp order, once, when one comes back; a repeated hand-over changes nothing', async () => {
    const taskQueue = 'anonymous-join';
    const anonymousId = 'visitor-1';
    const userId = 'ann';
    const now = await h.now();
    const at = (s: number) => new Date(now - 60_000 + s * 1_000).toISOString();
    const events: TrackedEvent[] = [
      { messageId: 'v1-3', event: 'Workout Logged', timestamp: at(3) },
      { messageId: 'v1-1', event: 'Pricing', type: 'page', timestamp: at(1) },
      { messageId: 'v1-2', event: 'Workout Logged', timestamp: at(2) },
      { messageId: 'v1-2', event: 'Workout Logged', timestamp: at(2) }, // a client's retry
    ];
    const input: AnonymousHistoryInput = { anonymousId, definitionId: h.definition.definition.id };
    const start = { workflowId: anonymousWorkflowId(anonymousId), taskQueue, args: [input] as [AnonymousHistoryInput] };
    // The API's calls, answered while no worker runs (a crash of every worker).
    for (const event of events) {
      await h.env.client.workflow.signalWithStart<typeof anonymousHistory, [TrackedEvent]>('anonymousHistory', { ...start, signal: keepAnonymousCallSignal, signalArgs: [event] });
    }
    await h.env.client.workflow.signalWithStart<typeof anonymousHistory, [AnonymousLink]>('anonymousHistory', {
      ...start,
      signal: linkAnonymousSignal,
      signalArgs: [{ userId, via: 'identify' }],
    });
    h.started.add(`customer-${userId}`);
    h.started.add(anonymousWorkflowId(anonymousId));

    await h.withWorker(
      async () => {
        const journey = h.env.client.workflow.getHandle(`customer-${userId}`);
        const view = await waitFor('the join in the journey', async () => {
          const v = await journey.query(getJourneyQuery).catch(() => undefined);
          return v && v.counters.workouts === 2 ? v : undefined;
        });
        const joins = view.audit.filter((a) => a.action.includes(`anonymous visitor ${anonymousId}`));
        assert.equal(joins.length, 1);
        assert.equal(joins[0]!.action, `joined the history of anonymous visitor ${anonymousId}: 3 events (page Pricing, Workout Logged, Workout Logged)`);
        assert.equal(joins[0]!.actor, 'identify');

        // The hand-over again, as a retried activity would send it after a crash: nothing applied twice.
        await journey.signal(joinAnonymousSignal, { anonymousId, via: 'identify', events: events.slice(0, 3) });
        const again = await waitFor('the repeated hand-over to be read', async () => {
          const v = await journey.query(getJourneyQuery);
          return v.stats.duplicates >= 3 ? v : undefined;
        });
        assert.equal(again.counters.workouts, 2);
        assert.equal(again.audit.filter((a) => a.action.includes('anonymous visitor')).length, 1);
      },
      { taskQueue },
    );
  });
});
