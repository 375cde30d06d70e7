import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { EmailEvent } from '../../src/core/journey-state.js';
import { saveHistory } from '../support/histories.js';
import { DAY, JourneyHarness, userInBucket, type Customer } from '../support/journey-harness.js';
import { emailEventSignal } from '../../src/temporal/contract.js';

/**
 * The journey hearing back from its email (SendGrid Event Webhook events, as the API signals them) on the
 * time-skipping server, with the real activities against FerretDB and the SendGrid-compatible server:
 * suppression, the learned send hour, and computed traits on the profile with the segments they feed.
 */
describe('email events in the customer journey (time-skipping server)', () => {
  let h: JourneyHarness;
  before(async () => {
    h = await JourneyHarness.start('email_loop');
  });
  beforeEach(async () => {
    await h.freshServer();
  });
  after(async () => {
    await h?.teardown();
  });

  let seq = 0;
  async function emailEvent(c: Customer, event: Omit<EmailEvent, 'id' | 'at'> & { at?: number }): Promise<void> {
    await c.handle!.signal(emailEventSignal, { id: `sg-${++seq}`, at: await h.now(), ...event });
  }

  test('a hard bounce suppresses email: the next emails are skipped and say why, SendGrid gets nothing more', async () => {
    const userId = 'bouncer';
    await h.profile(userId, { timezone: 'UTC' });
    await h.withWorker(async (taskQueue) => {
      await h.alignTo(10);
      const c = h.customer(taskQueue, userId);
      await c.track('Signed Up');
      const [welcome] = await h.sendgrid.waitForMessages(1);
      assert.equal(welcome!.customArgs.delivery_key, `customer-${userId}/welcome/1`);
      await emailEvent(c, { type: 'delivered', deliveryKey: `customer-${userId}/welcome/1` });
      await emailEvent(c, { type: 'bounce', deliveryKey: `customer-${userId}/welcome/1` });
      await h.eventually('email to be suppressed', async () => (await c.journey()).email.status === 'suppressed');

      // The first nudge (marketing) is due a day after sign-up; then a subscription's welcome (transactional).
      await h.env.sleep(DAY + 3_600_000);
      await c.track('Subscription Started', { plan: 'light' });
      await h.env.sleep(DAY);
      const journey = await c.journey();
      assert.equal(journey.email.status, 'suppressed');
      assert.equal(journey.email.status === 'suppressed' && journey.email.reason, 'email suppressed: hard bounce on welcome');
      const welcomeRecord = journey.messages.find((m) => m.campaignId === 'welcome')!;
      assert.deepEqual([welcomeRecord.status, welcomeRecord.bounce, Boolean(welcomeRecord.deliveredAt), Boolean(welcomeRecord.bouncedAt)], ['sent', 'hard', true, true]);
      const later = journey.messages.filter((m) => m.campaignId !== 'welcome' && m.status !== 'cancelled').map((m) => [m.campaignId, m.status, m.reason]);
      assert.deepEqual(later, [
        ['prospect_nudge', 'skipped', 'email suppressed: hard bounce on welcome'],
        ['subscription_welcome', 'skipped', 'email suppressed: hard bounce on welcome'],
      ]);
      assert.deepEqual(h.sentTo(userId).map((m) => m.customArgs.campaign_id), ['welcome'], 'nothing more reached SendGrid');
      await saveHistory(c.handle!, 'email-hard-bounce');
    });
  });

  test('opens teach the hour: an optimised campaign goes at the learned hour in the customer’s zone, and says why', async () => {
    const userId = userInBucket('learner', 'prospect_nudge', 0.1, 1);
    await h.profile(userId, { timezone: 'Europe/Berlin' });
    await h.withWorker(async (taskQueue) => {
      const start = await h.alignTo(6);
      const c = h.customer(taskQueue, userId);
      await c.track('Signed Up');
      await h.sendgrid.waitForMessages(1);
      // Three opens that began at 18:00 in Berlin: the welcome, and two older messages the journey no longer holds.
      for (const occurrence of [1, 2, 3]) await emailEvent(c, { type: 'open', deliveryKey: `customer-${userId}/welcome/${occurrence}`, localHour: 18 });
      await emailEvent(c, { type: 'open', deliveryKey: `customer-${userId}/welcome/1`, localHour: 7, machine: true });
      const engaged = await h.eventually('three opens', async () => {
        const j = await c.journey();
        return j.engagement.samples === 3 ? j : undefined;
      });
      assert.deepEqual({ ...engaged.engagement, lastEngagedAt: null }, {
        opens: 3,
        clicks: 0,
        lastEngagedAt: null,
        samples: 3,
        learnedHour: 18,
        sendTime: 'optimised timing sends at 18:00 local time: the hour most of 3 opens and clicks began in',
      });

      // The first nudge is due a day after sign-up, at 07:00 in Berlin: it waits for 18:00, not for 09:00.
      await h.env.sleep(2 * DAY);
      const journey = await c.journey();
      const nudge = journey.messages.find((m) => m.campaignId === 'prospect_nudge')!;
      assert.equal(nudge.status, 'sent');
      assert.equal(nudge.localTime!.slice(11, 16), '18:00');
      assert.equal(Math.floor((Date.parse(nudge.at) - start) / DAY), 1);
      assert.equal(nudge.reason, 'send-time optimisation: customer usually opens or clicks at 18:00 Europe/Berlin (learned from 3 engagements)');
      await saveHistory(c.handle!, 'email-learned-hour');
    });
  });

  test('computed traits are written to the profile in FerretDB when they change, segments follow, and windows end on time', async () => {
    const userId = 'tracker';
    await h.profile(userId, { timezone: 'UTC' });
    const computedOf = async () => (await h.db.models.Customer.findById(userId).lean())?.computed;
    await h.withWorker(async (taskQueue) => {
      const start = await h.alignTo(10);
      const c = h.customer(taskQueue, userId);
      await c.track('Signed Up');
      const initial = { engaged: true, frequent: false, responsive: false, loyal: false, favourite_programme: null };
      await h.eventually('the first traits on the profile', async () => JSON.stringify(await computedOf()) === JSON.stringify(initial));
      let journey = await h.eventually('segments to follow', async () => {
        const j = await c.journey();
        return j.segments.includes('engaged') ? j : undefined;
      });
      assert.deepEqual(journey.segments, ['engaged', 'non_responsive', 'not_loyal', 'rare', 'reachable_by_email']);

      for (const day of [0, 1, 2, 3]) {
        const wait = start + day * DAY + 2 * 3_600_000 - (await h.now());
        if (wait > 0) await h.env.sleep(wait);
        await c.track('Workout Logged', { programme: day === 1 ? 'hiit' : 'yoga' });
      }
      await emailEvent(c, { type: 'click', deliveryKey: `customer-${userId}/welcome/1`, localHour: 12 });
      const active = { engaged: true, frequent: true, responsive: true, loyal: false, favourite_programme: 'yoga' };
      await h.eventually('frequent, responsive and yoga on the profile', async () => JSON.stringify(await computedOf()) === JSON.stringify(active));
      journey = await h.eventually('segments to follow', async () => {
        const j = await c.journey();
        return j.segments.includes('responsive') ? j : undefined;
      });
      assert.deepEqual(journey.segments, ['engaged', 'frequent', 'not_loyal', 'reachable_by_email', 'responsive', 'with_favourite_programme']);
      assert.deepEqual(journey.computed, active);
      // Day 0's workout leaves the 30-day window at the end of day 30: the journey sleeps until then.
      const windowEnd = journey.pending.find((p) => p.kind === 'traits');
      assert.deepEqual(windowEnd, { kind: 'traits', what: 'engagement window ends (frequent)', at: new Date(start - 10 * 3_600_000 + 31 * DAY).toISOString() });

      // Forty quiet days: no longer engaged nor frequent, still responsive (90 days).
      await h.env.sleep(40 * DAY);
      const quiet = { engaged: false, frequent: false, responsive: true, loyal: false, favourite_programme: 'yoga' };
      await h.eventually('the windows to end on the profile', async () => JSON.stringify(await computedOf()) === JSON.stringify(quiet));
      journey = await h.eventually('segments to follow', async () => {
        const j = await c.journey();
        return j.segments.includes('unengaged') ? j : undefined;
      });
      assert.deepEqual(journey.segments, ['not_loyal', 'rare', 'reachable_by_email', 'responsive', 'unengaged', 'with_favourite_programme']);
      const described = await c.handle!.describe();
      const segments = described.searchAttributes.Segments as string[] | undefined;
      assert.deepEqual(segments ? [...segments].sort() : segments, journey.segments, 'the Segments search attribute follows');
      const history = await c.handle!.fetchHistory();
      const timers = (history.events ?? []).filter((e) => e.timerStartedEventAttributes).length;
      assert.ok(timers > 0);
      await saveHistory(c.handle!, 'email-computed-traits');
    });
  });
});
