import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JourneyFact, JourneySnapshot } from '../../src/core/journey-facts.js';
import type { JourneyInput, JourneyState, StepResult } from '../../src/core/journey-state.js';
import { recordedJourney, timelineOf } from '../../src/core/journey-timeline.js';
import { journeyView } from '../../src/core/journey-view.js';
import { startJourney, step } from '../../src/core/journey-reducer.js';
import { loadDefinitionFile } from '../../src/definition-store/load-definition.js';
import { DAY, HOUR, T0, TRIAL_BASICS_PATH, ev, tick } from './fixtures.js';

const { plan } = await loadDefinitionFile(TRIAL_BASICS_PATH);

/**
 * Drives the pure core as the workflow does (deliveries answered as sent a minute later) and keeps what it
 * told the read model: every fact, and the latest snapshot.
 */
function drive(inputs: JourneyInput[]): { state: JourneyState; facts: JourneyFact[]; snapshot: JourneySnapshot } {
  const facts: JourneyFact[] = [];
  let snapshot: JourneySnapshot | undefined;
  const take = (result: StepResult, now: number): JourneyInput[] => {
    const replies: JourneyInput[] = [];
    for (const c of result.commands) {
      if (c.type === 'record') {
        facts.push(...c.batch.facts);
        snapshot = c.batch.snapshot;
      } else if (c.type === 'deliver') {
        replies.push({ type: 'delivery', now: now + 60_000, key: c.request.key, outcome: { status: 'sent', provider: 'outbox' } });
      }
    }
    return replies;
  };
  const start = startJourney(plan, 'tl', T0);
  let state = start.state;
  const queue = [...take(start, T0), ...inputs];
  while (queue.length > 0) {
    const input = queue.shift()!;
    const result = step(plan, state, input);
    state = result.state;
    queue.unshift(...take(result, input.now));
  }
  return { state, facts, snapshot: snapshot! };
}

describe('journey timeline', () => {
  const { state, facts, snapshot } = drive([
    ev('Signed Up', T0, { messageId: 'm-1' }),
    ev('Trial Started', T0 + HOUR, { messageId: 'm-2' }),
    tick(T0 + HOUR + 27 * DAY),
    ev('Subscription Started', T0 + 28 * DAY, { messageId: 'm-3', properties: { plan: 'light' } }),
  ]);
  const view = journeyView(plan, state);

  test('the live timeline tells stages, messages and conversions in time order, then what is pending', () => {
    const timeline = timelineOf(view);
    assert.deepEqual(
      timeline.map((t) => [t.kind, t.text]),
      [
        ['stage', 'entered prospect: journey started'],
        ['message', 'welcome sent'],
        ['stage', 'prospect -> trial because of event "Trial Started" (m-2)'],
        ['message', 'trial_ending sent'],
        ['stage', 'trial -> subscriber because of event "Subscription Started" (m-3)'],
        ['conversion', 'trial_ending reached its goal'],
      ],
    );
    const times = timeline.map((t) => t.at);
    assert.deepEqual(times, [...times].sort(), 'oldest first');
  });

  test('the read model tells the same story as the live journey, whatever order its facts come back in', () => {
    const recorded = recordedJourney(snapshot, [...facts].reverse());
    assert.equal(recorded.stage, 'subscriber');
    assert.equal(recorded.plan, 'light');
    assert.deepEqual(recorded.stages, view.stages);
    assert.deepEqual(
      recorded.messages.map((m) => [m.key, m.status, m.convertedAt ?? null]),
      view.messages.map((m) => [m.key, m.status, m.convertedAt ?? null]),
    );
    assert.deepEqual(timelineOf(recorded), timelineOf({ ...view, pending: [] }));
  });

  test('what SendGrid reported reads the same from the live journey and from the read model', () => {
    const email = (type: 'delivered' | 'open' | 'click' | 'processed', at: number, id = `sg-${type}`): JourneyInput => ({
      type: 'emailEvent',
      now: at + 5_000,
      event: { id, type, deliveryKey: 'customer-tl/welcome/1', at, ...(type === 'open' ? { machine: false, localHour: 9 } : {}) },
    });
    const { state, facts, snapshot } = drive([
      ev('Signed Up', T0, { messageId: 'm-1' }),
      email('processed', T0 + 2 * 60_000),
      email('delivered', T0 + 3 * 60_000),
      email('open', T0 + HOUR),
      email('open', T0 + 2 * HOUR, 'sg-open-again'),
      email('click', T0 + 2 * HOUR + 60_000),
      email('click', T0 + 2 * HOUR + 60_000), // SendGrid sending the same event again
    ]);
    const live = timelineOf(journeyView(plan, state)).filter((t) => t.kind === 'email');
    assert.deepEqual(
      live.map((t) => [t.at, t.text, t.status]),
      [
        [new Date(T0 + 3 * 60_000).toISOString(), 'welcome delivered', 'delivered'],
        [new Date(T0 + HOUR).toISOString(), 'welcome opened', 'opened'],
        [new Date(T0 + 2 * HOUR + 60_000).toISOString(), 'welcome clicked', 'clicked'],
      ],
      'the first of each kind, at SendGrid’s time',
    );
    assert.deepEqual(
      facts.filter((f) => f.kind === 'email').map((f) => (f.kind === 'email' ? f.event : '')),
      ['delivered', 'opened', 'clicked'],
    );
    assert.deepEqual(timelineOf(recordedJourney(snapshot, [...facts].reverse())).filter((t) => t.kind === 'email'), live);
  });

  test('a skipped message says why, and pending deadlines come last with their reason', () => {
    const timeline = timelineOf({
      stages: [{ stage: 'trial', from: null, at: '2026-01-01T00:00:00.000Z', why: 'journey started' }],
      audit: [{ at: '2026-01-02T00:00:00.000Z', actor: 'api-key:support', action: 'trial extended by 7 days', reason: 'outage' }],
      messages: [
        { key: 'k', campaignId: 'paywall', occurrence: 1, kind: 'marketing', status: 'skipped', dueAt: '2026-01-03T00:00:00.000Z', at: '2026-01-03T00:00:00.000Z', reason: 'frequency cap' },
      ],
      pending: [{ kind: 'timer', what: 'trial ends', at: '2026-02-07T00:00:00.000Z' }],
    });
    assert.deepEqual(
      timeline.map((t) => t.text),
      ['entered trial: journey started', 'trial extended by 7 days by api-key:support (outage)', 'paywall skipped: frequency cap', 'trial ends'],
    );
    assert.equal(timeline[3]!.kind, 'pending');
  });
});
