import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JourneyPlan } from '../../src/core/journey-definition.js';
import type { Deadline, JourneyInput, JourneyState, StepResult } from '../../src/core/journey-state.js';
import { currentDetails, journeyView, searchAttributesOf } from '../../src/core/journey-view.js';
import * as core from '../../src/core/journey-reducer.js';
import { hasPendingDeliveries, nextDeadline } from '../../src/core/deadlines.js';
import { deliveryKey } from '../../src/core/ids.js';
import { workflowIdFor } from '../../src/temporal/contract.js';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { loadDefinitionFile, parseDefinition } from '../../src/definition-store/load-definition.js';
import { openingPass } from '../../src/core/opening-pass.js';
import { TRIAL_BASICS_PATH, DAY, HOUR, MINUTE, T0, deepFreeze, deliveredKeys, ev, minimalDefinition, planOf, stagesOf, tick } from './fixtures.js';

const { plan: coaching } = await loadDefinitionFile(TRIAL_BASICS_PATH);
const COACHING_RAW = YAML.parse(readFileSync(TRIAL_BASICS_PATH, 'utf8'));
const USER = 'u1';

/** The core without its read-model writes, which test/unit/read-model-facts.test.ts pins on their own. */
function withoutRecords(result: StepResult): StepResult {
  return { ...result, commands: result.commands.filter((c) => c.type !== 'record') };
}
const step = (...args: Parameters<typeof core.step>) => withoutRecords(core.step(...args));
const startJourney = (...args: Parameters<typeof core.startJourney>) => withoutRecords(core.startJourney(...args));

/** Applies inputs one after the other; returns the last result and every command emitted on the way. */
function run(plan: JourneyPlan, state: JourneyState, ...inputs: JourneyInput[]): StepResult & { all: StepResult['commands'] } {
  let result: StepResult = { state, commands: [] };
  const all: StepResult['commands'] = [];
  for (const input of inputs) {
    result = step(plan, result.state, input);
    all.push(...result.commands);
  }
  return { ...result, all };
}

/** A coachinglive customer who signed up and started the trial at T0 (welcome already delivered). */
function inTrial(): JourneyState {
  return run(coaching, startJourney(coaching, USER, T0).state, ev('Signed Up', T0), ev('Trial Started', T0, { messageId: 'trial-1' })).state;
}

function campaignDeadline(state: JourneyState, campaignId: string): Extract<Deadline, { kind: 'campaign' }> | undefined {
  return state.deadlines.find((d): d is Extract<Deadline, { kind: 'campaign' }> => d.kind === 'campaign' && d.campaignId === campaignId);
}

function timerDeadline(state: JourneyState, timerId: string): Extract<Deadline, { kind: 'timer' }> | undefined {
  return state.deadlines.find((d): d is Extract<Deadline, { kind: 'timer' }> => d.kind === 'timer' && d.timerId === timerId);
}

describe('startJourney', () => {
  test('enters the initial stage with cause "start" and asks for a segment evaluation', () => {
    const { state, commands } = startJourney(coaching, USER, T0);
    assert.equal(state.stage, 'prospect');
    assert.equal(state.previousStage, null);
    assert.equal(state.stageEnteredAt, T0);
    assert.equal(state.clock, T0);
    assert.deepEqual(state.stageHistory, [{ stage: 'prospect', from: null, at: T0, cause: { kind: 'start' } }]);
    assert.deepEqual(state.definition, { id: 'trial_basics', version: coaching.version });
    assert.deepEqual(commands, [{ type: 'evaluateSegments' }]);
    assert.deepEqual(state.deadlines, []);
    assert.deepEqual(state.stats, { events: 0, duplicates: 0, runs: 1, reactivations: 0, everLoyal: false });
    assert.deepEqual(state.counters, {});
  });

  test('is deterministic: the same plan, user and time give the same result', () => {
    assert.deepEqual(startJourney(coaching, USER, T0), startJourney(coaching, USER, T0));
  });

  test('"Signed Up" sends exactly one welcome, keyed by customer, campaign and occurrence, recorded as pending', () => {
    const started = startJourney(coaching, USER, T0).state;
    const { state, commands } = step(coaching, started, ev('Signed Up', T0 + MINUTE, { properties: { source: 'ad' } }));
    assert.equal(commands.length, 1);
    const [command] = commands;
    assert.ok(command?.type === 'deliver', 'the one command is a delivery');
    assert.deepEqual(command.request, {
      key: `customer-${USER}/welcome/1`,
      userId: USER,
      campaignId: 'welcome',
      occurrence: 1,
      kind: 'transactional',
      template: 'welcome',
      segments: ['reachable_by_email'],
      definition: { id: 'trial_basics', version: coaching.version },
      summary: 'send Welcome',
      journey: { stage: 'prospect', plan: null, counters: {} },
      eventProperties: { source: 'ad' },
    });
    assert.equal(command.request.key, deliveryKey(USER, 'welcome', 1));
    assert.deepEqual(state.messages, [
      { key: `customer-${USER}/welcome/1`, campaignId: 'welcome', occurrence: 1, kind: 'transactional', status: 'pending', dueAt: T0 + MINUTE, at: T0 + MINUTE, pendingStep: state.messages[0]!.pendingStep },
    ]);
    assert.equal(state.messages[0]!.pendingStep?.key, 'campaign:welcome#1', 'the step is kept while its delivery is in flight');
    assert.equal(state.stage, 'prospect');
    assert.equal(state.lastActivityAt, T0 + MINUTE);
    assert.equal(state.stats.events, 1);
    assert.equal(nextDeadline(state), undefined);
    assert.ok(hasPendingDeliveries(state));
  });
});

describe('trial', () => {
  test('"Trial Started" moves prospect to trial, arms trial_end at +30 days and schedules trial_ending at +27 days', () => {
    const started = run(coaching, startJourney(coaching, USER, T0).state, ev('Signed Up', T0)).state;
    const { state, commands } = step(coaching, started, ev('Trial Started', T0 + HOUR, { messageId: 'trial-1' }));
    assert.deepEqual(commands, []);
    assert.equal(state.stage, 'trial');
    assert.equal(state.previousStage, 'prospect');
    assert.deepEqual(state.stageHistory.at(-1), { stage: 'trial', from: 'prospect', at: T0 + HOUR, cause: { kind: 'event', event: 'Trial Started', messageId: 'trial-1' } });
    assert.deepEqual(timerDeadline(state, 'trial_end'), {
      kind: 'timer',
      key: 'timer:trial_end',
      timerId: 'trial_end',
      summary: 'trial ends',
      at: T0 + HOUR + 30 * DAY,
      anchorAt: T0 + HOUR,
      occurrence: 1,
    });
    const reminder = campaignDeadline(state, 'trial_ending');
    assert.ok(reminder);
    assert.equal(reminder.at, T0 + HOUR + 27 * DAY);
    assert.equal(reminder.because, '3 days before trial ends');
    assert.equal(reminder.timerId, 'trial_end');
    assert.equal(reminder.occurrence, 1);
    assert.equal(nextDeadline(state)?.key, reminder.key, 'the reminder comes before the trial ends');
  });

  test('ticking to +27 days sends trial_ending; ticking to +30 days moves the customer to churned by the timer', () => {
    const trial = inTrial();
    const early = step(coaching, trial, tick(T0 + 27 * DAY - 1));
    assert.deepEqual(early.commands, [], 'nothing is due a millisecond early');

    const reminder = step(coaching, early.state, tick(T0 + 27 * DAY));
    assert.deepEqual(deliveredKeys(reminder.commands), [`customer-${USER}/trial_ending/1`]);
    assert.equal(reminder.state.stage, 'trial');
    const record = reminder.state.messages.find((m) => m.campaignId === 'trial_ending');
    assert.equal(record?.status, 'pending');
    assert.equal(record?.dueAt, T0 + 27 * DAY);

    const end = step(coaching, reminder.state, tick(T0 + 30 * DAY));
    assert.deepEqual(end.commands, []);
    assert.equal(end.state.stage, 'churned');
    assert.equal(end.state.stageEnteredAt, T0 + 30 * DAY);
    assert.deepEqual(end.state.stageHistory.at(-1), { stage: 'churned', from: 'trial', at: T0 + 30 * DAY, cause: { kind: 'timer', timer: 'trial_end', summary: 'trial ends' } });
    assert.deepEqual(end.state.deadlines, []);
  });

  test('one late tick fires everything due, in order; a marketing step that missed its moment is skipped, not sent late', () => {
    const { state, commands } = step(coaching, inTrial(), tick(T0 + 45 * DAY));
    assert.deepEqual(deliveredKeys(commands), []);
    const reminder = state.messages.find((m) => m.campaignId === 'trial_ending');
    assert.equal(reminder?.status, 'skipped');
    assert.match(reminder?.reason ?? '', /missed its moment: due .*, 18 days late/);
    assert.equal(state.stage, 'churned');
    assert.equal(state.stageEnteredAt, T0 + 30 * DAY, 'the stage changed when the timer was due, not when the tick came');
    assert.equal(state.clock, T0 + 45 * DAY);
  });

  test('"Subscription Started" during the trial: subscriber, plan set, timer disarmed, reminder cancelled, nothing fires later', () => {
    const { state, commands } = step(coaching, inTrial(), ev('Subscription Started', T0 + 10 * DAY, { properties: { plan: 'light' } }));
    assert.deepEqual(commands, []);
    assert.equal(state.stage, 'subscriber');
    assert.deepEqual(state.attributes, { plan: 'light' });
    assert.deepEqual(state.deadlines, [], 'no trial timer and no reminder left');
    const reminders = state.messages.filter((m) => m.campaignId === 'trial_ending');
    assert.equal(reminders.length, 1);
    assert.equal(reminders[0]!.status, 'cancelled');
    assert.equal(reminders[0]!.dueAt, T0 + 27 * DAY);
    assert.equal(reminders[0]!.at, T0 + 10 * DAY);
    assert.match(reminders[0]!.reason ?? '', /Subscription Started/);
    assert.ok(!hasPendingDeliveries({ ...state, messages: reminders }));

    const later = run(coaching, state, tick(T0 + 27 * DAY), tick(T0 + 30 * DAY), tick(T0 + 90 * DAY));
    assert.deepEqual(later.all, []);
    assert.equal(later.state.stage, 'subscriber');
    assert.deepEqual(later.state.messages, state.messages);
    assert.deepEqual(later.state.stageHistory, state.stageHistory);
  });

  test('the plan attribute takes declared values only, follows "Plan Changed", and is cleared on churn', () => {
    let state = step(coaching, inTrial(), ev('Plan Changed', T0 + DAY, { properties: { plan: 'platinum' } })).state;
    assert.deepEqual(state.attributes, {}, 'a value the definition does not declare is ignored');
    state = step(coaching, state, ev('Plan Changed', T0 + 2 * DAY, { properties: { plan: 'full' } })).state;
    assert.deepEqual(state.attributes, { plan: 'full' });
    assert.equal(state.stage, 'trial');
    state = step(coaching, state, tick(T0 + 30 * DAY)).state;
    assert.equal(state.stage, 'churned');
    assert.deepEqual(state.attributes, {});
  });
});

describe('event delivery and time', () => {
  test('a duplicate messageId is applied once: duplicates counted, no commands, nothing else changes', () => {
    const once = step(coaching, startJourney(coaching, USER, T0).state, ev('Signed Up', T0, { messageId: 'm-1' }));
    const twice = step(coaching, once.state, ev('Signed Up', T0 + MINUTE, { messageId: 'm-1' }));
    assert.deepEqual(twice.commands, []);
    assert.equal(twice.state.stats.duplicates, 1);
    assert.deepEqual({ ...twice.state, stats: { ...twice.state.stats, duplicates: 0 } }, once.state);
  });

  test('an event older than the journey clock is applied at the clock: time never goes backwards', () => {
    const ticked = step(coaching, startJourney(coaching, USER, T0).state, tick(T0 + 10 * DAY)).state;
    assert.equal(ticked.clock, T0 + 10 * DAY);
    const { state } = step(coaching, ticked, ev('Trial Started', T0 + 10 * DAY, { timestamp: T0 + 2 * DAY }));
    assert.equal(state.stage, 'trial');
    assert.equal(state.stageEnteredAt, T0 + 10 * DAY);
    assert.equal(state.clock, T0 + 10 * DAY);
    assert.equal(timerDeadline(state, 'trial_end')?.at, T0 + 40 * DAY);
  });

  test('an event timestamp after "now" is taken as now; an unreadable timestamp means now', () => {
    const started = startJourney(coaching, USER, T0).state;
    const future = step(coaching, started, ev('Trial Started', T0 + DAY, { timestamp: T0 + 5 * DAY })).state;
    assert.equal(future.stageEnteredAt, T0 + DAY);
    const garbled: JourneyInput = { type: 'event', now: T0 + 2 * DAY, event: { messageId: 'g-1', event: 'Trial Started', timestamp: 'yesterday-ish' } };
    assert.equal(step(coaching, started, garbled).state.stageEnteredAt, T0 + 2 * DAY);
  });

  test('an event stamped in the past fires the deadlines due before it first, in order', () => {
    const { state, commands } = step(coaching, inTrial(), ev('Subscription Started', T0 + 35 * DAY, { timestamp: T0 + 31 * DAY, properties: { plan: 'light' }, messageId: 'sub-1' }));
    assert.deepEqual(deliveredKeys(commands), [], 'the reminder was due on day 27, 8 days before the event arrived');
    assert.deepEqual(
      state.stageHistory.map((h) => [h.stage, h.at, h.cause.kind]),
      [
        ['prospect', T0, 'start'],
        ['trial', T0, 'event'],
        ['churned', T0 + 30 * DAY, 'timer'],
        ['subscriber', T0 + 31 * DAY, 'event'],
      ],
    );
    assert.deepEqual(state.attributes, { plan: 'light' }, 'the plan set by the event survives the churn that came before it');
    const reminder = state.messages.find((m) => m.campaignId === 'trial_ending');
    assert.equal(reminder?.status, 'skipped');
    assert.equal(reminder?.dueAt, T0 + 27 * DAY);
  });

  test('a marketing step less than a day late is still sent; maxLateness overrides the default', () => {
    const slightlyLate = step(coaching, inTrial(), tick(T0 + 27 * DAY + 20 * 3_600_000));
    assert.deepEqual(deliveredKeys(slightlyLate.commands), [`customer-${USER}/trial_ending/1`]);
    const strict = parseDefinition({
      ...structuredClone(COACHING_RAW),
      campaigns: COACHING_RAW.campaigns.map((c: { id: string }) => (c.id === 'trial_ending' ? { ...c, maxLateness: '1 hour' } : c)),
    }).plan;
    const strictTrial = run(strict, startJourney(strict, USER, T0).state, ev('Trial Started', T0, { messageId: 'trial-1' })).state;
    const skipped = step(strict, strictTrial, tick(T0 + 27 * DAY + 2 * 3_600_000));
    assert.deepEqual(deliveredKeys(skipped.commands), []);
  });

  test('backfill: "Trial Started" stamped 40 days ago ends, once ticked to now, in churned, with the reminder due before it', () => {
    const now = T0 + 40 * DAY;
    const started = startJourney(coaching, USER, T0).state;
    const afterEvent = step(coaching, started, ev('Trial Started', now, { timestamp: T0, messageId: 'trial-old' }));
    assert.equal(afterEvent.state.stageHistory[1]?.at, T0, 'the trial started when the event says');
    assert.ok((nextDeadline(afterEvent.state)?.at ?? Infinity) <= now, 'what was due since is due now');

    const { state, all } = run(coaching, afterEvent.state, tick(now));
    assert.equal(state.stage, 'churned');
    assert.deepEqual(
      state.stageHistory.map((h) => [h.stage, h.at]),
      [
        ['prospect', T0],
        ['trial', T0],
        ['churned', T0 + 30 * DAY],
      ],
    );
    const reminders = state.messages.filter((m) => m.campaignId === 'trial_ending');
    assert.equal(reminders.length, 1, 'the trial_ending step is recorded once');
    assert.equal(reminders[0]!.dueAt, T0 + 27 * DAY);
    assert.ok(reminders[0]!.at < T0 + 30 * DAY, 'it was settled while the customer was still in trial');
    assert.equal(deliveredKeys([...afterEvent.commands, ...all]).length, reminders[0]!.status === 'pending' ? 1 : 0);
    assert.deepEqual(state.deadlines, []);
    assert.equal(state.clock, now);
  });

  test('a delivery outcome settles the message; a second outcome for the same key is ignored', () => {
    const sent = step(coaching, startJourney(coaching, USER, T0).state, ev('Signed Up', T0)).state;
    const key = deliveryKey(USER, 'welcome', 1);

    const settled = step(coaching, sent, { type: 'delivery', now: T0 + MINUTE, key, outcome: { status: 'sent', provider: 'sendgrid', providerMessageId: 'sg-1' } });
    assert.deepEqual(settled.commands, []);
    const message = settled.state.messages.find((m) => m.key === key);
    assert.equal(message?.status, 'sent');
    assert.equal(message?.providerMessageId, 'sg-1');
    assert.equal(message?.at, T0 + MINUTE);
    assert.ok(!hasPendingDeliveries(settled.state));

    const again = step(coaching, settled.state, { type: 'delivery', now: T0 + HOUR, key, outcome: { status: 'failed', reason: 'bounced' } });
    assert.deepEqual(again.state, settled.state);

    const unknown = step(coaching, settled.state, { type: 'delivery', now: T0 + HOUR, key: 'customer-u1/nope/1', outcome: { status: 'sent', provider: 'outbox' } });
    assert.deepEqual(unknown.state, settled.state);
  });

  test('skipped, failed and duplicate-send outcomes keep their reason', () => {
    const sent = step(coaching, startJourney(coaching, USER, T0).state, ev('Signed Up', T0)).state;
    const key = deliveryKey(USER, 'welcome', 1);
    const skipped = step(coaching, sent, { type: 'delivery', now: T0 + 1, key, outcome: { status: 'skipped', reason: 'no email address' } }).state;
    assert.deepEqual([skipped.messages[0]!.status, skipped.messages[0]!.reason], ['skipped', 'no email address']);
    const failed = step(coaching, sent, { type: 'delivery', now: T0 + 1, key, outcome: { status: 'failed', reason: 'provider down' } }).state;
    assert.deepEqual([failed.messages[0]!.status, failed.messages[0]!.reason], ['failed', 'provider down']);
    const dup = step(coaching, sent, { type: 'delivery', now: T0 + 1, key, outcome: { status: 'sent', provider: 'sendgrid', duplicate: true } }).state;
    assert.equal(dup.messages[0]!.status, 'sent');
    assert.match(dup.messages[0]!.reason ?? '', /already delivered/);
  });

  test('profile changes ask for a segment evaluation; segment results are stored sorted and unique', () => {
    const started = startJourney(coaching, USER, T0).state;
    const profile = step(coaching, started, { type: 'profile', now: T0 + 1, change: { traits: ['email'] } });
    assert.deepEqual(profile.commands, [{ type: 'evaluateSegments' }]);
    assert.deepEqual(profile.state, started);
    const segs = step(coaching, started, { type: 'segments', now: T0 + 1, segments: ['vip', 'reachable_by_email', 'vip'] });
    assert.deepEqual(segs.commands, []);
    assert.deepEqual(segs.state.segments, ['reachable_by_email', 'vip']);
  });
});

describe('campaign audience and exits (inline definitions)', () => {
  const tips = planOf(
    minimalDefinition({
      campaigns: [
        { id: 'tips', name: 'Lead tips', kind: 'marketing', trigger: { event: 'Signed Up' }, delay: '2 days', audience: { stages: ['lead'] }, message: { template: 'hello' } },
        { id: 'survey', name: 'Survey', kind: 'marketing', trigger: { event: 'Signed Up' }, delay: '3 days', exitOn: { stageChange: true }, message: { template: 'hello' } },
      ],
    }),
  );

  test('a campaign whose audience stage no longer matches when it is due is recorded as skipped, with a reason', () => {
    const { state, all } = run(tips, startJourney(tips, USER, T0).state, ev('Signed Up', T0), ev('Bought', T0 + DAY), tick(T0 + 2 * DAY));
    assert.equal(state.stage, 'customer');
    assert.ok(!deliveredKeys(all).includes(deliveryKey(USER, 'tips', 1)));
    const tip = state.messages.find((m) => m.campaignId === 'tips');
    assert.equal(tip?.status, 'skipped');
    assert.equal(tip?.at, T0 + 2 * DAY);
    assert.match(tip?.reason ?? '', /stage is customer, campaign is for lead/);
  });

  test('the same campaign is delivered when the customer is still in its audience', () => {
    const { all } = run(tips, startJourney(tips, USER, T0).state, ev('Signed Up', T0), tick(T0 + 2 * DAY));
    assert.deepEqual(deliveredKeys(all), [deliveryKey(USER, 'tips', 1)]);
  });

  test('exitOn.stageChange cancels a pending step when the stage changes', () => {
    const { state, all } = run(tips, startJourney(tips, USER, T0).state, ev('Signed Up', T0), ev('Bought', T0 + DAY), tick(T0 + 5 * DAY));
    assert.deepEqual(deliveredKeys(all), []);
    const survey = state.messages.find((m) => m.campaignId === 'survey');
    assert.equal(survey?.status, 'cancelled');
    assert.match(survey?.reason ?? '', /stage changed from lead to customer/);
  });

  test('a step due exactly when its timer fires goes first: "on the day the trial ends" is still in trial', () => {
    const plan = planOf(
      minimalDefinition({
        stages: [{ id: 'lead' }, { id: 'trial' }, { id: 'lapsed' }],
        timers: [{ id: 'trial_end', summary: 'trial ends', after: '7 days', anchor: 'stageEntry', whileIn: ['trial'] }],
        transitions: [
          { from: ['lead'], on: { event: 'Trial Started' }, to: 'trial' },
          { from: ['trial'], on: { timer: 'trial_end' }, to: 'lapsed' },
        ],
        campaigns: [{ id: 'last_day', name: 'Last day', kind: 'marketing', trigger: { timer: 'trial_end' }, audience: { stages: ['trial'] }, message: { template: 'hello' } }],
      }),
    );
    const inTrialState = step(plan, startJourney(plan, USER, T0).state, ev('Trial Started', T0)).state;
    assert.equal(nextDeadline(inTrialState)?.kind, 'campaign');
    const { state, commands } = step(plan, inTrialState, tick(T0 + 7 * DAY));
    assert.deepEqual(deliveredKeys(commands), [deliveryKey(USER, 'last_day', 1)]);
    assert.equal(state.stage, 'lapsed');
  });
});

describe('@previous and lastActivity timers (inline definition)', () => {
  const engagement = planOf({
    id: 'engagement',
    name: 'Engagement',
    initialStage: 'active',
    stages: [{ id: 'active' }, { id: 'dormant' }, { id: 'paused' }],
    timers: [{ id: 'inactive', summary: 'a week without activity', after: '7 days', anchor: 'lastActivity', whileIn: ['active'] }],
    transitions: [
      { from: ['active'], on: { timer: 'inactive' }, to: 'dormant' },
      { from: ['dormant'], on: { event: 'App Opened' }, to: 'active' },
      { from: '*', on: { event: 'Paused' }, to: 'paused' },
      { from: ['paused'], on: { event: 'Resumed' }, to: '@previous' },
    ],
    campaigns: [{ id: 'nudge', name: 'Nudge', kind: 'marketing', trigger: { timer: 'inactive', offset: '-2 days' }, audience: { stages: ['active'] }, message: { template: 'nudge' } }],
    templates: [{ id: 'nudge', locales: { en: { subject: 'We miss you', html: '<p>Come back</p>' } } }],
  });

  test('a lastActivity timer is armed from the start and re-armed by every event, moving its step along', () => {
    const started = startJourney(engagement, USER, T0).state;
    assert.equal(timerDeadline(started, 'inactive')?.at, T0 + 7 * DAY);
    assert.equal(campaignDeadline(started, 'nudge')?.at, T0 + 5 * DAY);

    const active = step(engagement, started, ev('App Opened', T0 + 3 * DAY)).state;
    assert.equal(active.stage, 'active');
    assert.deepEqual(timerDeadline(active, 'inactive'), { kind: 'timer', key: 'timer:inactive', timerId: 'inactive', summary: 'a week without activity', at: T0 + 10 * DAY, anchorAt: T0 + 3 * DAY, occurrence: 1 });
    const nudge = campaignDeadline(active, 'nudge');
    assert.equal(nudge?.at, T0 + 8 * DAY);
    assert.equal(nudge?.occurrence, 1, 'the same step moved, not a second one');

    const quiet = run(engagement, active, tick(T0 + 7 * DAY));
    assert.deepEqual(quiet.all, []);
    assert.equal(quiet.state.stage, 'active', 'the original deadline no longer applies');

    const nudged = step(engagement, quiet.state, tick(T0 + 8 * DAY));
    assert.deepEqual(deliveredKeys(nudged.commands), [deliveryKey(USER, 'nudge', 1)]);

    const dormant = step(engagement, nudged.state, tick(T0 + 10 * DAY)).state;
    assert.equal(dormant.stage, 'dormant');
    assert.deepEqual(dormant.stageHistory.at(-1)?.cause, { kind: 'timer', timer: 'inactive', summary: 'a week without activity' });
  });

  test('coming back re-arms the timer from the event', () => {
    const dormant = step(engagement, startJourney(engagement, USER, T0).state, tick(T0 + 7 * DAY)).state;
    assert.equal(dormant.stage, 'dormant');
    assert.deepEqual(dormant.deadlines, []);
    const back = step(engagement, dormant, ev('App Opened', T0 + 20 * DAY)).state;
    assert.equal(back.stage, 'active');
    assert.equal(timerDeadline(back, 'inactive')?.at, T0 + 27 * DAY);
    assert.equal(campaignDeadline(back, 'nudge')?.occurrence, 2);
  });

  test('"@previous" returns to the stage the customer came from', () => {
    const paused = step(engagement, startJourney(engagement, USER, T0).state, ev('Paused', T0 + DAY)).state;
    assert.equal(paused.stage, 'paused');
    assert.equal(paused.previousStage, 'active');
    assert.equal(timerDeadline(paused, 'inactive'), undefined, 'the timer only runs while active');
    assert.equal(paused.messages.find((m) => m.campaignId === 'nudge')?.status, 'cancelled');

    const resumed = step(engagement, paused, ev('Resumed', T0 + 3 * DAY, { messageId: 'resume-1' })).state;
    assert.equal(resumed.stage, 'active');
    assert.equal(resumed.previousStage, 'paused');
    assert.deepEqual(resumed.stageHistory.at(-1), { stage: 'active', from: 'paused', at: T0 + 3 * DAY, cause: { kind: 'event', event: 'Resumed', messageId: 'resume-1' } });
    assert.equal(timerDeadline(resumed, 'inactive')?.at, T0 + 10 * DAY);

    const fromDormant = run(engagement, startJourney(engagement, USER, T0).state, tick(T0 + 7 * DAY), ev('Paused', T0 + 8 * DAY), ev('Resumed', T0 + 9 * DAY)).state;
    assert.deepEqual(stagesOf(fromDormant), ['active', 'dormant', 'paused', 'dormant']);
  });
});

describe('purity', () => {
  test('step never mutates the state it is given', () => {
    const inputs: JourneyInput[] = [
      ev('Signed Up', T0, { messageId: 'p-1' }),
      ev('Signed Up', T0, { messageId: 'p-1' }),
      { type: 'delivery', now: T0 + MINUTE, key: deliveryKey(USER, 'welcome', 1), outcome: { status: 'sent', provider: 'outbox' } },
      ev('Trial Started', T0 + HOUR),
      { type: 'segments', now: T0 + 2 * HOUR, segments: ['reachable_by_email'] },
      { type: 'profile', now: T0 + 2 * HOUR, change: { traits: ['email'] } },
      ev('Plan Changed', T0 + DAY, { properties: { plan: 'full' } }),
      tick(T0 + 27 * DAY),
      ev('Subscription Started', T0 + 28 * DAY, { properties: { plan: 'light' } }),
      tick(T0 + 60 * DAY),
    ];
    let state = startJourney(coaching, USER, T0).state;
    for (const input of inputs) {
      const before = JSON.stringify(state);
      deepFreeze(state);
      const result = step(coaching, state, input);
      assert.equal(JSON.stringify(state), before, `input ${input.type} left its state as it was`);
      assert.notEqual(result.state, state);
      state = result.state;
    }
    assert.equal(state.stage, 'subscriber');
  });

  test('nothing the core does changes a plan: a frozen one gives the same passes (a worker shares one per version among journeys)', async () => {
    const { plan: coachingLive } = await loadDefinitionFile('definitions/coachinglive.yaml');
    const frozen = deepFreeze(structuredClone(coachingLive));
    const inputs: JourneyInput[] = [
      ev('Signed Up', T0, { messageId: 'f-1' }),
      ev('Trial Started', T0 + HOUR),
      { type: 'segments', now: T0 + 2 * HOUR, segments: ['reachable_by_email'] },
      ev('Workout Logged', T0 + DAY, { properties: { programme: 'yoga' } }),
      tick(T0 + 27 * DAY),
      ev('Subscription Started', T0 + 28 * DAY, { properties: { plan: 'light' } }),
      tick(T0 + 90 * DAY),
    ];
    const passes = (plan: JourneyPlan) => {
      const opening = openingPass(plan, USER, T0, inputs.slice(0, 1));
      const out: unknown[] = [opening.commands];
      let state = opening.state;
      for (const input of inputs.slice(1)) {
        const result = core.step(plan, state, input);
        out.push(result.commands, journeyView(plan, result.state), searchAttributesOf(plan, result.state));
        state = result.state;
      }
      return out;
    };
    assert.deepEqual(passes(frozen), passes(coachingLive));
  });
});

describe('journey views', () => {
  test('searchAttributesOf reports the stage, the segments and Plan (null until set)', () => {
    const trial = inTrial();
    assert.deepEqual(searchAttributesOf(coaching, trial), { LifecycleStage: 'trial', Segments: [], keywords: { Plan: null } });
    const subscribed = run(coaching, trial, { type: 'segments', now: T0 + 1, segments: ['reachable_by_email'] }, ev('Subscription Started', T0 + DAY, { properties: { plan: 'light' } })).state;
    assert.deepEqual(searchAttributesOf(coaching, subscribed), { LifecycleStage: 'subscriber', Segments: ['reachable_by_email'], keywords: { Plan: 'light' } });
  });

  test('currentDetails tells the stage, its cause, the plan, what comes next and how many messages went out', () => {
    const trial = inTrial();
    assert.equal(
      currentDetails(coaching, trial),
      'In trial since 2026-01-01 00:00 UTC (event "Trial Started" (trial-1)) · next: send Trial ending reminder at 2026-01-28 00:00 UTC · 0 messages sent',
    );
    const key = deliveryKey(USER, 'welcome', 1);
    const subscribed = run(
      coaching,
      trial,
      { type: 'delivery', now: T0 + MINUTE, key, outcome: { status: 'sent', provider: 'sendgrid' } },
      ev('Subscription Started', T0 + DAY, { properties: { plan: 'full' }, messageId: 'sub-9' }),
    ).state;
    assert.equal(currentDetails(coaching, subscribed), 'Subscriber since 2026-01-02 00:00 UTC (event "Subscription Started" (sub-9)) · plan full · nothing scheduled · 1 message sent');
  });

  test('journeyView shows stage, label, plan, history, pending timers and steps, and messages', () => {
    const view = journeyView(coaching, inTrial());
    assert.equal(view.userId, USER);
    assert.equal(view.workflowId, workflowIdFor(USER));
    assert.equal(view.workflowId, 'customer-u1');
    assert.deepEqual(view.definition, { id: 'trial_basics', version: coaching.version });
    assert.equal(view.stage, 'trial');
    assert.equal(view.stageLabel, 'In trial');
    assert.equal(view.stageEnteredAt, '2026-01-01T00:00:00.000Z');
    assert.equal(view.plan, null);
    assert.equal(view.lastActivityAt, '2026-01-01T00:00:00.000Z');
    assert.deepEqual(view.stages, [
      { stage: 'prospect', from: null, at: '2026-01-01T00:00:00.000Z', why: 'journey started' },
      { stage: 'trial', from: 'prospect', at: '2026-01-01T00:00:00.000Z', why: 'event "Trial Started" (trial-1)' },
    ]);
    assert.deepEqual(view.pending, [
      { kind: 'campaign', what: 'send Trial ending reminder', at: '2026-01-28T00:00:00.000Z', because: '3 days before trial ends' },
      { kind: 'timer', what: 'trial ends', at: '2026-01-31T00:00:00.000Z' },
    ]);
    assert.deepEqual(view.messages, [
      { key: 'customer-u1/welcome/1', campaignId: 'welcome', occurrence: 1, kind: 'transactional', status: 'pending', dueAt: '2026-01-01T00:00:00.000Z', at: '2026-01-01T00:00:00.000Z' },
    ]);
    assert.equal(view.summary, currentDetails(coaching, inTrial()));
    assert.deepEqual(view.stats, { events: 2, duplicates: 0, runs: 1, reactivations: 0, everLoyal: false });

    const churned = journeyView(coaching, step(coaching, inTrial(), tick(T0 + 30 * DAY)).state);
    assert.equal(churned.stageLabel, 'Churned');
    assert.deepEqual(churned.pending, []);
    assert.equal(churned.stages.at(-1)?.why, 'timer: trial ends');

    const subscribed = journeyView(coaching, step(coaching, inTrial(), ev('Subscription Started', T0 + DAY, { properties: { plan: 'light' } })).state);
    assert.equal(subscribed.plan, 'light');
    assert.deepEqual(subscribed.attributes, { plan: 'light' });
    assert.equal(subscribed.messages.find((m) => m.campaignId === 'trial_ending')?.status, 'cancelled');
    assert.ok(subscribed.messages.find((m) => m.campaignId === 'trial_ending')?.reason);
  });
});
