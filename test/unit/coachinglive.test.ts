/**
 * The shipped journey (definitions/coachinglive.yaml) driven through the pure core with fixed times: who is
 * in which stage when, and which campaign was sent, skipped, cancelled or held out, over up to a year.
 *
 * Each delivery the core asks for is answered at once, the way the workflow answers it: a request naming
 * audience segments the customer is not in (given by `segments` inputs) is "skipped: not in segment X"
 * (the workflow's checkAudience activity), anything else is "sent" by the outbox. Send-time deferral
 * happens in the delivery activity and is left out here.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JourneyFact, JourneySnapshot } from '../../src/core/journey-facts.js';
import type { DeliveryRequest, JourneyCommand, JourneyInput, JourneyState, MessageRecord } from '../../src/core/journey-state.js';
import { journeyView } from '../../src/core/journey-view.js';
import { startJourney, step } from '../../src/core/journey-reducer.js';
import { nextDeadline } from '../../src/core/deadlines.js';
import { addMonths } from '../../src/core/dates.js';
import { bucketOf, deliveryKey } from '../../src/core/ids.js';
import { loadDefinitionFile } from '../../src/definition-store/load-definition.js';
import { COACHINGLIVE_PATH, DAY, HOUR, MINUTE, T0, deliveredKeys, ev, stagesOf, tick } from './fixtures.js';

const { plan } = await loadDefinitionFile(COACHINGLIVE_PATH);

const at = (day: number, hour = 0, minute = 0) => T0 + day * DAY + hour * HOUR + minute * MINUTE;
const iso = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');

type Scripted = [number, string, Record<string, unknown>?];

/** One CoachingLive customer, driven as the workflow drives a journey. */
class Customer {
  state: JourneyState;
  readonly commands: JourneyCommand[] = [];
  /** Every delivery request, with the time it was made. */
  readonly requests: Array<DeliveryRequest & { at: number }> = [];

  constructor(
    readonly userId: string,
    start = T0,
  ) {
    const started = startJourney(plan, userId, start);
    this.state = started.state;
    this.commands.push(...started.commands);
  }

  apply(input: JourneyInput): void {
    const result = step(plan, this.state, input);
    this.state = result.state;
    this.commands.push(...result.commands);
    for (const c of result.commands) {
      if (c.type !== 'deliver') continue;
      this.requests.push({ ...c.request, at: input.now });
      const missing = c.request.segments.find((s) => !this.state.segments.includes(s));
      this.apply({
        type: 'delivery',
        now: input.now,
        key: c.request.key,
        outcome: missing ? { status: 'skipped', reason: `not in segment ${missing}` } : { status: 'sent', provider: 'outbox' },
      });
    }
  }

  /** Wake up at every deadline up to `t`, as the workflow's timer does, then at `t`. */
  until(t: number): void {
    for (let next = nextDeadline(this.state); next && next.at <= t; next = nextDeadline(this.state)) this.apply(tick(next.at));
    this.apply(tick(t));
  }

  event(name: string, when: number, properties?: Record<string, unknown>): void {
    this.until(when);
    this.apply(ev(name, when, properties ? { properties } : {}));
  }

  segments(segments: string[], when: number): void {
    this.until(when);
    this.apply({ type: 'segments', now: when, segments });
  }

  /** Play events in time order. */
  script(events: Scripted[]): void {
    for (const [when, name, properties] of [...events].sort((a, b) => a[0] - b[0])) this.event(name, when, properties);
  }

  /** Signed up at T0 with an email address (and any other segments). */
  static signedUp(userId: string, segments: string[] = ['reachable_by_email']): Customer {
    const c = new Customer(userId);
    c.event('Signed Up', T0);
    c.segments(segments, T0 + MINUTE);
    return c;
  }

  /** Every message the journey settled, as "YYYY-MM-DD HH:mm campaign#occurrence status (variant)", by due time. */
  timeline(filter: (m: MessageRecord) => boolean = () => true): string[] {
    return [...this.state.messages]
      .filter(filter)
      .sort((a, b) => a.dueAt - b.dueAt || a.campaignId.localeCompare(b.campaignId) || a.occurrence - b.occurrence)
      .map((m) => `${iso(m.dueAt)} ${m.campaignId}#${m.occurrence} ${m.status}${m.variant ? ` (${m.variant})` : ''}`);
  }

  stages(): string[] {
    return this.state.stageHistory.map((h) => `${iso(h.at)} ${h.stage}`);
  }

  message(campaignId: string, occurrence = 1): MessageRecord | undefined {
    return this.state.messages.find((m) => m.campaignId === campaignId && m.occurrence === occurrence);
  }

  facts(): JourneyFact[] {
    return this.commands.flatMap((c) => (c.type === 'record' ? c.batch.facts : []));
  }

  lastSnapshot(): JourneySnapshot | undefined {
    return this.commands.flatMap((c) => (c.type === 'record' ? [c.batch.snapshot] : [])).at(-1);
  }
}

/** The first of `prefix-0`, `prefix-1`, ... whose experiment bucket for `campaignId` lies in [from, to). */
function customerInBucket(prefix: string, campaignId: string, from: number, to: number): string {
  for (let i = 0; i < 10_000; i++) {
    const id = `${prefix}-${i}`;
    const b = bucketOf(id, campaignId);
    if (b >= from && b < to) return id;
  }
  throw new Error(`no ${prefix} id in bucket [${from}, ${to}) of ${campaignId}`);
}

/** Workouts logged at 18:00 every `every` days from day `from` to day `to`. */
function workouts(from: number, to: number, every: number): Scripted[] {
  const out: Scripted[] = [];
  for (let d = from; d <= to; d += every) out.push([at(d, 18), 'Workout Logged']);
  return out;
}

// --- (a) awareness ----------------------------------------------------------------------------------------------

describe('(a) a prospect who never starts a trial', () => {
  // prospect_nudge: holdout 10%, then friendly and urgent half and half.
  const friendly = customerInBucket('prospect', 'prospect_nudge', 0.1, 0.55);
  const urgent = customerInBucket('prospect', 'prospect_nudge', 0.55, 1);
  const holdout = customerInBucket('prospect', 'prospect_nudge', 0, 0.1);

  for (const [userId, variant] of [
    [friendly, 'friendly'],
    [urgent, 'urgent'],
  ] as const) {
    test(`gets the welcome and the nudges on days 1, 3 and 7 (${variant} variant), then nothing for a year`, () => {
      const c = Customer.signedUp(userId);
      c.until(at(7));
      assert.deepEqual(c.timeline(), [
        '2026-01-01 00:00 welcome#1 sent',
        `2026-01-02 00:00 prospect_nudge#1 sent (${variant})`,
        `2026-01-04 00:00 prospect_nudge#2 sent (${variant})`,
        `2026-01-08 00:00 prospect_nudge#3 sent (${variant})`,
      ]);
      assert.deepEqual(deliveredKeys(c.commands), [deliveryKey(userId, 'welcome', 1), ...[1, 2, 3].map((n) => deliveryKey(userId, 'prospect_nudge', n))]);
      assert.deepEqual(
        c.requests.map((r) => [r.campaignId, r.kind, r.template]),
        [
          ['welcome', 'transactional', 'welcome'],
          ['prospect_nudge', 'marketing', `prospect_nudge_${variant}`],
          ['prospect_nudge', 'marketing', `prospect_nudge_${variant}`],
          ['prospect_nudge', 'marketing', `prospect_nudge_${variant}`],
        ],
      );
      assert.deepEqual(c.state.assignments, { prospect_nudge: variant });

      const before = c.commands.length;
      c.until(at(365));
      assert.deepEqual(deliveredKeys(c.commands.slice(before)), [], 'nothing after day 7');
      assert.deepEqual(c.state.deadlines, []);
      assert.deepEqual(stagesOf(c.state), ['prospect']);
    });
  }

  test('in the holdout: the welcome only; the three nudges are recorded as holdout', () => {
    const c = Customer.signedUp(holdout);
    c.until(at(365));
    assert.deepEqual(c.timeline(), [
      '2026-01-01 00:00 welcome#1 sent',
      '2026-01-02 00:00 prospect_nudge#1 holdout (holdout)',
      '2026-01-04 00:00 prospect_nudge#2 holdout (holdout)',
      '2026-01-08 00:00 prospect_nudge#3 holdout (holdout)',
    ]);
    assert.deepEqual(deliveredKeys(c.commands), [deliveryKey(holdout, 'welcome', 1)]);
  });

  test('without an email address the nudges are skipped by the audience check', () => {
    const c = Customer.signedUp(friendly, []);
    c.until(at(8));
    assert.deepEqual(
      c.state.messages.filter((m) => m.campaignId === 'prospect_nudge').map((m) => [m.status, m.reason]),
      Array.from({ length: 3 }, () => ['skipped', 'not in segment reachable_by_email']),
    );
  });
});

// --- (b) from trial to loyal ---------------------------------------------------------------------------------------

describe('(b) trial -> Light -> renewals -> Full -> loyal', () => {
  const subscribed = at(20, 12); // 2026-01-21 12:00
  /** Active all year; subscribes on Light on day 20, renews every month, moves to Full on March 2. */
  function fan(userId: string, segments: string[]): Customer {
    const c = Customer.signedUp(userId, segments);
    c.event('Trial Started', at(0, 1));
    c.script([
      ...workouts(2, 29, 3), // the 10th workout on day 29
      ...workouts(33, 365, 4),
      [subscribed, 'Subscription Started', { plan: 'light' }],
      ...Array.from({ length: 11 }, (_, i): Scripted => [addMonths(subscribed, i + 1) + HOUR, 'Subscription Renewed']),
      [at(60, 12), 'Plan Changed', { plan: 'full' }],
    ]);
    c.until(at(365));
    return c;
  }

  const common = (review: string) => [
    '2026-01-01 00:00 welcome#1 sent',
    '2026-01-02 00:00 prospect_nudge#1 cancelled',
    '2026-01-02 01:00 onboarding#1 sent',
    '2026-01-04 00:00 prospect_nudge#2 cancelled',
    '2026-01-04 01:00 onboarding#2 sent',
    '2026-01-08 00:00 prospect_nudge#3 cancelled',
    '2026-01-08 01:00 onboarding#3 sent',
    '2026-01-21 12:00 subscription_welcome#1 sent',
    '2026-01-24 01:00 trial_ending_7d#1 cancelled',
    '2026-01-30 01:00 trial_ending_1d#1 cancelled',
    '2026-01-30 18:00 workout_milestone#1 sent',
    '2026-02-04 12:00 addon_cross_sell#1 sent',
    '2026-02-18 12:00 renewal_reminder#1 sent',
    '2026-02-18 12:00 upgrade_offer#1 sent',
    '2026-02-21 13:00 rewards_enrolment#1 sent',
    '2026-03-18 12:00 renewal_reminder#2 sent',
    '2026-03-21 13:00 referral_ask#1 sent',
    '2026-04-18 12:00 renewal_reminder#3 sent',
    `2026-04-23 13:00 review_prompt#1 ${review}`,
    '2026-05-18 12:00 renewal_reminder#4 sent',
    '2026-06-18 12:00 renewal_reminder#5 sent',
    '2026-07-09 18:00 workout_milestone#2 sent',
    '2026-07-18 12:00 renewal_reminder#6 sent',
    '2026-08-18 12:00 renewal_reminder#7 sent',
    '2026-09-18 12:00 renewal_reminder#8 sent',
    '2026-10-18 12:00 renewal_reminder#9 sent',
    '2026-11-18 12:00 renewal_reminder#10 sent',
    '2026-12-18 12:00 renewal_reminder#11 sent',
  ];

  test('a satisfied customer: every campaign of the way, loyal on the 3rd renewal, asked for a review 2 days later', () => {
    const c = fan('fan-1', ['reachable_by_email', 'satisfied']);
    assert.deepEqual(c.stages(), ['2026-01-01 00:00 prospect', '2026-01-01 01:00 trial', '2026-01-21 12:00 subscriber', '2026-04-21 13:00 loyal']);
    const cause = c.state.stageHistory.at(-1)!.cause;
    assert.deepEqual(cause.kind === 'event' && cause.event, 'Subscription Renewed', 'loyal on the 3rd renewal, active in the last 30 days');
    assert.deepEqual(c.timeline(), common('sent'));
    assert.deepEqual(c.state.counters, { workouts: 94, payments: 12, renewals: 11 });
    assert.equal(c.state.attributes.plan, 'full');
    const snapshot = c.lastSnapshot();
    assert.deepEqual([snapshot?.stage, snapshot?.plan, snapshot?.payments, snapshot?.everLoyal], ['loyal', 'full', 12, true]);
  });

  test('Light -> Full within 14 days of the upgrade offer converts it', () => {
    const c = fan('fan-1', ['reachable_by_email', 'satisfied']);
    assert.equal(c.message('upgrade_offer')?.convertedAt, at(60, 12));
    const conversions = c.facts().filter((f) => f.kind === 'conversion');
    assert.deepEqual(
      conversions.map((f) => f.kind === 'conversion' && [f.campaignId, f.goalEvent, f.messageKey]),
      [['upgrade_offer', 'Plan Changed', deliveryKey('fan-1', 'upgrade_offer', 1)]],
    );
  });

  test('a customer not in the satisfied segment is never asked for a review', () => {
    const c = fan('fan-2', ['reachable_by_email']);
    assert.deepEqual(c.timeline(), common('skipped'));
    assert.equal(c.message('review_prompt')?.reason, 'not in segment satisfied');
    // The core asks for it with the segment named; the workflow's audience check is what skips it.
    assert.deepEqual(c.requests.filter((r) => r.campaignId === 'review_prompt').map((r) => r.segments), [['satisfied']]);
  });

  test('the referral ask waits for both: 2 renewals and 10 workouts, whichever comes last', () => {
    // 10 workouts long before the 2nd renewal: asked on the 2nd renewal (above, 2026-03-21).
    // Only 9 workouts at the 2nd renewal: asked at the 10th workout.
    const c = Customer.signedUp('late-10th');
    const sub = at(0, 1);
    c.script([
      [sub, 'Subscription Started', { plan: 'full' }],
      ...Array.from({ length: 9 }, (_, i): Scripted => [at(3 + i * 10, 9), 'Workout Logged']), // days 3..83
      [addMonths(sub, 1), 'Subscription Renewed'],
      [addMonths(sub, 2), 'Subscription Renewed'], // 2026-03-01: 6 workouts so far
      [at(85, 9), 'App Opened'],
      [at(93, 9), 'Workout Logged'], // the 10th
    ]);
    c.until(at(95));
    assert.equal(c.state.counters.workouts, 10);
    assert.deepEqual(c.timeline((m) => m.campaignId === 'referral_ask'), ['2026-04-04 09:00 referral_ask#1 sent']);
  });
});

// --- (c) lapse ----------------------------------------------------------------------------------------------------

describe('(c) lapse', () => {
  test('a subscriber without activity for 14 days lapses, gets "we miss you", and the next activity brings them back', () => {
    const c = Customer.signedUp('quiet-1');
    c.script([
      [at(0, 1), 'Subscription Started', { plan: 'light' }],
      [at(2), 'Workout Logged'],
      [at(10), 'Subscription Renewed'], // billing is not activity
      [at(20), 'Workout Logged'],
    ]);
    c.until(at(21));
    assert.deepEqual(c.stages(), ['2026-01-01 00:00 prospect', '2026-01-01 01:00 subscriber', '2026-01-17 00:00 lapsed', '2026-01-21 00:00 subscriber']);
    assert.deepEqual(c.state.stageHistory[2]?.cause, { kind: 'timer', timer: 'lapse', summary: 'lapses after 14 days without activity' });
    assert.deepEqual(c.timeline((m) => m.campaignId === 'we_miss_you'), ['2026-01-17 00:00 we_miss_you#1 sent']);
    assert.equal(c.message('we_miss_you')?.convertedAt, at(20), 'the comeback workout is its goal');
    const lapse = c.state.deadlines.find((d) => d.kind === 'timer' && d.timerId === 'lapse');
    assert.equal(lapse?.at, at(34), 'the lapse timer runs again from the comeback');
    const renewal = c.state.deadlines.find((d) => d.kind === 'timer' && d.timerId === 'renewal');
    assert.equal(renewal?.kind === 'timer' && renewal.anchorAt, at(0, 1), 'the renewal timer went through the lapse untouched');
  });

  test('a loyal customer who lapses comes back to loyal', () => {
    const c = Customer.signedUp('loyal-1');
    const sub = at(0, 1);
    c.script([
      [sub, 'Subscription Started', { plan: 'full' }],
      ...workouts(1, 95, 5),
      ...[1, 2, 3].map((n): Scripted => [addMonths(sub, n), 'Subscription Renewed']),
      [at(120), 'Workout Logged'],
    ]);
    c.until(at(121));
    assert.deepEqual(stagesOf(c.state), ['prospect', 'subscriber', 'loyal', 'lapsed', 'loyal']);
  });

  test('a trial customer who lapses still gets the trial-ending messages and is churned when the trial ends, then won back', () => {
    const c = Customer.signedUp(customerInBucket('trialist', 'win_back', 0.1, 0.55));
    c.event('Trial Started', at(0, 1));
    c.event('Workout Logged', at(2));
    c.until(at(200));
    assert.deepEqual(c.stages(), ['2026-01-01 00:00 prospect', '2026-01-01 01:00 trial', '2026-01-17 00:00 lapsed', '2026-01-31 01:00 churned']);
    assert.deepEqual(c.state.stageHistory.at(-1)?.cause, { kind: 'timer', timer: 'trial_end', summary: 'trial ends' });
    assert.deepEqual(c.timeline(), [
      '2026-01-01 00:00 welcome#1 sent',
      '2026-01-02 00:00 prospect_nudge#1 cancelled',
      '2026-01-02 01:00 onboarding#1 sent',
      '2026-01-04 00:00 prospect_nudge#2 cancelled',
      '2026-01-04 01:00 onboarding#2 sent',
      '2026-01-08 00:00 prospect_nudge#3 cancelled',
      '2026-01-08 01:00 onboarding#3 sent',
      '2026-01-24 01:00 trial_ending_7d#1 sent',
      '2026-01-30 01:00 trial_ending_1d#1 sent',
      '2026-03-02 01:00 win_back#1 sent (warm)',
      '2026-04-01 01:00 win_back#2 sent (warm)',
      '2026-05-01 01:00 win_back#3 sent (warm)',
    ]);
  });
});

// --- (d) churn and win-back ----------------------------------------------------------------------------------------

describe('(d) cancel -> churned -> win-back -> reactivation', () => {
  function canceller(userId: string, backOnDay: number): Customer {
    const c = Customer.signedUp(userId);
    c.script([
      [at(0, 1), 'Subscription Started', { plan: 'full' }],
      ...workouts(3, 38, 5),
      [at(31, 1), 'Subscription Renewed'],
      [at(40), 'Subscription Cancelled'],
      [at(backOnDay), 'Subscription Started', { plan: 'light' }],
    ]);
    c.until(at(backOnDay + 1));
    return c;
  }
  const warm = customerInBucket('churner', 'win_back', 0.1, 0.55);
  const direct = customerInBucket('churner', 'win_back', 0.55, 1);
  const holdout = customerInBucket('churner', 'win_back', 0, 0.1);

  for (const [userId, variant] of [
    [warm, 'warm'],
    [direct, 'direct'],
  ] as const) {
    test(`cancelling churns at once; win-back on days 30, 60 and 90 (${variant}); resubscribing is a reactivation, converting the last step`, () => {
      const c = canceller(userId, 135);
      assert.deepEqual(c.stages(), ['2026-01-01 00:00 prospect', '2026-01-01 01:00 subscriber', '2026-02-10 00:00 churned', '2026-05-16 00:00 subscriber']);
      assert.deepEqual(c.timeline((m) => ['win_back', 'renewal_reminder'].includes(m.campaignId)), [
        '2026-01-29 01:00 renewal_reminder#1 sent',
        '2026-02-26 01:00 renewal_reminder#2 cancelled',
        `2026-03-12 00:00 win_back#1 sent (${variant})`,
        `2026-04-11 00:00 win_back#2 sent (${variant})`,
        `2026-05-11 00:00 win_back#3 sent (${variant})`,
      ]);
      assert.deepEqual(
        c.requests.filter((r) => r.campaignId === 'win_back').map((r) => r.template),
        Array.from({ length: 3 }, () => `win_back_${variant}`),
      );
      assert.equal(c.message('win_back', 3)?.convertedAt, at(135));
      const snapshot = c.lastSnapshot();
      assert.deepEqual([snapshot?.stage, snapshot?.plan, snapshot?.reactivations, snapshot?.payments], ['subscriber', 'light', 1, 3]);
      assert.equal(journeyView(plan, c.state).stats.reactivations, 1);
      const renewal = c.state.deadlines.find((d) => d.kind === 'timer' && d.timerId === 'renewal');
      assert.equal(renewal?.at, addMonths(at(135), 1), 'renewals count from the new subscription');
    });
  }

  test('in the win-back holdout: nothing sent, and the resubscription converts the holdout record', () => {
    const c = canceller(holdout, 135);
    assert.deepEqual(c.timeline((m) => m.campaignId === 'win_back'), [
      '2026-03-12 00:00 win_back#1 holdout (holdout)',
      '2026-04-11 00:00 win_back#2 holdout (holdout)',
      '2026-05-11 00:00 win_back#3 holdout (holdout)',
    ]);
    assert.ok(!c.requests.some((r) => r.campaignId === 'win_back'));
    const conversion = c.facts().find((f) => f.kind === 'conversion');
    assert.deepEqual(conversion?.kind === 'conversion' && [conversion.campaignId, conversion.variant, conversion.messageKey], ['win_back', 'holdout', deliveryKey(holdout, 'win_back', 3)]);
    assert.equal(c.lastSnapshot()?.reactivations, 1);
  });

  test('coming back after the first step cancels the rest of the series', () => {
    const c = canceller(warm, 80);
    assert.deepEqual(c.timeline((m) => m.campaignId === 'win_back'), [
      '2026-03-12 00:00 win_back#1 sent (warm)',
      '2026-04-11 00:00 win_back#2 cancelled',
      '2026-05-11 00:00 win_back#3 cancelled',
    ]);
    assert.equal(c.message('win_back', 2)?.reason, 'exited: stage changed from churned to subscriber');
    assert.equal(c.lastSnapshot()?.reactivations, 1);
  });
});

// --- (e) consent ----------------------------------------------------------------------------------------------------

describe('(e) "Unsubscribed"', () => {
  test('after it only transactional messages go out: renewal reminders, milestones and dunning; marketing is skipped', () => {
    const c = Customer.signedUp('unsub-1');
    c.script([
      [at(0, 2), 'Subscription Started', { plan: 'light' }],
      [at(1), 'Unsubscribed'],
      ...workouts(2, 120, 3),
      [at(31, 2), 'Subscription Renewed'],
      [at(59, 2), 'Payment Failed'],
      [at(62), 'Payment Recovered'],
    ]);
    c.until(at(120));
    assert.equal(journeyView(plan, c.state).marketing, 'unsubscribed');
    assert.deepEqual(c.timeline((m) => m.at > at(1)), [
      '2026-01-15 02:00 addon_cross_sell#1 skipped',
      '2026-01-29 02:00 renewal_reminder#1 sent',
      '2026-01-29 02:00 upgrade_offer#1 skipped',
      '2026-01-30 18:00 workout_milestone#1 sent',
      '2026-02-26 02:00 renewal_reminder#2 sent',
      '2026-03-01 02:00 payment_dunning#1 sent',
      '2026-03-04 02:00 payment_dunning#2 cancelled',
      '2026-03-08 02:00 payment_dunning#3 cancelled',
      '2026-03-29 02:00 renewal_reminder#3 sent',
      '2026-04-28 02:00 renewal_reminder#4 sent',
    ]);
    const after = c.requests.filter((r) => r.at > at(1));
    assert.ok(after.length > 0);
    assert.deepEqual([...new Set(after.map((r) => r.kind))], ['transactional']);
    for (const m of c.state.messages.filter((x) => x.kind === 'marketing' && x.status === 'skipped')) assert.equal(m.reason, 'unsubscribed from marketing');
  });
});

// --- (f) frequency cap ------------------------------------------------------------------------------------------------

describe('(f) frequency cap: at most 3 marketing messages in 7 days', () => {
  test('a busy first trial week: onboarding days 1 and 3, a paywall prompt on day 4, so onboarding day 7 is skipped', () => {
    const c = Customer.signedUp('busy-1');
    c.event('Trial Started', at(0, 1));
    c.script([...workouts(1, 10, 1), [at(4, 10), 'Paywall Viewed']]);
    c.until(at(12));
    assert.deepEqual(c.timeline((m) => m.kind === 'marketing' && m.status !== 'cancelled'), [
      '2026-01-02 01:00 onboarding#1 sent',
      '2026-01-04 01:00 onboarding#2 sent',
      '2026-01-05 12:00 paywall_prompt#1 sent',
      '2026-01-08 01:00 onboarding#3 skipped',
    ]);
    assert.equal(c.message('onboarding', 3)?.reason, 'frequency cap: 3 marketing messages in the last 7 days (at most 3)');
    assert.deepEqual(c.timeline((m) => m.kind === 'transactional'), ['2026-01-01 00:00 welcome#1 sent', '2026-01-11 18:00 workout_milestone#1 sent'], 'transactional messages are not capped');
  });
});

// --- (g) dunning ------------------------------------------------------------------------------------------------------

describe('(g) payment failed', () => {
  function failing(userId: string, recoveredOn?: number): Customer {
    const c = Customer.signedUp(userId);
    c.script([
      [at(0, 2), 'Subscription Started', { plan: 'full' }],
      ...workouts(2, 90, 4),
      [at(31, 3), 'Payment Failed'],
      ...(recoveredOn === undefined ? [] : [[at(recoveredOn), 'Payment Recovered'] as Scripted]),
    ]);
    c.until(at(90));
    return c;
  }

  test('three dunning messages (days 0, 3, 7), transactional, each with its own template', () => {
    const c = failing('dunning-1');
    assert.deepEqual(c.timeline((m) => m.campaignId === 'payment_dunning'), [
      '2026-02-01 03:00 payment_dunning#1 sent',
      '2026-02-04 03:00 payment_dunning#2 sent',
      '2026-02-08 03:00 payment_dunning#3 sent',
    ]);
    assert.deepEqual(
      c.requests.filter((r) => r.campaignId === 'payment_dunning').map((r) => [r.kind, r.template, r.summary]),
      [
        ['transactional', 'dunning_1', 'send Payment failed dunning (1/3)'],
        ['transactional', 'dunning_2', 'send Payment failed dunning (2/3)'],
        ['transactional', 'dunning_3', 'send Payment failed dunning (3/3)'],
      ],
    );
  });

  test('"Payment Recovered" stops the series and cancels the churn; it converts the last dunning message', () => {
    const c = failing('dunning-2', 36);
    assert.deepEqual(c.timeline((m) => m.campaignId === 'payment_dunning'), [
      '2026-02-01 03:00 payment_dunning#1 sent',
      '2026-02-04 03:00 payment_dunning#2 sent',
      '2026-02-08 03:00 payment_dunning#3 cancelled',
    ]);
    assert.equal(c.message('payment_dunning', 3)?.reason, 'exited: "Payment Recovered" arrived');
    assert.equal(c.state.stage, 'subscriber');
    assert.ok(!c.state.deadlines.some((d) => d.kind === 'timer' && d.timerId === 'payment_recovery'));
    assert.equal(c.message('payment_dunning', 2)?.convertedAt, at(36));
  });

  test('not recovered within 14 days: churned by the timer, renewal reminders stop, win-back starts', () => {
    const c = failing('dunning-3');
    assert.deepEqual(c.stages(), ['2026-01-01 00:00 prospect', '2026-01-01 02:00 subscriber', '2026-02-15 03:00 churned']);
    assert.deepEqual(c.state.stageHistory.at(-1)?.cause, { kind: 'timer', timer: 'payment_recovery', summary: 'payment not recovered' });
    assert.deepEqual(c.timeline((m) => m.campaignId === 'renewal_reminder'), ['2026-01-29 02:00 renewal_reminder#1 sent', '2026-02-26 02:00 renewal_reminder#2 cancelled']);
    assert.equal(c.message('win_back', 1)?.dueAt, at(75, 3), 'win-back step 1, 30 days after the churn');
    assert.equal(c.message('win_back', 1)?.status === 'holdout' || c.message('win_back', 1)?.status === 'sent', true);
    assert.deepEqual(
      c.state.deadlines.map((d) => `${iso(d.at)} ${d.key}`),
      ['2026-04-16 03:00 campaign:win_back#2', '2026-05-16 03:00 campaign:win_back#3'],
    );
  });
});

// --- (h) renewal reminders ------------------------------------------------------------------------------------------

describe('(h) renewal reminders', () => {
  const subscribed = Date.UTC(2026, 0, 31, 10); // the 31st: short months clamp to their last day
  const expected = [
    '2026-02-25 10:00',
    '2026-03-28 10:00',
    '2026-04-27 10:00',
    '2026-05-28 10:00',
    '2026-06-27 10:00',
    '2026-07-28 10:00',
    '2026-08-28 10:00',
    '2026-09-27 10:00',
    '2026-10-28 10:00',
    '2026-11-27 10:00',
    '2026-12-28 10:00',
    '2027-01-28 10:00',
  ];

  test('3 days before each monthly renewal, for a year: 12 reminders on exact dates (active and renewing, loyal from the 3rd renewal)', () => {
    const c = Customer.signedUp('renews-1');
    c.script([
      [subscribed, 'Subscription Started', { plan: 'full' }],
      ...Array.from({ length: 73 }, (_, i): Scripted => [subscribed + (1 + 5 * i) * DAY, 'Workout Logged']),
      ...Array.from({ length: 12 }, (_, i): Scripted => [addMonths(subscribed, i + 1) + 5 * MINUTE, 'Subscription Renewed']),
    ]);
    c.until(Date.UTC(2027, 0, 31, 10));
    const reminders = c.state.messages.filter((m) => m.campaignId === 'renewal_reminder');
    assert.deepEqual(reminders.map((m) => iso(m.dueAt)), expected);
    assert.deepEqual(reminders.map((m) => m.status), Array.from({ length: 12 }, () => 'sent'));
    assert.deepEqual(
      c.requests.filter((r) => r.campaignId === 'renewal_reminder').map((r) => iso(r.at)),
      expected,
    );
    assert.equal(c.state.stage, 'loyal');
  });

  test('a subscriber who lapses (and stays lapsed) still gets every reminder', () => {
    const c = Customer.signedUp('renews-2');
    c.event('Subscription Started', subscribed, { plan: 'light' });
    c.until(Date.UTC(2027, 0, 31, 10));
    assert.equal(c.state.stage, 'lapsed');
    assert.deepEqual(c.timeline((m) => m.campaignId === 'renewal_reminder').map((l) => l.slice(0, 16)), expected);
  });
});

// --- behaviour to review with marketing -------------------------------------------------------------------------------

describe('behaviour marketing asked for (pinned)', () => {
  test('card retries: a "Payment Failed" while the dunning series runs does not start another one (limit: notWhileRunning)', () => {
    const c = Customer.signedUp('retries-1');
    c.script([[at(0, 2), 'Subscription Started', { plan: 'full' }], ...workouts(2, 60, 4), [at(31, 3), 'Payment Failed'], [at(34, 3), 'Payment Failed'], [at(36, 3), 'Payment Failed']]);
    c.until(at(60));
    assert.deepEqual(c.timeline((m) => m.campaignId === 'payment_dunning'), [
      '2026-02-01 03:00 payment_dunning#1 sent',
      '2026-02-04 03:00 payment_dunning#2 sent',
      '2026-02-08 03:00 payment_dunning#3 sent',
    ]);
    // Still open: the payment_recovery timer is re-anchored by each failure (churn 14 days after the last).
    assert.equal(c.state.stageHistory.at(-1)?.at, at(50, 3), 'the churn is 14 days after the last failure');
  });

  test('the referral ask (limit: once) skipped at a renewal while lapsed is asked at a later renewal, once', () => {
    const c = Customer.signedUp('referral-1');
    const sub = at(0, 1);
    c.script([
      [sub, 'Subscription Started', { plan: 'full' }],
      ...workouts(1, 10, 1), // 10 workouts, then quiet: lapsed on day 24
      ...[1, 2, 3, 4].map((n): Scripted => [addMonths(sub, n), 'Subscription Renewed']),
      ...workouts(60, 130, 5), // back on day 60, active since
    ]);
    c.until(at(130));
    assert.deepEqual(c.timeline((m) => m.campaignId === 'referral_ask'), ['2026-03-01 01:00 referral_ask#1 skipped', '2026-04-01 01:00 referral_ask#2 sent']);
    assert.equal(c.message('referral_ask')?.reason, 'left the audience: stage is lapsed, campaign is for subscriber, loyal');
    assert.equal(c.state.stage, 'loyal');
  });

  test('the review prompt (limit: once) skipped because the customer was not yet satisfied is never asked again', () => {
    const c = Customer.signedUp('review-1');
    const sub = at(0, 1);
    c.script([
      [sub, 'Subscription Started', { plan: 'full' }],
      ...workouts(1, 200, 5),
      ...[1, 2, 3, 4, 5, 6].map((n): Scripted => [addMonths(sub, n), 'Subscription Renewed']),
    ]);
    c.segments(['reachable_by_email', 'satisfied'], at(100));
    c.until(at(200));
    assert.deepEqual(c.timeline((m) => m.campaignId === 'review_prompt'), ['2026-04-03 01:00 review_prompt#1 skipped']);
    assert.equal(c.state.stage, 'loyal');
  });

  test('a new subscriber who never opens the app gets the add-on cross-sell and "we miss you" at the same moment', () => {
    const c = Customer.signedUp('idle-1');
    c.event('Subscription Started', at(0, 1), { plan: 'full' });
    c.until(at(15));
    assert.deepEqual(c.timeline((m) => m.kind === 'marketing' && m.status === 'sent'), ['2026-01-15 01:00 addon_cross_sell#1 sent', '2026-01-15 01:00 we_miss_you#1 sent']);
  });
});
