/**
 * One rule of the pure core per test, each against a small inline definition: counters, conditions,
 * activity, timers, campaign triggers, limits and exits, experiments, caps, offers, consent, conversions,
 * deferrals, lateness, broadcasts and the read-model records.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JourneyDefinitionInput, JourneyPlan } from '../../src/core/journey-definition.js';
import type { JourneyFact } from '../../src/core/journey-facts.js';
import type { Deadline, DeliveryOutcome, DeliveryRequest, JourneyCommand, JourneyInput, JourneyState, MessageRecord } from '../../src/core/journey-state.js';
import { journeyView } from '../../src/core/journey-view.js';
import { startJourney, step } from '../../src/core/journey-reducer.js';
import { nextDeadline } from '../../src/core/deadlines.js';
import { addMonths } from '../../src/core/dates.js';
import { bucketOf, deliveryKey } from '../../src/core/ids.js';
import { loadDefinitionFile } from '../../src/definition-store/load-definition.js';
import { COACHINGLIVE_PATH, DAY, HOUR, MINUTE, T0, ev, minimalDefinition, planOf, stagesOf, tick } from './fixtures.js';

const USER = 'u1';
const SENT: DeliveryOutcome = { status: 'sent', provider: 'outbox' };
type CampaignDeadline = Extract<Deadline, { kind: 'campaign' }>;
type TimerDeadline = Extract<Deadline, { kind: 'timer' }>;
type CampaignInput = NonNullable<JourneyDefinitionInput['campaigns']>[number];

/** Templates for the ids a test's campaigns use (the graph check wants every one declared). */
function templates(...ids: string[]): JourneyDefinitionInput['templates'] {
  return ['hello', ...ids].map((id) => ({ id, locales: { en: { subject: id, html: `<p>${id}</p>` } } }));
}

/** A marketing campaign on an event, sending `hello`, with whatever a test overrides. */
function marketing(id: string, event: string, overrides: Partial<CampaignInput> = {}): CampaignInput {
  return { id, name: id[0]!.toUpperCase() + id.slice(1), kind: 'marketing', trigger: { event }, message: { template: 'hello' }, ...overrides };
}

/**
 * One customer's journey through the core: keeps the state and every command. With `autoSend`, every
 * delivery is answered at once with "sent" (as the workflow does when the activity succeeds).
 */
class Journey {
  state: JourneyState;
  readonly commands: JourneyCommand[] = [];
  /** The results of each apply(), records included. */
  readonly results: Array<{ input: JourneyInput | 'start'; before: JourneyState | null; commands: JourneyCommand[]; state: JourneyState }> = [];
  readonly autoSend: boolean;

  constructor(
    readonly plan: JourneyPlan,
    opts: { userId?: string; at?: number; autoSend?: boolean } = {},
  ) {
    const started = startJourney(plan, opts.userId ?? USER, opts.at ?? T0);
    this.state = started.state;
    this.autoSend = opts.autoSend ?? true;
    this.commands.push(...started.commands);
    this.results.push({ input: 'start', before: null, commands: started.commands, state: started.state });
  }

  apply(input: JourneyInput): JourneyCommand[] {
    const before = this.state;
    const result = step(this.plan, this.state, input);
    this.state = result.state;
    this.commands.push(...result.commands);
    this.results.push({ input, before, commands: result.commands, state: result.state });
    const out = [...result.commands];
    if (this.autoSend) {
      for (const c of result.commands) if (c.type === 'deliver') out.push(...this.deliver(c.request.key, input.now, SENT));
    }
    return out;
  }

  event(name: string, at: number, properties?: Record<string, unknown>): JourneyCommand[] {
    return this.apply(ev(name, at, properties ? { properties } : {}));
  }

  tick(at: number): JourneyCommand[] {
    return this.apply(tick(at));
  }

  deliver(key: string, now: number, outcome: DeliveryOutcome): JourneyCommand[] {
    return this.apply({ type: 'delivery', now, key, outcome });
  }

  requests(): DeliveryRequest[] {
    return requestsOf(this.commands);
  }

  facts(): JourneyFact[] {
    return factsOf(this.commands);
  }

  message(campaignId: string, occurrence = 1): MessageRecord | undefined {
    return this.state.messages.find((m) => m.campaignId === campaignId && m.occurrence === occurrence);
  }

  campaignDeadlines(campaignId?: string): CampaignDeadline[] {
    return this.state.deadlines.filter((d): d is CampaignDeadline => d.kind === 'campaign' && (campaignId === undefined || d.campaignId === campaignId));
  }

  timer(timerId: string): TimerDeadline | undefined {
    return this.state.deadlines.find((d): d is TimerDeadline => d.kind === 'timer' && d.timerId === timerId);
  }

  /** Tick to every deadline up to `to`, one by one, as the workflow's timer would, then to `to`. */
  runUntil(to: number): void {
    for (let next = nextDeadline(this.state); next && next.at <= to; next = nextDeadline(this.state)) this.tick(next.at);
    this.tick(to);
  }
}

function requestsOf(commands: JourneyCommand[]): DeliveryRequest[] {
  return commands.flatMap((c) => (c.type === 'deliver' ? [c.request] : []));
}

function factsOf(commands: JourneyCommand[]): JourneyFact[] {
  return commands.flatMap((c) => (c.type === 'record' ? c.batch.facts : []));
}

const key = (campaignId: string, occurrence = 1, userId = USER) => deliveryKey(userId, campaignId, occurrence);

// --- counters ----------------------------------------------------------------------------------------------

describe('counters', () => {
  const plan = planOf(
    minimalDefinition({
      counters: [
        { id: 'workouts', on: [{ event: 'Workout Logged' }] },
        { id: 'long_runs', on: [{ event: 'Workout Logged', where: { type: 'run', long: true } }] },
        { id: 'level_one', on: [{ event: 'Level Advanced', where: { level: 1 } }] },
        { id: 'payments', on: [{ event: 'Paid' }, { event: 'Renewed' }] },
        { id: 'never', on: [{ event: 'Never Happens' }] },
      ],
    }),
  );

  test('each matching event adds one; `where` must match every property exactly (type included); several events may feed one counter', () => {
    const j = new Journey(plan);
    j.event('Workout Logged', T0 + 1, { type: 'run', long: true });
    j.event('Workout Logged', T0 + 2, { type: 'run' });
    j.event('Workout Logged', T0 + 3, { type: 'yoga', long: true });
    j.event('Workout Logged', T0 + 4, { type: 'run', long: 'true' });
    j.event('Level Advanced', T0 + 5, { level: '1' });
    j.event('Level Advanced', T0 + 6, { level: 1 });
    j.event('Paid', T0 + 7);
    j.event('Renewed', T0 + 8);
    j.event('Something Else', T0 + 9);
    assert.deepEqual(j.state.counters, { workouts: 4, long_runs: 1, level_one: 1, payments: 2 }, 'a counter never incremented is absent (reads as 0)');
  });

  test('a duplicate event (same messageId) is counted once', () => {
    const j = new Journey(plan);
    j.apply(ev('Workout Logged', T0 + 1, { messageId: 'w-1' }));
    j.apply(ev('Workout Logged', T0 + 2, { messageId: 'w-1' }));
    assert.equal(j.state.counters.workouts, 1);
    assert.equal(j.state.stats.duplicates, 1);
  });
});

// --- conditions ----------------------------------------------------------------------------------------------

describe('conditions on transitions (`when`)', () => {
  /** lead --Check[when]--> customer; purchases count "Bought"; the plan comes from "Plan Set"; "Check" is not activity. */
  function planWhen(when: NonNullable<NonNullable<JourneyDefinitionInput['transitions']>[number]['when']>) {
    return planOf(
      minimalDefinition({
        activity: { ignore: ['Check'] },
        attributes: [{ id: 'plan', values: ['light', 'full'], setFrom: [{ event: 'Plan Set', property: 'plan' }] }],
        counters: [{ id: 'purchases', on: [{ event: 'Bought' }] }],
        transitions: [{ from: ['lead'], on: { event: 'Check' }, when, to: 'customer' }],
        campaigns: [],
      }),
    );
  }
  /** The stage after some events and then "Check" at `checkAt`. */
  function stageAfter(when: Parameters<typeof planWhen>[0], events: Array<[string, number, Record<string, unknown>?]>, checkAt: number): string {
    const j = new Journey(planWhen(when));
    for (const [name, at, properties] of events) j.event(name, at, properties);
    j.event('Check', checkAt);
    return j.state.stage;
  }
  const bought = (n: number): Array<[string, number]> => Array.from({ length: n }, (_, i) => ['Bought', T0 + i + 1] as [string, number]);

  test('counters gte / lte / eq', () => {
    const gte = { counters: { purchases: { gte: 2 } } };
    assert.equal(stageAfter(gte, bought(1), T0 + HOUR), 'lead');
    assert.equal(stageAfter(gte, bought(2), T0 + HOUR), 'customer');
    assert.equal(stageAfter(gte, bought(3), T0 + HOUR), 'customer');
    const lte = { counters: { purchases: { lte: 1 } } };
    assert.equal(stageAfter(lte, [], T0 + HOUR), 'customer', 'a counter never incremented is 0');
    assert.equal(stageAfter(lte, bought(1), T0 + HOUR), 'customer');
    assert.equal(stageAfter(lte, bought(2), T0 + HOUR), 'lead');
    const eq = { counters: { purchases: { eq: 1 } } };
    assert.equal(stageAfter(eq, [], T0 + HOUR), 'lead');
    assert.equal(stageAfter(eq, bought(1), T0 + HOUR), 'customer');
    assert.equal(stageAfter(eq, bought(2), T0 + HOUR), 'lead');
    const range = { counters: { purchases: { gte: 1, lte: 2 } } };
    assert.deepEqual([0, 1, 2, 3].map((n) => stageAfter(range, bought(n), T0 + HOUR)), ['lead', 'customer', 'customer', 'lead']);
  });

  test('attributes: one value or any of several; unset never matches', () => {
    const full = { attributes: { plan: 'full' } };
    assert.equal(stageAfter(full, [], T0 + HOUR), 'lead');
    assert.equal(stageAfter(full, [['Plan Set', T0 + 1, { plan: 'light' }]], T0 + HOUR), 'lead');
    assert.equal(stageAfter(full, [['Plan Set', T0 + 1, { plan: 'full' }]], T0 + HOUR), 'customer');
    const either = { attributes: { plan: ['light', 'full'] } };
    assert.equal(stageAfter(either, [], T0 + HOUR), 'lead');
    assert.equal(stageAfter(either, [['Plan Set', T0 + 1, { plan: 'light' }]], T0 + HOUR), 'customer');
  });

  test('activeWithin: the last activity event no longer ago than the duration (inclusive); never active fails', () => {
    const active = { activeWithin: '7 days' };
    assert.equal(stageAfter(active, [], T0 + HOUR), 'lead', 'no activity yet ("Check" itself is ignored)');
    assert.equal(stageAfter(active, [['Opened', T0]], T0 + 7 * DAY), 'customer');
    assert.equal(stageAfter(active, [['Opened', T0]], T0 + 7 * DAY + 1), 'lead');
  });

  test('inStageFor: at least this long in the current stage (inclusive)', () => {
    const settled = { inStageFor: '3 days' };
    assert.equal(stageAfter(settled, [], T0 + 3 * DAY - 1), 'lead');
    assert.equal(stageAfter(settled, [], T0 + 3 * DAY), 'customer');
  });

  test('all parts of a condition must hold', () => {
    const both = { counters: { purchases: { gte: 1 } }, attributes: { plan: 'full' } };
    assert.equal(stageAfter(both, bought(1), T0 + HOUR), 'lead');
    assert.equal(stageAfter(both, [['Plan Set', T0 + 1, { plan: 'full' }]], T0 + HOUR), 'lead');
    assert.equal(stageAfter(both, [['Plan Set', T0 + 1, { plan: 'full' }], ['Bought', T0 + 2]], T0 + HOUR), 'customer');
  });

  test('the first transition whose condition holds wins; a timer transition checks its condition when the timer fires', () => {
    const plan = planOf(
      minimalDefinition({
        stages: [{ id: 'lead' }, { id: 'customer' }, { id: 'vip' }, { id: 'gone' }],
        counters: [{ id: 'purchases', on: [{ event: 'Bought' }] }],
        timers: [{ id: 'review', summary: 'review time', after: '10 days', anchor: 'stageEntry', whileIn: ['lead'] }],
        transitions: [
          { from: ['lead'], on: { event: 'Check' }, when: { counters: { purchases: { gte: 2 } } }, to: 'vip' },
          { from: ['lead'], on: { event: 'Check' }, to: 'customer' },
          { from: ['lead'], on: { timer: 'review' }, when: { counters: { purchases: { eq: 0 } } }, to: 'gone' },
        ],
        campaigns: [],
      }),
    );
    const vip = new Journey(plan);
    vip.event('Bought', T0 + 1);
    vip.event('Bought', T0 + 2);
    vip.event('Check', T0 + 3);
    assert.equal(vip.state.stage, 'vip');
    const customer = new Journey(plan);
    customer.event('Check', T0 + 1);
    assert.equal(customer.state.stage, 'customer');

    const buyer = new Journey(plan);
    buyer.event('Bought', T0 + 1);
    buyer.tick(T0 + 10 * DAY);
    assert.equal(buyer.state.stage, 'lead', 'the timer fired but its transition condition failed');
    const idle = new Journey(plan);
    idle.tick(T0 + 10 * DAY);
    assert.equal(idle.state.stage, 'gone');
  });
});

describe('conditions on campaigns', () => {
  const plan = planOf(
    minimalDefinition({
      counters: [{ id: 'purchases', on: [{ event: 'Bought' }] }],
      stages: [{ id: 'lead' }],
      transitions: [],
      campaigns: [
        marketing('offer', 'Browsed', { delay: '2 days', conditions: { counters: { purchases: { eq: 0 } } } }),
        marketing('only_once', 'Browsed', { limit: 'once', conditions: { counters: { purchases: { gte: 1 } } } }),
        marketing('still_active', 'Browsed', { delay: '10 days', conditions: { activeWithin: '7 days' } }),
      ],
      activity: { ignore: ['Browsed'] },
    }),
  );

  test('not met at trigger time: nothing is scheduled and nothing recorded (silently)', () => {
    const j = new Journey(plan);
    j.event('Bought', T0);
    const commands = j.event('Browsed', T0 + HOUR);
    assert.deepEqual(j.campaignDeadlines('offer'), []);
    assert.equal(j.message('offer'), undefined);
    assert.deepEqual(requestsOf(commands).map((r) => r.campaignId), ['only_once'], 'no delivery of offer');
    assert.ok(!factsOf(commands).some((f) => 'campaignId' in f && f.campaignId === 'offer'), 'no fact about offer');
    assert.equal(j.state.campaignStarts.offer, undefined);
    assert.equal(j.state.occurrences.offer, undefined);
  });

  test('met at trigger time, not when due: recorded "skipped" with "conditions not met: ..." and a message fact', () => {
    const j = new Journey(plan);
    j.event('Browsed', T0);
    assert.equal(j.campaignDeadlines('offer').length, 1);
    j.event('Bought', T0 + DAY);
    const due = j.tick(T0 + 2 * DAY);
    assert.deepEqual(requestsOf(due), []);
    const m = j.message('offer');
    assert.equal(m?.status, 'skipped');
    assert.equal(m?.reason, 'conditions not met: purchases is 1, needs 0');
    assert.equal(m?.at, T0 + 2 * DAY);
    assert.deepEqual(
      factsOf(due).filter((f) => f.kind === 'message').map((f) => f.kind === 'message' && [f.campaignId, f.status, f.reason]),
      [['offer', 'skipped', 'conditions not met: purchases is 1, needs 0']],
    );
  });

  test('met both times: delivered', () => {
    const j = new Journey(plan);
    j.event('Opened', T0);
    j.event('Browsed', T0 + HOUR);
    j.tick(T0 + 2 * DAY + HOUR);
    assert.deepEqual(j.requests().map((r) => r.key), [key('offer')]);
  });

  test('activeWithin is measured at the due time: a customer active at trigger time but idle since is skipped', () => {
    const j = new Journey(plan);
    j.event('Opened', T0);
    j.event('Browsed', T0 + HOUR);
    j.tick(T0 + 10 * DAY + HOUR);
    assert.equal(j.message('still_active')?.status, 'skipped');
    assert.equal(j.message('still_active')?.reason, 'conditions not met: not active in the last 7 days');
  });

  test('a start refused by conditions does not use up `limit: once`', () => {
    const j = new Journey(plan);
    j.event('Browsed', T0);
    assert.equal(j.state.campaignStarts.only_once, undefined);
    j.event('Bought', T0 + HOUR);
    j.event('Browsed', T0 + 2 * HOUR);
    j.event('Browsed', T0 + 3 * HOUR);
    assert.deepEqual(
      j.requests().filter((r) => r.campaignId === 'only_once').map((r) => r.key),
      [key('only_once')],
    );
  });

  test('a campaign tied to a timer is scheduled at arm time regardless of its conditions, and checked when due', () => {
    const timed = planOf(
      minimalDefinition({
        stages: [{ id: 'lead' }, { id: 'trial' }],
        counters: [{ id: 'workouts', on: [{ event: 'Workout Logged' }] }],
        timers: [{ id: 'trial_end', summary: 'trial ends', after: '30 days', anchor: 'stageEntry', whileIn: ['trial'] }],
        transitions: [{ from: ['lead'], on: { event: 'Trial Started' }, to: 'trial' }],
        campaigns: [
          { id: 'keen', name: 'Keen', kind: 'marketing', trigger: { timer: 'trial_end', offset: '-3 days' }, conditions: { counters: { workouts: { gte: 3 } } }, message: { template: 'hello' } },
          { id: 'active', name: 'Active', kind: 'marketing', trigger: { timer: 'trial_end', offset: '-3 days' }, conditions: { activeWithin: '7 days' }, message: { template: 'hello' } },
        ],
      }),
    );
    const j = new Journey(timed);
    j.event('Trial Started', T0);
    // The comment in armTimer: "Conditions are re-checked when the step is due; a step tied to a timer is scheduled regardless."
    assert.deepEqual(j.campaignDeadlines().map((d) => [d.campaignId, d.at]).sort(), [['active', T0 + 27 * DAY], ['keen', T0 + 27 * DAY]]);
    for (let day = 1; day <= 27; day += 3) j.event('Workout Logged', T0 + day * DAY);
    j.runUntil(T0 + 27 * DAY);
    assert.deepEqual(j.requests().map((r) => r.campaignId).sort(), ['active', 'keen'], 'three workouts and active in the last week when due');
  });
});

// --- activity -------------------------------------------------------------------------------------------------

describe('activity: `on: {activity: true}` and `activity.ignore`', () => {
  const plan = planOf({
    id: 'engagement',
    name: 'Engagement',
    initialStage: 'active',
    stages: [{ id: 'active' }, { id: 'dormant' }],
    activity: { ignore: ['Email Opened', 'Payment Failed'] },
    counters: [{ id: 'opens', on: [{ event: 'Email Opened' }] }],
    timers: [{ id: 'idle', summary: 'a week without activity', after: '7 days', anchor: 'lastActivity', whileIn: ['active'] }],
    transitions: [
      { from: ['active'], on: { timer: 'idle' }, to: 'dormant' },
      { from: ['dormant'], on: { activity: true }, to: 'active' },
    ],
  });

  test('an ignored event is not activity: lastActivityAt stays, the lastActivity timer is not re-armed, but it still counts', () => {
    const j = new Journey(plan);
    j.event('App Opened', T0 + DAY);
    assert.equal(j.timer('idle')?.at, T0 + 8 * DAY);
    j.event('Email Opened', T0 + 5 * DAY);
    assert.equal(j.state.lastActivityAt, T0 + DAY);
    assert.equal(j.timer('idle')?.at, T0 + 8 * DAY);
    assert.equal(j.timer('idle')?.anchorAt, T0 + DAY);
    assert.equal(j.state.counters.opens, 1, 'ignored for activity, not for counters');
    j.tick(T0 + 8 * DAY);
    assert.equal(j.state.stage, 'dormant');
  });

  test('any activity event takes an `activity: true` transition; an ignored one does not', () => {
    const j = new Journey(plan);
    j.tick(T0 + 7 * DAY);
    assert.equal(j.state.stage, 'dormant');
    j.event('Email Opened', T0 + 8 * DAY);
    j.event('Payment Failed', T0 + 9 * DAY);
    assert.equal(j.state.stage, 'dormant');
    j.event('Some Brand New Event', T0 + 10 * DAY);
    assert.equal(j.state.stage, 'active');
    assert.deepEqual(j.state.stageHistory.at(-1)?.cause.kind, 'event');
    assert.equal(j.timer('idle')?.at, T0 + 17 * DAY, 'the return re-arms the lastActivity timer from the event');
  });
});

// --- timers ---------------------------------------------------------------------------------------------------

describe('timers: keepThrough', () => {
  const plan = planOf(
    minimalDefinition({
      stages: [{ id: 'lead' }, { id: 'trial' }, { id: 'lapsed' }, { id: 'churned' }, { id: 'customer' }],
      timers: [
        { id: 'trial_end', summary: 'trial ends', after: '30 days', anchor: 'stageEntry', whileIn: ['trial'], keepThrough: ['lapsed'] },
        { id: 'idle', summary: 'five days idle', after: '5 days', anchor: 'lastActivity', whileIn: ['trial'] },
      ],
      transitions: [
        { from: ['lead'], on: { event: 'Trial Started' }, to: 'trial' },
        { from: ['trial', 'lapsed'], on: { event: 'Paid' }, to: 'customer' },
        { from: ['trial', 'lapsed'], on: { timer: 'trial_end' }, to: 'churned' },
        { from: ['trial'], on: { timer: 'idle' }, to: 'lapsed' },
        { from: ['lapsed'], on: { activity: true }, to: '@previous' },
      ],
      campaigns: [
        { id: 'trial_ending', name: 'Trial ending', kind: 'transactional', trigger: { timer: 'trial_end', offset: '-3 days' }, audience: { stages: ['trial', 'lapsed'] }, message: { template: 'hello' } },
      ],
    }),
  );

  test('a trial timer survives a lapse and the return, is not restarted, and ends the trial from the lapsed stage', () => {
    const j = new Journey(plan);
    j.event('Trial Started', T0);
    const armed = j.timer('trial_end');
    assert.deepEqual([armed?.at, armed?.anchorAt], [T0 + 30 * DAY, T0]);
    j.tick(T0 + 5 * DAY);
    assert.equal(j.state.stage, 'lapsed');
    assert.deepEqual(j.timer('trial_end'), armed, 'kept as it was through the lapse');
    assert.equal(j.campaignDeadlines('trial_ending')[0]?.at, T0 + 27 * DAY);
    j.event('App Opened', T0 + 10 * DAY);
    assert.equal(j.state.stage, 'trial');
    assert.deepEqual(j.timer('trial_end'), armed, 'not restarted by the return into trial');
    assert.equal(j.timer('idle')?.at, T0 + 15 * DAY);
    j.runUntil(T0 + 31 * DAY);
    assert.deepEqual(stagesOf(j.state), ['lead', 'trial', 'lapsed', 'trial', 'lapsed', 'churned']);
    assert.deepEqual(j.state.stageHistory.at(-1), { stage: 'churned', from: 'lapsed', at: T0 + 30 * DAY, cause: { kind: 'timer', timer: 'trial_end', summary: 'trial ends' } });
    assert.deepEqual(j.requests().map((r) => r.key), [key('trial_ending')], 'the reminder went out to the lapsed trial customer');
  });

  test('a stage neither whileIn nor keepThrough disarms it and cancels its steps', () => {
    const j = new Journey(plan);
    j.event('Trial Started', T0);
    j.tick(T0 + 5 * DAY);
    j.event('Paid', T0 + 6 * DAY);
    assert.equal(j.state.stage, 'customer');
    assert.equal(j.timer('trial_end'), undefined);
    assert.equal(j.message('trial_ending')?.status, 'cancelled');
    assert.equal(j.message('trial_ending')?.reason, 'exited: left lapsed for customer');
  });
});

describe('timers: cancelOn and event anchors', () => {
  const plan = planOf(
    minimalDefinition({
      stages: [{ id: 'lead' }, { id: 'customer' }, { id: 'churned' }],
      timers: [
        {
          id: 'recovery',
          summary: 'payment not recovered',
          after: '14 days',
          anchor: { event: 'Payment Failed', where: { final: false } },
          whileIn: ['customer'],
          cancelOn: ['Payment Recovered'],
        },
      ],
      transitions: [
        { from: ['lead'], on: { event: 'Bought' }, to: 'customer' },
        { from: ['customer'], on: { timer: 'recovery' }, to: 'churned' },
      ],
      campaigns: [{ id: 'final_notice', name: 'Final notice', kind: 'transactional', trigger: { timer: 'recovery', offset: '-1 day' }, message: { template: 'hello' } }],
    }),
  );
  const failed = { final: false };

  test('an event anchor arms the timer from the event, only in a whileIn stage and only when its `where` matches', () => {
    const j = new Journey(plan);
    j.event('Payment Failed', T0, failed);
    assert.equal(j.timer('recovery'), undefined, 'not armed outside whileIn');
    j.event('Bought', T0 + DAY);
    j.event('Payment Failed', T0 + 2 * DAY, { final: true });
    assert.equal(j.timer('recovery'), undefined, 'where did not match');
    j.event('Payment Failed', T0 + 3 * DAY, failed);
    assert.deepEqual([j.timer('recovery')?.at, j.timer('recovery')?.anchorAt], [T0 + 17 * DAY, T0 + 3 * DAY]);
    assert.equal(j.campaignDeadlines('final_notice')[0]?.at, T0 + 16 * DAY);
  });

  test('each matching event re-arms it, moving its tied step (the same occurrence)', () => {
    const j = new Journey(plan);
    j.event('Bought', T0);
    j.event('Payment Failed', T0 + DAY, failed);
    j.event('Payment Failed', T0 + 4 * DAY, failed);
    assert.equal(j.timer('recovery')?.at, T0 + 18 * DAY);
    assert.deepEqual(j.campaignDeadlines('final_notice').map((d) => [d.occurrence, d.at]), [[1, T0 + 17 * DAY]]);
    j.runUntil(T0 + 16 * DAY);
    assert.equal(j.state.stage, 'customer', 'the first failure no longer counts');
    j.runUntil(T0 + 18 * DAY);
    assert.equal(j.state.stage, 'churned');
    assert.equal(j.state.stageHistory.at(-1)?.at, T0 + 18 * DAY);
    assert.deepEqual(j.requests().map((r) => r.key), [key('final_notice')]);
  });

  test('a cancelOn event disarms the timer and cancels its tied steps', () => {
    const j = new Journey(plan);
    j.event('Bought', T0);
    j.event('Payment Failed', T0 + DAY, failed);
    j.event('Payment Recovered', T0 + 5 * DAY);
    assert.equal(j.timer('recovery'), undefined);
    assert.equal(j.message('final_notice')?.status, 'cancelled');
    assert.equal(j.message('final_notice')?.reason, 'exited: "Payment Recovered" arrived');
    j.runUntil(T0 + 60 * DAY);
    assert.equal(j.state.stage, 'customer');
    assert.deepEqual(j.requests(), []);
  });
});

describe('timers: repeat monthly', () => {
  test('addMonths keeps the day of month where it exists, clamps to the month end otherwise, from the original date each time', () => {
    const jan31 = Date.UTC(2026, 0, 31, 10, 30);
    const iso = (ms: number) => new Date(ms).toISOString();
    assert.deepEqual(
      [1, 2, 3, 4, 12, 13].map((n) => iso(addMonths(jan31, n))),
      ['2026-02-28T10:30:00.000Z', '2026-03-31T10:30:00.000Z', '2026-04-30T10:30:00.000Z', '2026-05-31T10:30:00.000Z', '2027-01-31T10:30:00.000Z', '2027-02-28T10:30:00.000Z'],
    );
    assert.equal(iso(addMonths(Date.UTC(2024, 0, 31), 1)), '2024-02-29T00:00:00.000Z', 'leap year');
    assert.equal(iso(addMonths(Date.UTC(2026, 11, 15), 1)), '2027-01-15T00:00:00.000Z', 'across the year end');
    assert.equal(iso(addMonths(Date.UTC(2026, 2, 31), -1)), '2026-02-28T00:00:00.000Z', 'backwards too');
    assert.equal(addMonths(jan31, 0), jan31);
    // Chained, the day would drift (Jan 31 -> Feb 28 -> Mar 28); the timer counts from the anchor instead.
    assert.equal(iso(addMonths(addMonths(jan31, 1), 1)), '2026-03-28T10:30:00.000Z');
  });

  const plan = planOf(
    minimalDefinition({
      stages: [{ id: 'lead' }, { id: 'customer' }],
      timers: [{ id: 'renewal', summary: 'renews', repeat: 'monthly', anchor: { event: 'Subscribed' }, whileIn: ['customer'] }],
      transitions: [{ from: ['lead'], on: { event: 'Subscribed' }, to: 'customer' }],
      campaigns: [{ id: 'reminder', name: 'Reminder', kind: 'transactional', trigger: { timer: 'renewal', offset: '-3 days' }, message: { template: 'hello' } }],
    }),
  );

  test('a monthly timer is due on the anchor day of each following month (Jan 31 -> Feb 28 -> Mar 31 -> Apr 30), with its step each time', () => {
    const subscribed = Date.UTC(2026, 0, 31, 10);
    const j = new Journey(plan);
    j.event('Subscribed', subscribed);
    const dues: string[] = [];
    const occurrences: number[] = [];
    for (let i = 0; i < 6; i++) {
      const t = j.timer('renewal')!;
      dues.push(new Date(t.at).toISOString().slice(0, 10));
      occurrences.push(t.occurrence ?? 1);
      j.runUntil(t.at);
    }
    assert.deepEqual(dues, ['2026-02-28', '2026-03-31', '2026-04-30', '2026-05-31', '2026-06-30', '2026-07-31']);
    assert.deepEqual(occurrences, [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(
      j.requests().map((r) => [r.occurrence, new Date(j.state.messages.find((m) => m.key === r.key)!.dueAt).toISOString()]),
      [
        [1, '2026-02-25T10:00:00.000Z'],
        [2, '2026-03-28T10:00:00.000Z'],
        [3, '2026-04-27T10:00:00.000Z'],
        [4, '2026-05-28T10:00:00.000Z'],
        [5, '2026-06-27T10:00:00.000Z'],
        [6, '2026-07-28T10:00:00.000Z'],
      ],
    );
    assert.equal(j.timer('renewal')?.anchorAt, subscribed, 'the anchor never moves');
  });
});

// --- campaign triggers ---------------------------------------------------------------------------------------

describe('campaign triggers', () => {
  test('an array of triggers: any of them starts the campaign (events with `where`, stage entries)', () => {
    const plan = planOf(
      minimalDefinition({
        campaigns: [marketing('any', 'A', { trigger: [{ event: 'A' }, { event: 'B', where: { x: 1 } }, { stageEntry: 'customer' }] })],
      }),
    );
    const j = new Journey(plan, { autoSend: false });
    j.event('A', T0 + 1);
    j.event('B', T0 + 2, { x: 2 });
    j.event('B', T0 + 3, { x: 1 });
    j.event('Bought', T0 + 4);
    assert.deepEqual(j.requests().map((r) => r.occurrence), [1, 2, 3]);
    assert.deepEqual(j.state.messages.map((m) => m.pendingStep?.because), ['event "A"', 'event "B"', 'entered customer']);
    assert.deepEqual(j.requests().map((r) => r.eventProperties ?? null), [null, { x: 1 }, null]);
  });

  test('`counter.reaches` starts the campaign exactly when the counter becomes 10, 50 and 100', () => {
    const plan = planOf(
      minimalDefinition({
        counters: [{ id: 'workouts', on: [{ event: 'Workout Logged' }] }],
        campaigns: [{ id: 'milestone', name: 'Milestone', kind: 'transactional', trigger: { counter: 'workouts', reaches: [10, 50, 100] }, message: { template: 'hello' } }],
      }),
    );
    const j = new Journey(plan);
    const reachedAt: number[] = [];
    for (let i = 1; i <= 120; i++) {
      if (requestsOf(j.event('Workout Logged', T0 + i * HOUR)).length > 0) reachedAt.push(i);
    }
    assert.deepEqual(reachedAt, [10, 50, 100]);
    assert.deepEqual(j.requests().map((r) => r.journey?.counters.workouts), [10, 50, 100], 'the template sees the counter value');
  });

  test('`steps`: one deadline per step, each with its own occurrence, time, template and "(n/N)" summary', () => {
    const plan = planOf(
      minimalDefinition({
        campaigns: [
          marketing('series', 'Joined', {
            delay: '1 hour',
            steps: [{ after: '0 days', template: 'first' }, { after: '2 days', template: 'second' }, { after: '5 days' }],
            message: { template: 'base' },
          }),
        ],
        templates: templates('first', 'second', 'base'),
      }),
    );
    const j = new Journey(plan);
    j.event('Joined', T0);
    assert.deepEqual(
      j.campaignDeadlines('series').map((d) => ({ key: d.key, occurrence: d.occurrence, step: d.step, at: d.at, summary: d.summary, because: d.because })),
      [
        { key: 'campaign:series#1', occurrence: 1, step: 0, at: T0 + HOUR, summary: 'send Series (1/3)', because: 'event "Joined"' },
        { key: 'campaign:series#2', occurrence: 2, step: 1, at: T0 + HOUR + 2 * DAY, summary: 'send Series (2/3)', because: 'event "Joined"' },
        { key: 'campaign:series#3', occurrence: 3, step: 2, at: T0 + HOUR + 5 * DAY, summary: 'send Series (3/3)', because: 'event "Joined"' },
      ],
    );
    j.runUntil(T0 + 10 * DAY);
    assert.deepEqual(
      j.requests().map((r) => [r.key, r.template, r.summary]),
      [
        [key('series', 1), 'first', 'send Series (1/3)'],
        [key('series', 2), 'second', 'send Series (2/3)'],
        [key('series', 3), 'base', 'send Series (3/3)'],
      ],
    );
    j.event('Joined', T0 + 11 * DAY);
    assert.deepEqual(j.campaignDeadlines('series').map((d) => d.occurrence), [4, 5, 6], 'a second start continues the occurrences');
  });
});

describe('campaign limits', () => {
  const plan = planOf(
    minimalDefinition({
      transitions: [
        { from: ['lead'], on: { event: 'Bought' }, to: 'customer' },
        { from: ['customer'], on: { event: 'Refunded' }, to: 'lead' },
      ],
      campaigns: [marketing('always', 'Ping'), marketing('once', 'Ping', { limit: 'once' }), marketing('per_entry', 'Ping', { limit: 'oncePerStageEntry' })],
    }),
  );

  test('always / once / oncePerStageEntry', () => {
    const j = new Journey(plan);
    const pings: Record<string, number> = {};
    const ping = (at: number) => {
      for (const r of requestsOf(j.event('Ping', at))) pings[r.campaignId] = (pings[r.campaignId] ?? 0) + 1;
    };
    ping(T0 + 1);
    ping(T0 + 2);
    j.event('Bought', T0 + 3);
    ping(T0 + 4);
    ping(T0 + 5);
    j.event('Refunded', T0 + 6);
    ping(T0 + 7);
    assert.deepEqual(pings, { always: 5, once: 1, per_entry: 3 });
    assert.deepEqual(j.state.campaignStarts.per_entry, { count: 3, stageEnteredAt: T0 + 6, delivered: 3 });
  });
});

describe('campaign exits', () => {
  const plan = planOf(
    minimalDefinition({
      campaigns: [
        marketing('drip', 'Joined', { steps: [{ after: '1 day' }, { after: '2 days' }, { after: '3 days' }], exitOn: { events: ['Stop'] } }),
        marketing('lead_drip', 'Joined', { steps: [{ after: '1 day' }, { after: '2 days' }], exitOn: { stageChange: true } }),
        marketing('other', 'Joined', { delay: '4 days' }),
      ],
    }),
  );

  test('exitOn.events cancels the pending steps of that campaign only, with the reason', () => {
    const j = new Journey(plan);
    j.event('Joined', T0);
    j.runUntil(T0 + DAY);
    j.event('Stop', T0 + DAY + HOUR);
    assert.deepEqual(
      j.state.messages.filter((m) => m.campaignId === 'drip').map((m) => [m.occurrence, m.status, m.reason ?? null]),
      [
        [1, 'sent', null],
        [2, 'cancelled', 'exited: "Stop" arrived'],
        [3, 'cancelled', 'exited: "Stop" arrived'],
      ],
    );
    j.runUntil(T0 + 10 * DAY);
    assert.deepEqual(j.requests().filter((r) => r.campaignId === 'drip').length, 1);
    assert.ok(j.requests().some((r) => r.campaignId === 'other'), 'another campaign is untouched');
  });

  test('exitOn.stageChange cancels on any stage change', () => {
    const j = new Journey(plan);
    j.event('Joined', T0);
    j.runUntil(T0 + DAY);
    j.event('Bought', T0 + 36 * HOUR);
    const cancelled = j.state.messages.filter((m) => m.campaignId === 'lead_drip' && m.status === 'cancelled');
    assert.deepEqual(cancelled.map((m) => [m.occurrence, m.reason]), [[2, 'exited: stage changed from lead to customer']]);
    assert.equal(j.message('drip', 2)?.status, undefined, 'drip has no stageChange exit: still pending');
  });
});

// --- experiments ---------------------------------------------------------------------------------------------

describe('experiments', () => {
  const ids = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

  test('bucketOf is deterministic, in [0, 1), and differs per campaign', () => {
    assert.equal(bucketOf('u1', 'exp'), bucketOf('u1', 'exp'));
    assert.notEqual(bucketOf('u1', 'exp'), bucketOf('u1', 'other'));
    for (const id of ids.slice(0, 1000)) {
      const b = bucketOf(id, 'exp');
      assert.ok(b >= 0 && b < 1, `${id}: ${b}`);
    }
  });

  test('bucketOf is roughly uniform: over 10,000 ids each tenth of [0, 1) holds 10% ± 3%', () => {
    for (const campaign of ['exp', 'prospect_nudge', 'win_back']) {
      const deciles = new Array<number>(10).fill(0);
      for (const id of ids) deciles[Math.floor(bucketOf(id, campaign) * 10)]! += 1;
      for (const [i, n] of deciles.entries()) assert.ok(Math.abs(n / ids.length - 0.1) <= 0.03, `${campaign} decile ${i}: ${n}`);
    }
  });

  test('bucketOf mixes sequential ids well (each decile 10% ± 1.5%, holdout 10% ± 2% for every id format)', () => {
    const formats: Array<[string, (i: number) => string]> = [
      ['u<i>', (i) => `u${i}`],
      ['<100000+i>', (i) => `${100_000 + i}`],
      ['user-<i>', (i) => `user-${i}`],
    ];
    const problems: string[] = [];
    for (const [format, idOf] of formats) {
      for (const campaign of ['prospect_nudge', 'win_back']) {
        const deciles = new Array<number>(10).fill(0);
        for (let i = 0; i < 10_000; i++) deciles[Math.floor(bucketOf(idOf(i), campaign) * 10)]! += 1;
        if (Math.abs(deciles[0]! - 1000) > 200) problems.push(`${format} ${campaign}: holdout (bucket < 0.1) ${deciles[0]! / 100}%`);
        if (deciles.some((n) => Math.abs(n - 1000) > 150)) problems.push(`${format} ${campaign}: deciles ${deciles.join(' ')}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  const plan = planOf(
    minimalDefinition({
      campaigns: [
        marketing('exp', 'Go', {
          experiment: { holdout: 0.1, variants: [{ id: 'a', template: 'ta' }, { id: 'b', weight: 3, template: 'tb' }] },
          steps: [{ after: '0 days', template: 'step_one' }, { after: '1 day' }],
          goal: { event: 'Bought', within: '7 days' },
        }),
      ],
      stages: [{ id: 'lead' }],
      transitions: [],
      templates: templates('ta', 'tb', 'step_one'),
    }),
  );
  const userIn = (from: number, to: number) => ids.find((id) => bucketOf(id, 'exp') >= from && bucketOf(id, 'exp') < to)!;

  test('over 10,000 customers the holdout share is 10% ± 2% and the variants follow their weights (1:3) ± 2%', () => {
    const count: Record<string, number> = {};
    for (const id of ids) {
      const started = startJourney(plan, id, T0).state;
      const { state, commands } = step(plan, started, ev('Go', T0));
      const variant = state.assignments.exp!;
      count[variant] = (count[variant] ?? 0) + 1;
      assert.equal(requestsOf(commands).length, variant === 'holdout' ? 0 : 1);
    }
    assert.ok(Math.abs(count.holdout! / ids.length - 0.1) <= 0.02, `holdout ${count.holdout}`);
    const treated = ids.length - count.holdout!;
    assert.ok(Math.abs(count.a! / treated - 0.25) <= 0.02, `a ${count.a} of ${treated}`);
    assert.ok(Math.abs(count.b! / treated - 0.75) <= 0.02, `b ${count.b} of ${treated}`);
  });

  test('a variant is assigned once, recorded once as an "assignment" fact, kept for every later step and start; its template wins', () => {
    const user = userIn(0.1, 0.325); // (u - 0.1) / 0.9 < 0.25: variant a
    const j = new Journey(plan, { userId: user });
    j.event('Go', T0);
    j.runUntil(T0 + 2 * DAY);
    j.event('Go', T0 + 3 * DAY);
    assert.deepEqual(j.state.assignments, { exp: 'a' });
    const assignments = j.facts().filter((f) => f.kind === 'assignment');
    assert.deepEqual(assignments, [{ kind: 'assignment', id: assignments[0]!.id, userId: user, at: T0, campaignId: 'exp', variant: 'a' }]);
    assert.deepEqual(j.requests().map((r) => [r.occurrence, r.variant, r.template]), [
      [1, 'a', 'ta'],
      [2, 'a', 'ta'],
      [3, 'a', 'ta'],
    ], "the variant's template is used, over the step's own");
    const b = new Journey(plan, { userId: userIn(0.4, 1) });
    b.event('Go', T0);
    assert.deepEqual(b.requests().map((r) => [r.variant, r.template]), [['b', 'tb']]);
  });

  test('the holdout group: recorded as "holdout", no delivery, a message fact with variant "holdout"', () => {
    const user = userIn(0, 0.1);
    const j = new Journey(plan, { userId: user });
    j.event('Go', T0);
    j.runUntil(T0 + 2 * DAY);
    assert.deepEqual(j.requests(), []);
    assert.deepEqual(
      j.state.messages.map((m) => [m.occurrence, m.status, m.variant, m.reason]),
      [
        [1, 'holdout', 'holdout', 'holdout group of exp: nothing sent'],
        [2, 'holdout', 'holdout', 'holdout group of exp: nothing sent'],
      ],
    );
    const facts = j.facts();
    assert.deepEqual(facts.filter((f) => f.kind === 'assignment').map((f) => f.kind === 'assignment' && f.variant), ['holdout']);
    assert.deepEqual(
      facts.filter((f) => f.kind === 'message').map((f) => f.kind === 'message' && [f.status, f.variant]),
      [
        ['holdout', 'holdout'],
        ['holdout', 'holdout'],
      ],
    );
    assert.equal(journeyView(plan, j.state).experiments.exp, 'holdout');
  });
});

// --- frequency cap, offers, consent --------------------------------------------------------------------------

describe('frequency cap', () => {
  const plan = planOf(
    minimalDefinition({
      frequencyCap: { max: 2, per: '7 days' },
      campaigns: [marketing('promo', 'Promo'), { id: 'receipt', name: 'Receipt', kind: 'transactional', trigger: { event: 'Paid' }, message: { template: 'hello' } }],
    }),
  );

  test('marketing only: the 3rd inside the window is skipped with the reason; transactional messages neither count nor are capped', () => {
    const j = new Journey(plan);
    j.event('Paid', T0);
    j.event('Promo', T0 + HOUR);
    j.event('Paid', T0 + 2 * HOUR);
    j.event('Promo', T0 + DAY);
    j.event('Promo', T0 + 2 * DAY);
    j.event('Paid', T0 + 2 * DAY + 1);
    assert.deepEqual(
      j.state.messages.map((m) => [m.campaignId, m.occurrence, m.status]),
      [
        ['receipt', 1, 'sent'],
        ['promo', 1, 'sent'],
        ['receipt', 2, 'sent'],
        ['promo', 2, 'sent'],
        ['promo', 3, 'skipped'],
        ['receipt', 3, 'sent'],
      ],
    );
    assert.equal(j.message('promo', 3)?.reason, 'frequency cap: 2 marketing messages in the last 7 days (at most 2)');
  });

  test('allowed again once the window has passed (a rolling window, measured from each send)', () => {
    const j = new Journey(plan);
    j.event('Promo', T0);
    j.event('Promo', T0 + DAY);
    j.event('Promo', T0 + 7 * DAY - 1);
    assert.equal(j.message('promo', 3)?.status, 'skipped');
    j.event('Promo', T0 + 7 * DAY);
    assert.equal(j.message('promo', 4)?.status, 'sent', 'the first send is exactly 7 days old: out of the window');
    j.event('Promo', T0 + 7 * DAY + 1);
    assert.equal(j.message('promo', 5)?.status, 'skipped', 'day 1 and day 7 are inside');
  });

  test('a message still being delivered counts; skipped ones do not', () => {
    const j = new Journey(plan, { autoSend: false });
    j.event('Promo', T0);
    j.event('Promo', T0 + 1);
    j.event('Promo', T0 + 2);
    assert.deepEqual(j.state.messages.map((m) => m.status), ['pending', 'pending', 'skipped']);
  });
});

describe('offer cooldown', () => {
  const plan = planOf(
    minimalDefinition({
      campaigns: [
        marketing('upgrade_a', 'A', { offer: { id: 'discount', cooldown: '30 days' } }),
        marketing('upgrade_b', 'B', { offer: { id: 'discount', cooldown: '30 days' } }),
        marketing('unrelated', 'B', { offer: { id: 'other', cooldown: '30 days' } }),
      ],
    }),
  );

  test('the same offer is not sent again inside its cooldown, whichever campaign carries it', () => {
    const j = new Journey(plan);
    j.event('A', T0);
    j.event('B', T0 + 10 * DAY);
    assert.equal(j.message('upgrade_b')?.status, 'skipped');
    assert.equal(j.message('upgrade_b')?.reason, 'offer discount was sent 10 days ago (cooldown 30 days)');
    assert.equal(j.message('unrelated')?.status, 'sent');
    j.event('B', T0 + 30 * DAY);
    assert.equal(j.message('upgrade_b', 2)?.status, 'sent');
  });

  test('an offer still being delivered blocks the other campaign; a skipped offer starts no cooldown', () => {
    const j = new Journey(plan, { autoSend: false });
    j.event('A', T0);
    j.event('B', T0 + 1);
    assert.equal(j.message('upgrade_b')?.status, 'skipped');
    assert.equal(j.message('upgrade_b')?.reason, 'offer discount is being sent already (cooldown 30 days)');
    j.deliver(key('upgrade_a'), T0 + 2, { status: 'skipped', reason: 'no email address on the profile' });
    j.event('B', T0 + 3);
    assert.equal(j.message('upgrade_b', 2)?.status, 'pending');
    assert.deepEqual(j.state.offers, {});
  });
});

describe('consent', () => {
  const plan = planOf(
    minimalDefinition({
      consent: { unsubscribeOn: ['Unsubscribed'], resubscribeOn: ['Resubscribed'] },
      campaigns: [
        marketing('promo', 'Promo'),
        marketing('later', 'Joined', { delay: '3 days' }),
        { id: 'receipt', name: 'Receipt', kind: 'transactional', trigger: { event: 'Paid' }, message: { template: 'hello' } },
      ],
    }),
  );

  test('after unsubscribeOn, no marketing starts, steps already scheduled skip ("unsubscribed from marketing"), transactional still goes; resubscribeOn turns it on again', () => {
    const j = new Journey(plan);
    j.event('Joined', T0);
    j.event('Unsubscribed', T0 + DAY);
    assert.equal(journeyView(plan, j.state).marketing, 'unsubscribed');
    j.event('Promo', T0 + DAY + 1);
    j.event('Paid', T0 + DAY + 2);
    j.runUntil(T0 + 3 * DAY);
    assert.deepEqual(
      j.state.messages.map((m) => [m.campaignId, m.status, m.reason ?? null]),
      [
        ['receipt', 'sent', null],
        ['later', 'skipped', 'unsubscribed from marketing'],
      ],
      'no new marketing starts; a step scheduled before the unsubscribe is skipped when due, saying why',
    );
    j.event('Resubscribed', T0 + 4 * DAY);
    assert.equal(journeyView(plan, j.state).marketing, 'allowed');
    j.event('Promo', T0 + 4 * DAY + 1);
    assert.equal(j.message('promo', 1)?.status, 'sent');
  });
});

// --- conversions -----------------------------------------------------------------------------------------------

describe('conversions', () => {
  const plan = planOf(
    minimalDefinition({
      stages: [{ id: 'lead' }],
      transitions: [],
      campaigns: [
        marketing('promo', 'Promo', { goal: { event: 'Bought', within: '7 days' } }),
        marketing('exp', 'Go', { goal: { event: 'Bought', within: '7 days' }, experiment: { holdout: 0.5 } }),
      ],
    }),
  );

  test('a goal event inside the window is attributed once, to the last sent message of the campaign, with a "conversion" fact', () => {
    const j = new Journey(plan);
    j.event('Promo', T0);
    j.event('Promo', T0 + DAY);
    const converted = j.event('Bought', T0 + 3 * DAY);
    assert.equal(j.message('promo', 1)?.convertedAt, undefined);
    assert.equal(j.message('promo', 2)?.convertedAt, T0 + 3 * DAY);
    const conversions = factsOf(converted).filter((f) => f.kind === 'conversion');
    assert.deepEqual(conversions, [
      { kind: 'conversion', id: conversions[0]!.id, userId: USER, at: T0 + 3 * DAY, campaignId: 'promo', variant: null, goalEvent: 'Bought', messageKey: key('promo', 2) },
    ]);
    assert.equal(journeyView(plan, j.state).messages.find((m) => m.key === key('promo', 2))?.convertedAt, new Date(T0 + 3 * DAY).toISOString());
    j.event('Bought', T0 + 4 * DAY);
    assert.equal(j.facts().filter((f) => f.kind === 'conversion').length, 1, 'once');
  });

  test('the window is inclusive; outside it nothing is attributed; pending or skipped messages are not attributed', () => {
    const edge = new Journey(plan);
    edge.event('Promo', T0);
    edge.event('Bought', T0 + 7 * DAY);
    assert.equal(edge.facts().filter((f) => f.kind === 'conversion').length, 1);

    const late = new Journey(plan);
    late.event('Promo', T0);
    late.event('Bought', T0 + 7 * DAY + 1);
    assert.equal(late.facts().filter((f) => f.kind === 'conversion').length, 0);
    assert.equal(late.message('promo')?.convertedAt, undefined);

    const pending = new Journey(plan, { autoSend: false });
    pending.event('Promo', T0);
    pending.event('Bought', T0 + DAY);
    assert.equal(pending.facts().filter((f) => f.kind === 'conversion').length, 0);
  });

  test('a holdout record converts too (the comparison group), with variant "holdout"', () => {
    const holdoutUser = Array.from({ length: 100 }, (_, i) => `h${i}`).find((id) => bucketOf(id, 'exp') < 0.5)!;
    const j = new Journey(plan, { userId: holdoutUser });
    j.event('Go', T0);
    j.event('Bought', T0 + 2 * DAY);
    const conversions = j.facts().filter((f) => f.kind === 'conversion');
    assert.deepEqual(
      conversions.map((f) => f.kind === 'conversion' && [f.campaignId, f.variant, f.messageKey]),
      [['exp', 'holdout', deliveryKey(holdoutUser, 'exp', 1)]],
    );
  });
});

// --- delivery outcomes, lateness, broadcasts ------------------------------------------------------------------

describe('delivery outcome "deferred"', () => {
  const plan = planOf(
    minimalDefinition({
      timing: { window: { from: '09:00', to: '20:00' } },
      campaigns: [
        marketing('promo', 'Promo', { steps: [{ after: '0 days' }, { after: '1 day', template: 'second' }], exitOn: { events: ['Stop'] } }),
        { id: 'receipt', name: 'Receipt', kind: 'transactional', trigger: { event: 'Paid' }, message: { template: 'hello' } },
      ],
      templates: templates('second'),
    }),
  );
  const why = 'outside the sending window 09:00-20:00 (UTC)';

  test('the same occurrence and key is put back on the calendar at `until`, shown in the view, and delivered again then', () => {
    const j = new Journey(plan, { autoSend: false });
    const first = requestsOf(j.event('Promo', T0 + 2 * HOUR, { source: 'app' }));
    assert.deepEqual(first.map((r) => [r.key, r.timing?.window]), [[key('promo', 1), { from: '09:00', to: '20:00' }]]);
    const deferred = j.deliver(key('promo', 1), T0 + 2 * HOUR, { status: 'deferred', until: T0 + 9 * HOUR, reason: why });
    assert.deepEqual(deferred, [], 'no fact for a deferral');
    assert.equal(j.message('promo', 1), undefined, 'no longer pending');
    const d = j.campaignDeadlines('promo').find((x) => x.occurrence === 1)!;
    assert.deepEqual([d.key, d.at, d.deferrals, d.deferredBecause, d.step, d.eventProperties], ['campaign:promo#1', T0 + 9 * HOUR, 1, why, 0, { source: 'app' }]);
    assert.deepEqual(journeyView(plan, j.state).pending[0], {
      kind: 'campaign',
      what: 'send Promo (1/2)',
      at: new Date(T0 + 9 * HOUR).toISOString(),
      because: 'event "Promo"',
      deferred: why,
    });
    assert.deepEqual(j.tick(T0 + 9 * HOUR - 1), []);
    const again = requestsOf(j.tick(T0 + 9 * HOUR));
    assert.deepEqual(again.map((r) => [r.key, r.occurrence, r.eventProperties]), [[key('promo', 1), 1, { source: 'app' }]]);
  });

  test('a deferred step of a series keeps its own template; an exit still cancels it', () => {
    const j = new Journey(plan, { autoSend: false });
    j.event('Promo', T0 + 9 * HOUR);
    j.deliver(key('promo', 1), T0 + 9 * HOUR, SENT);
    const second = requestsOf(j.tick(T0 + 33 * HOUR));
    assert.deepEqual(second.map((r) => r.template), ['second']);
    j.deliver(key('promo', 2), T0 + 33 * HOUR, { status: 'deferred', until: T0 + 2 * DAY + 9 * HOUR, reason: why });
    assert.deepEqual(requestsOf(j.tick(T0 + 2 * DAY + 9 * HOUR)).map((r) => [r.key, r.template]), [[key('promo', 2), 'second']]);
    j.deliver(key('promo', 2), T0 + 2 * DAY + 9 * HOUR, { status: 'deferred', until: T0 + 3 * DAY + 9 * HOUR, reason: why });
    j.event('Stop', T0 + 2 * DAY + 10 * HOUR);
    assert.equal(j.message('promo', 2)?.status, 'cancelled');
    assert.deepEqual(j.campaignDeadlines(), []);
  });

  test('after 3 deferrals the request carries no timing (it goes now); transactional requests never carry the journey timing', () => {
    const j = new Journey(plan, { autoSend: false });
    const first = (commands: JourneyCommand[]) => requestsOf(commands).find((r) => r.key === key('promo', 1))!;
    let request = first(j.event('Promo', T0));
    const timings = [request.timing !== undefined];
    for (let n = 1; n <= 3; n++) {
      j.deliver(request.key, T0 + n * DAY, { status: 'deferred', until: T0 + n * DAY + HOUR, reason: why });
      request = first(j.tick(T0 + n * DAY + HOUR));
      timings.push(request.timing !== undefined);
    }
    assert.deepEqual(timings, [true, true, true, false]);
    assert.equal(requestsOf(j.event('Paid', T0 + 5 * DAY))[0]?.timing, undefined);
  });
});

describe('delivery outcome "deferred" of a step tied to a timer', () => {
  // A nudge two days before a customer counts as idle; activity re-arms the idle timer and moves the nudge.
  const plan = planOf({
    id: 'engagement',
    name: 'Engagement',
    initialStage: 'active',
    stages: [{ id: 'active' }, { id: 'dormant' }],
    timing: { window: { from: '09:00', to: '20:00' } },
    timers: [{ id: 'idle', summary: 'a week without activity', after: '7 days', anchor: 'lastActivity', whileIn: ['active'] }],
    transitions: [
      { from: ['active'], on: { timer: 'idle' }, to: 'dormant' },
      { from: ['dormant'], on: { activity: true }, to: 'active' },
    ],
    campaigns: [{ id: 'nudge', name: 'Nudge', kind: 'marketing', trigger: { timer: 'idle', offset: '-2 days' }, message: { template: 'nudge' } }],
    templates: [{ id: 'nudge', locales: { en: { subject: 'We miss you', html: '<p>Come back</p>' } } }],
  });

  test('a deferred step stays tied to its timer: activity before `until` moves it instead of sending it', () => {
    const j = new Journey(plan, { autoSend: false });
    j.event('App Opened', T0 + 2 * HOUR); // idle at day 7 02:00, nudge at day 5 02:00 (before the window)
    assert.deepEqual(requestsOf(j.tick(T0 + 5 * DAY + 2 * HOUR)).map((r) => r.key), [key('nudge', 1)]);
    j.deliver(key('nudge', 1), T0 + 5 * DAY + 2 * HOUR, { status: 'deferred', until: T0 + 5 * DAY + 9 * HOUR, reason: 'before the window' });
    j.event('App Opened', T0 + 5 * DAY + 8 * HOUR); // active again: nobody is about to be idle
    assert.deepEqual(requestsOf(j.tick(T0 + 5 * DAY + 9 * HOUR)), [], 'no "we miss you" an hour after the customer came back');
    assert.equal(j.campaignDeadlines('nudge')[0]?.at, T0 + 10 * DAY + 8 * HOUR, 'moved with the re-armed timer');
  });
});

describe('maxLateness', () => {
  const plan = planOf(
    minimalDefinition({
      campaigns: [
        marketing('later', 'Joined', { delay: '2 days' }),
        { id: 'notice', name: 'Notice', kind: 'transactional', trigger: { event: 'Joined' }, delay: '2 days', message: { template: 'hello' } },
        marketing('strict', 'Joined', { delay: '2 days', maxLateness: '1 hour' }),
      ],
    }),
  );

  test('marketing: up to 1 day late is sent, later is skipped with "missed its moment"; an own maxLateness replaces the default', () => {
    const onTime = new Journey(plan);
    onTime.event('Joined', T0);
    onTime.tick(T0 + 3 * DAY);
    assert.deepEqual(onTime.state.messages.map((m) => [m.campaignId, m.status]).sort(), [
      ['later', 'sent'],
      ['notice', 'sent'],
      ['strict', 'skipped'],
    ]);
    assert.equal(onTime.message('strict')?.reason, 'missed its moment: due 2026-01-03T00:00:00.000Z, 1 day late');

    const late = new Journey(plan);
    late.event('Joined', T0);
    late.tick(T0 + 3 * DAY + 1);
    assert.equal(late.message('later')?.status, 'skipped');
    assert.match(late.message('later')?.reason ?? '', /^missed its moment: due 2026-01-03T00:00:00.000Z, 1 day late$/);
  });

  test('transactional: never too late', () => {
    const j = new Journey(plan);
    j.event('Joined', T0);
    j.tick(T0 + 400 * DAY);
    assert.equal(j.message('notice')?.status, 'sent');
  });
});

describe('broadcast input', () => {
  const plan = planOf(
    minimalDefinition({
      campaigns: [
        marketing('news', 'Never', { trigger: { broadcast: { cron: '0 9 * * 1' } }, audience: { stages: ['lead'] } }),
        marketing('not_a_broadcast', 'Ping'),
      ],
    }),
  );
  const broadcast = (now: number, broadcastId: string, campaignId = 'news'): JourneyInput => ({ type: 'broadcast', now, broadcast: { campaignId, broadcastId } });

  test('a broadcast starts its campaign once per broadcastId; duplicates are counted and change nothing else', () => {
    const j = new Journey(plan);
    const first = j.apply(broadcast(T0 + HOUR, 'news@2026-01-05'));
    assert.deepEqual(requestsOf(first).map((r) => r.key), [key('news', 1)]);
    const before = j.state;
    assert.deepEqual(j.apply(broadcast(T0 + 2 * HOUR, 'news@2026-01-05')), []);
    assert.deepEqual({ ...j.state, stats: before.stats }, before);
    assert.equal(j.state.stats.duplicates, 1);
    assert.deepEqual(requestsOf(j.apply(broadcast(T0 + 7 * DAY, 'news@2026-01-12'))).map((r) => r.key), [key('news', 2)]);
  });

  test('a customer outside the audience records it as skipped; a campaign without a broadcast trigger or unknown is ignored', () => {
    const j = new Journey(plan);
    j.event('Bought', T0);
    j.apply(broadcast(T0 + HOUR, 'b-1'));
    assert.equal(j.message('news')?.status, 'skipped');
    assert.match(j.message('news')?.reason ?? '', /left the audience: stage is customer/);
    assert.deepEqual(j.apply(broadcast(T0 + HOUR, 'b-2', 'not_a_broadcast')), []);
    assert.deepEqual(j.apply(broadcast(T0 + HOUR, 'b-3', 'no_such_campaign')), []);
    assert.equal(j.state.messages.length, 1);
  });
});

// --- read-model records -----------------------------------------------------------------------------------------

const { plan: coachinglive } = await loadDefinitionFile(COACHINGLIVE_PATH);

describe('read-model `record` commands (on the shipped journey)', () => {
  const plan = coachinglive;

  test('startJourney records the first stage fact and the snapshot', () => {
    const { commands } = startJourney(plan, USER, T0);
    const records = commands.filter((c) => c.type === 'record');
    assert.equal(records.length, 1);
    const batch = records[0]!.type === 'record' ? records[0]!.batch : undefined;
    assert.deepEqual(batch?.facts, [{ kind: 'stage', id: `${USER}/1`, userId: USER, at: T0, stage: 'prospect', from: null, cause: { kind: 'start' } }]);
    assert.equal(batch?.snapshot.seq, 2);
    assert.equal(batch?.snapshot.stage, 'prospect');
  });

  test('every step that changes stage, plan, segments or payments, or produces facts, emits exactly one record; ids and seq only grow', () => {
    const j = new Journey(plan, { autoSend: false });
    const send = () => {
      for (const r of requestsOf(j.results.at(-1)!.commands)) j.deliver(r.key, j.state.clock, SENT);
    };
    j.event('Signed Up', T0);
    send();
    j.apply({ type: 'segments', now: T0 + MINUTE, segments: ['reachable_by_email'] });
    j.apply({ type: 'segments', now: T0 + MINUTE, segments: ['reachable_by_email'] });
    j.apply({ type: 'profile', now: T0 + MINUTE, change: { traits: ['firstName'] } });
    j.event('Trial Started', T0 + HOUR);
    j.event('Workout Logged', T0 + 2 * HOUR);
    j.event('Workout Logged', T0 + 3 * HOUR);
    for (let t = T0 + HOUR; t <= T0 + 10 * DAY; t += 6 * HOUR) {
      j.tick(t);
      send();
    }
    j.event('Plan Changed', T0 + 10 * DAY, { plan: 'full' });
    j.event('Subscription Started', T0 + 11 * DAY, { plan: 'light' });
    send();
    j.event('Subscription Renewed', T0 + 42 * DAY);
    send();
    j.event('Workout Logged', T0 + 43 * DAY);
    j.apply({ type: 'segments', now: T0 + 44 * DAY, segments: ['reachable_by_email', 'satisfied'] });

    let lastSeq = 0;
    let withRecords = 0;
    for (const { input, before, commands, state } of j.results) {
      const records = commands.flatMap((c) => (c.type === 'record' ? [c.batch] : []));
      const label = input === 'start' ? 'start' : input.type === 'event' ? input.event.event : input.type;
      const changed =
        before === null ||
        before.stage !== state.stage ||
        before.attributes.plan !== state.attributes.plan ||
        before.segments.join() !== state.segments.join() ||
        before.counters.payments !== state.counters.payments;
      const batch = records[0];
      assert.ok(records.length <= 1, `${label}: at most one record`);
      if (!batch) {
        assert.ok(!changed, `${label} changed the snapshot but recorded nothing`);
        continue;
      }
      withRecords += 1;
      assert.equal(commands.at(-1)?.type, 'record', `${label}: the record comes last`);
      for (const fact of batch.facts) {
        const [user, seq] = fact.id.split('/');
        assert.equal(user, USER);
        assert.ok(Number(seq) > lastSeq, `${label}: fact ${fact.id} after ${lastSeq}`);
        lastSeq = Number(seq);
      }
      assert.ok(batch.snapshot.seq > lastSeq, `${label}: snapshot seq ${batch.snapshot.seq} after ${lastSeq}`);
      lastSeq = batch.snapshot.seq;
      assert.equal(batch.snapshot.seq, state.factSeq);
      assert.ok(changed || batch.facts.length > 0, `${label}: a record without a change or a fact`);
    }
    assert.ok(withRecords >= 10, `${withRecords} records`);
    assert.equal(j.state.counters.payments, 2);
  });

  test('a pure event ("Workout Logged" below a milestone) produces no record; a changed segment list does', () => {
    const j = new Journey(plan);
    j.event('Trial Started', T0);
    assert.deepEqual(j.event('Workout Logged', T0 + HOUR), []);
    assert.equal(j.state.counters.workouts, 1);
    const segments = j.apply({ type: 'segments', now: T0 + 2 * HOUR, segments: ['satisfied'] });
    assert.deepEqual(segments.map((c) => c.type), ['record']);
    assert.deepEqual(segments[0]?.type === 'record' && segments[0].batch.facts, []);
    assert.deepEqual(segments[0]?.type === 'record' && segments[0].batch.snapshot.segments, ['satisfied']);
  });
});
