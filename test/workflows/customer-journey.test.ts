import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { saveHistory } from '../support/histories.js';
import { DAY, HOUR, JourneyHarness, MINUTE, outcomes } from '../support/journey-harness.js';
import { supportActionUpdate } from '../../src/temporal/contract.js';

describe('customer journey workflow (time-skipping server)', () => {
  let h: JourneyHarness;
  before(async () => {
    h = await JourneyHarness.start('workflow_basics');
  });
  beforeEach(async () => {
    await h.freshServer();
  });
  after(async () => {
    await h?.teardown();
  });

  test('a 30-day trial that elapses: onboarding at 09:00 Berlin time, reminders 7 and 1 days before, then churned', async () => {
    const userId = 'trial-elapses';
    await h.profile(userId, { timezone: 'Europe/Berlin' });
    await h.withWorker(async (taskQueue) => {
      const start = await h.alignTo(6); // 07:00 in Berlin: before the 09:00-20:00 marketing window
      const ada = h.customer(taskQueue, userId);
      await ada.track('Signed Up');
      await ada.track('Trial Started');
      const [welcome] = await h.sendgrid.waitForMessages(1);
      assert.equal(welcome!.customArgs.delivery_key, `customer-${userId}/welcome/1`);
      assert.equal(welcome!.subject, 'Welcome to CoachingLive, Ada!');

      let journey = await ada.journey();
      assert.equal(journey.stage, 'trial');
      const trialEnds = journey.pending.find((p) => p.what === 'trial ends');
      assert.equal(Date.parse(trialEnds!.at) - Date.parse(journey.stageEnteredAt), 30 * DAY);
      assert.ok(Date.parse(journey.stageEnteredAt) - start < MINUTE);

      // Active every 5 days, so the customer never lapses.
      await h.env.sleep(5 * MINUTE);
      for (let day = 5; day <= 25; day += 5) {
        await h.env.sleep(5 * DAY);
        await ada.track('Workout Logged');
      }
      await h.env.sleep(6 * DAY);
      journey = await ada.journey();
      assert.equal(journey.stage, 'churned');
      assert.deepEqual(
        journey.stages.map((s) => [s.stage, s.why.replace(/ \(.*\)$/, '')]),
        [
          ['prospect', 'journey started'],
          ['trial', 'event "Trial Started"'],
          ['churned', 'timer: trial ends'],
        ],
      );
      assert.equal(Date.parse(journey.stages[2]!.at) - Date.parse(journey.stages[1]!.at), 30 * DAY);
      assert.deepEqual(outcomes(journey), [
        ['welcome', 'sent'],
        ['onboarding', 'sent'],
        ['onboarding', 'sent'],
        ['onboarding', 'sent'],
        ['workout_milestone', 'skipped'],
        ['trial_ending_7d', 'sent'],
        ['trial_ending_1d', 'sent'],
      ].filter(([c]) => c !== 'workout_milestone') as Array<[string, string]>);
      const local = journey.messages.filter((m) => m.status === 'sent' && m.campaignId !== 'welcome').map((m) => m.localTime!.slice(11, 16));
      assert.deepEqual(local, ['09:00', '09:00', '09:00', '09:00', '09:00'], 'marketing waits for 09:00 in Berlin');
      assert.equal(h.sentTo(userId).length, 6, 'each message exactly once');
      await saveHistory(ada.handle!, 'trial-elapses');
    });
  });

  test('subscribing during the trial cancels the reminders and the churn', async () => {
    const userId = 'subscribes';
    await h.profile(userId);
    await h.withWorker(async (taskQueue) => {
      await h.alignTo(10);
      const bo = h.customer(taskQueue, userId);
      await bo.track('Trial Started');
      await h.env.sleep(10 * DAY);
      await bo.track('Subscription Started', { plan: 'light' });
      await h.env.sleep(HOUR);
      const journey = await bo.journey();
      assert.equal(journey.stage, 'subscriber');
      assert.equal(journey.plan, 'light');
      assert.ok(!journey.pending.some((p) => p.what === 'trial ends'));
      const reminders = journey.messages.filter((m) => m.campaignId.startsWith('trial_ending'));
      assert.deepEqual(reminders.map((m) => m.status), ['cancelled', 'cancelled']);
      assert.match(reminders[0]!.reason ?? '', /Subscription Started/);
      assert.deepEqual(h.sentTo(userId).map((m) => m.customArgs.campaign_id), ['onboarding', 'onboarding', 'onboarding', 'subscription_welcome']);
      await saveHistory(bo.handle!, 'subscribes-in-trial');
    });
  });

  test('support extends a trial and pauses marketing through validated updates, audited in the journey', async () => {
    const userId = 'supported';
    await h.profile(userId);
    await h.withWorker(async (taskQueue) => {
      await h.alignTo(10);
      const dee = h.customer(taskQueue, userId);
      await dee.track('Trial Started');
      await h.env.sleep(MINUTE); // let the start settle (segments, read model) before counting history events
      const before = await dee.journey();
      const end = Date.parse(before.pending.find((p) => p.what === 'trial ends')!.at);
      const reminder = Date.parse(before.pending.find((p) => p.what === 'send Trial ends in 7 days')!.at);
      const handle = dee.handle!;
      const refusedWith = (pattern: RegExp) => (err: Error & { cause?: Error }) => pattern.test(err.cause?.message ?? '');
      await assert.rejects(handle.executeUpdate(supportActionUpdate, { args: [{ action: 'extendTrial', days: 0, actor: 'sam' }] }), refusedWith(/1 to 90 whole days/));
      await assert.rejects(handle.executeUpdate(supportActionUpdate, { args: [{ action: 'resumeMarketing', actor: 'sam' }] }), refusedWith(/not paused/));
      const accepted = async () => ((await handle.fetchHistory()).events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
      assert.equal(await accepted(), 0, 'a refused update is never accepted into history');

      const after = await handle.executeUpdate(supportActionUpdate, { args: [{ action: 'extendTrial', days: 7, actor: 'sam', reason: 'app outage' }] });
      assert.equal(Date.parse(after.pending.find((p) => p.what === 'trial ends')!.at), end + 7 * DAY);
      assert.equal(Date.parse(after.pending.find((p) => p.what === 'send Trial ends in 7 days')!.at), reminder + 7 * DAY, 'the reminders move with it');
      assert.deepEqual(after.audit.map((a) => [a.actor, a.reason]), [['sam', 'app outage']]);
      assert.equal(await accepted(), 1);

      const paused = await handle.executeUpdate(supportActionUpdate, { args: [{ action: 'pauseMarketing', actor: 'sam' }] });
      assert.equal(paused.marketing, 'paused');
      await h.env.sleep(2 * DAY);
      const onboarding = (await dee.journey()).messages.filter((m) => m.campaignId === 'onboarding');
      assert.deepEqual(onboarding.map((m) => [m.status, m.reason]), [['skipped', 'marketing paused by support']]);
      await h.env.sleep(36 * DAY);
      const journey = await dee.journey();
      assert.equal(journey.stage, 'churned');
      assert.equal(Date.parse(journey.stages.at(-1)!.at), end + 7 * DAY, 'churned when the extended trial ended');
    });
  });

  test('the same messageId is applied once, also across continue-as-new', async () => {
    const userId = 'dedupe';
    await h.profile(userId);
    await h.withWorker(async (taskQueue) => {
      const cy = h.customer(taskQueue, userId, { maxInputsPerRun: 3 });
      await cy.track('Signed Up');
      const handle = cy.handle!;
      for (let i = 0; i < 6; i++) await handle.signal('trackEvent', { messageId: `x${i}`, event: 'Workout Logged' });
      await handle.signal('trackEvent', { messageId: `${userId}-1`, event: 'Signed Up' });
      await handle.signal('trackEvent', { messageId: 'x2', event: 'Workout Logged' });
      await h.env.sleep(MINUTE);
      const journey = await cy.journey();
      assert.ok(journey.stats.runs >= 2, `continued as new (runs: ${journey.stats.runs})`);
      assert.equal(journey.stats.events, 7);
      assert.equal(journey.stats.duplicates, 2);
      assert.equal(journey.counters.workouts, 6);
      assert.equal(h.sentTo(userId).filter((m) => m.customArgs.campaign_id === 'welcome').length, 1, 'one welcome');
      await saveHistory(handle, 'dedupe-across-continue-as-new');
    });
  });

  test('from code version 9 a transactional message goes out on the transactional queue and marketing on the marketing queue', async () => {
    const userId = 'queues';
    await h.profile(userId);
    await h.withWorker(async (taskQueue) => {
      await h.alignTo(10);
      const eve = h.customer(taskQueue, userId);
      await eve.track('Signed Up');
      await eve.track('Trial Started');
      await h.env.sleep(2 * DAY);
      assert.deepEqual(h.sentTo(userId).map((m) => m.customArgs.campaign_id), ['welcome', 'onboarding']);
      const scheduled = ((await eve.handle!.fetchHistory()).events ?? [])
        .map((e) => e.activityTaskScheduledEventAttributes)
        .filter((a) => a?.activityType?.name === 'deliverMessage')
        .map((a) => a!.taskQueue?.name);
      assert.deepEqual(scheduled, [`${taskQueue}-transactional`, `${taskQueue}-marketing`], 'welcome (transactional), then onboarding (marketing)');
      await saveHistory(eve.handle!, 'delivery-queues');
    });
  });
});
