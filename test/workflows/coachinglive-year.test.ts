import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { saveHistory } from '../support/histories.js';
import { DAY, HOUR, JourneyHarness, userInBucket, type Customer } from '../support/journey-harness.js';
import type { JourneyView } from '../../src/temporal/contract.js';

/**
 * The CoachingLive journey over a simulated year per scenario, on the time-skipping server, with the real
 * activities: segments from FerretDB, send times in the customer's zone, email through the SendGrid client.
 */
type Step = [day: number, event: string, properties?: Record<string, unknown>];

const every = (from: number, to: number, step: number, event = 'Workout Logged'): Step[] =>
  Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i): Step => [from + i * step, event]);
/** Billing's "Subscription Renewed", monthly (30.44 days on average) after a subscription on `day`. */
const renewals = (day: number, count: number): Step[] =>
  Array.from({ length: count }, (_, i): Step => [day + Math.round((i + 1) * 30.44), 'Subscription Renewed']);

describe('CoachingLive, a year per scenario (time-skipping server)', () => {
  let h: JourneyHarness;
  before(async () => {
    h = await JourneyHarness.start('coachinglive_year');
  });
  beforeEach(async () => {
    await h.freshServer();
  });
  after(async () => {
    await h?.teardown();
  });

  /** Play a script of events at day offsets from `start` (each at start + day), then run on to `untilDay`. */
  async function play(c: Customer, start: number, script: Step[], untilDay = 365): Promise<JourneyView> {
    for (const [day, event, properties] of [...script].sort((a, b) => a[0] - b[0])) {
      const wait = start + day * DAY - (await h.now());
      if (wait > 0) await h.env.sleep(wait);
      await c.track(event, properties);
    }
    const rest = start + untilDay * DAY - (await h.now());
    if (rest > 0) await h.env.sleep(rest);
    return c.journey();
  }

  /** Sent messages as "day campaign HH:mm" (local time of sending), days counted from `start`. */
  function sent(view: JourneyView, start: number): string[] {
    return view.messages
      .filter((m) => m.status === 'sent')
      .map((m) => `${Math.floor((Date.parse(m.at) - start) / DAY)} ${m.campaignId}${m.localTime ? ` ${m.localTime.slice(11, 16)}` : ''}`);
  }
  const stagesOf = (view: JourneyView) => view.stages.map((s) => s.stage);

  test('a prospect who never starts the trial: welcome, three nudges at 09:00 New York time, then nothing for a year', async () => {
    const userId = userInBucket('prospect', 'prospect_nudge', 0.1, 1);
    await h.profile(userId, { timezone: 'America/New_York' });
    await h.withWorker(async (taskQueue) => {
      const start = await h.alignTo(6); // 01:00 in New York
      const c = h.customer(taskQueue, userId);
      const view = await play(c, start, [[0, 'Signed Up']]);
      assert.deepEqual(stagesOf(view), ['prospect']);
      assert.deepEqual(sent(view, start), ['0 welcome', '1 prospect_nudge 09:00', '3 prospect_nudge 09:00', '7 prospect_nudge 09:00']);
      const variants = new Set(view.messages.filter((m) => m.campaignId === 'prospect_nudge').map((m) => m.variant));
      assert.equal(variants.size, 1, 'one variant per customer');
      assert.deepEqual(view.experiments, { prospect_nudge: [...variants][0] });
      assert.deepEqual(view.pending, []);
      assert.equal(h.sentTo(userId).length, 4);
      await saveHistory(c.handle!, 'year-prospect');
    });
  });

  test('trial -> Light -> Full -> loyal -> reviewer, with renewals, milestones, offers and a referral ask', async () => {
    const userId = 'loyal-reviewer';
    await h.profile(userId, { timezone: 'Europe/Berlin', locale: 'de-DE', traits: { satisfaction: 5 } });
    await h.withWorker(async (taskQueue) => {
      const start = await h.alignTo(6);
      const c = h.customer(taskQueue, userId);
      const view = await play(c, start, [
        [0, 'Signed Up'],
        [0, 'Trial Started'],
        ...every(1, 364, 3),
        [10, 'Subscription Started', { plan: 'light' }],
        ...renewals(10, 11),
        [45, 'Plan Changed', { plan: 'full' }],
        [110, 'Review Submitted'],
      ]);
      assert.deepEqual(stagesOf(view), ['prospect', 'trial', 'subscriber', 'loyal']);
      assert.equal(view.plan, 'full');
      const s = sent(view, start);
      for (const expected of ['0 welcome', '1 onboarding 09:00', '3 onboarding 09:00', '7 onboarding 09:00', '10 subscription_welcome', '24 addon_cross_sell 09:00', '38 upgrade_offer 09:00']) {
        assert.ok(s.includes(expected), `${expected} in ${JSON.stringify(s)}`);
      }
      assert.equal(s.filter((x) => x.includes('renewal_reminder')).length, 11, 'a reminder before each renewal');
      assert.deepEqual(s.filter((x) => x.includes('workout_milestone')).map((x) => x.split(' ')[0]), ['28', '148', '298'], '10th, 50th, 100th workout');
      assert.equal(s.filter((x) => x.includes('rewards_enrolment')).length, 1);
      assert.equal(s.filter((x) => x.includes('referral_ask')).length, 1);
      assert.equal(s.filter((x) => x.includes('review_prompt')).length, 1, 'loyal, active and satisfied: asked once');
      assert.ok(!s.some((x) => x.includes('prospect_nudge') || x.includes('trial_ending') || x.includes('we_miss_you')));
      const review = view.messages.find((m) => m.campaignId === 'review_prompt')!;
      assert.ok(review.convertedAt, 'the review converted the prompt');
      const german = h.sentTo(userId).find((m) => m.customArgs.campaign_id === 'welcome');
      assert.equal(german?.subject, 'Willkommen bei CoachingLive, Ada!');
      await saveHistory(c.handle!, 'year-loyal-reviewer');
    });
  });

  test('lapse and return: 14 quiet days make a subscriber lapsed, "we miss you" goes, activity brings them back', async () => {
    const userId = 'lapse-return';
    await h.profile(userId, { timezone: 'UTC' });
    await h.withWorker(async (taskQueue) => {
      const start = await h.alignTo(10);
      const c = h.customer(taskQueue, userId);
      const view = await play(c, start, [
        [0, 'Subscription Started', { plan: 'light' }],
        [2, 'Workout Logged'],
        [20, 'Workout Logged'], // lapsed on day 16, back on day 20
        ...every(23, 364, 4),
        ...renewals(0, 11),
      ]);
      assert.deepEqual(stagesOf(view).slice(0, 4), ['prospect', 'subscriber', 'lapsed', 'subscriber']);
      const lapsed = view.stages[2]!;
      assert.equal(Math.round((Date.parse(lapsed.at) - start) / HOUR), 16 * 24, '14 days after the last workout');
      assert.equal(lapsed.why, 'timer: lapses after 14 days without activity');
      assert.match(view.stages[3]!.why, /Workout Logged/);
      assert.ok(sent(view, start).includes('16 we_miss_you 10:00'));
      const wmy = view.messages.find((m) => m.campaignId === 'we_miss_you')!;
      assert.ok(wmy.convertedAt, 'the workout on day 20 converted "we miss you"');
      assert.equal(view.stage, 'loyal', 'active and renewing, loyal from the third renewal');
      await saveHistory(c.handle!, 'year-lapse-return');
    });
  });

  test('cancel and win-back: churned, win-back at 30 and 60 days, resubscribes (a reactivation, a conversion)', async () => {
    const userId = userInBucket('winback', 'win_back', 0.1, 1);
    await h.profile(userId, { timezone: 'Asia/Kolkata' });
    await h.withWorker(async (taskQueue) => {
      const start = await h.alignTo(4); // 09:30 in Kolkata
      const c = h.customer(taskQueue, userId);
      const view = await play(c, start, [
        [0, 'Subscription Started', { plan: 'full' }],
        ...every(1, 19, 3),
        [20, 'Subscription Cancelled'],
        [85, 'Subscription Started', { plan: 'light' }],
        ...every(86, 364, 3),
        ...renewals(85, 8),
      ]);
      assert.deepEqual(stagesOf(view).slice(0, 4), ['prospect', 'subscriber', 'churned', 'subscriber']);
      assert.equal(view.stats.reactivations, 1);
      const winBack = view.messages.filter((m) => m.campaignId === 'win_back');
      assert.deepEqual(
        winBack.map((m) => [Math.floor((Date.parse(m.at) - start) / DAY), m.status]),
        [
          [50, 'sent'],
          [80, 'sent'],
          [85, 'cancelled'],
        ],
      );
      const delivered = winBack.filter((m) => m.status === 'sent');
      assert.ok(delivered.every((m) => m.variant === delivered[0]!.variant) && ['warm', 'direct'].includes(delivered[0]!.variant!), 'one variant');
      assert.ok(winBack[1]!.convertedAt, 'the resubscription is attributed to the last win-back message');
      assert.equal(winBack[0]!.localTime?.slice(11, 16), '09:30', 'inside the window in Kolkata (+05:30)');
      await saveHistory(c.handle!, 'year-cancel-win-back');
    });
  });

  test('unsubscribed: marketing stops, transactional messages (renewal reminders) go on', async () => {
    const userId = 'unsubscribed';
    await h.profile(userId, { timezone: 'UTC' });
    await h.withWorker(async (taskQueue) => {
      const start = await h.alignTo(10);
      const c = h.customer(taskQueue, userId);
      const view = await play(c, start, [
        [0, 'Subscription Started', { plan: 'light' }],
        [1, 'Unsubscribed'],
        ...every(2, 364, 3),
        ...renewals(0, 11),
      ]);
      assert.equal(view.marketing, 'unsubscribed');
      const marketing = view.messages.filter((m) => m.kind === 'marketing' && m.status !== 'cancelled');
      assert.ok(marketing.length >= 2, 'marketing steps scheduled before the unsubscribe came due');
      assert.ok(marketing.every((m) => m.status === 'skipped' && m.reason === 'unsubscribed from marketing'), JSON.stringify(marketing));
      assert.equal(view.messages.filter((m) => m.campaignId === 'renewal_reminder' && m.status === 'sent').length, 12, 'one 3 days before each of the 12 monthly renewals');
      assert.equal(h.sentTo(userId).filter((m) => m.categories.includes('marketing')).length, 0);
      await saveHistory(c.handle!, 'year-unsubscribed');
    });
  });

  test('capped: a busy trial week that would send 5 marketing messages sends 3, the rest skipped by the cap', async () => {
    const userId = 'capped';
    await h.profile(userId, { timezone: 'UTC' });
    await h.withWorker(async (taskQueue) => {
      const start = await h.alignTo(10);
      const c = h.customer(taskQueue, userId);
      const view = await play(c, start, [
        [0, 'Trial Started'], // onboarding day 1, 3, 7
        [1.5, 'Paywall Viewed'],
        [2, 'Checkout Started'],
        ...every(0.5, 364, 2),
      ], 365);
      const week = view.messages.filter((m) => m.kind === 'marketing' && Date.parse(m.dueAt) - start < 8 * DAY && m.status !== 'cancelled');
      assert.deepEqual(
        week.map((m) => [m.campaignId, m.status]),
        [
          ['onboarding', 'sent'],
          ['paywall_prompt', 'sent'],
          ['abandoned_checkout', 'sent'],
          ['onboarding', 'skipped'],
          ['onboarding', 'skipped'],
        ],
      );
      assert.match(week[3]!.reason!, /^frequency cap: 3 marketing messages in the last 7 days/);
      assert.deepEqual(stagesOf(view), ['prospect', 'trial', 'churned']);
      await saveHistory(c.handle!, 'year-capped');
    });
  });

  test('holdout: a prospect in the holdout gets no nudges; the trial they start is a conversion of the holdout', async () => {
    const userId = userInBucket('holdout', 'prospect_nudge', 0, 0.1);
    await h.profile(userId, { timezone: 'UTC' });
    await h.withWorker(async (taskQueue) => {
      const start = await h.alignTo(10);
      const c = h.customer(taskQueue, userId);
      const view = await play(c, start, [
        [0, 'Signed Up'],
        [5, 'Trial Started'],
        [20, 'Subscription Started', { plan: 'full' }],
        ...every(1, 364, 3),
        ...renewals(20, 11),
      ]);
      assert.deepEqual(view.experiments.prospect_nudge, 'holdout');
      const nudges = view.messages.filter((m) => m.campaignId === 'prospect_nudge');
      assert.deepEqual(
        nudges.map((m) => m.status),
        ['holdout', 'holdout', 'cancelled'],
      );
      assert.ok(nudges[1]!.convertedAt, 'the trial started on day 5 counts for the holdout');
      assert.equal(h.sentTo(userId).filter((m) => m.customArgs.campaign_id === 'prospect_nudge').length, 0);
      const facts = await h.db.models.JourneyFactRecord.find({ userId, kind: 'conversion' }).lean();
      assert.deepEqual(facts.map((f) => [(f as { campaignId?: string }).campaignId, (f as { variant?: string }).variant]), [['prospect_nudge', 'holdout']]);
      await saveHistory(c.handle!, 'year-holdout');
    });
  });
});
