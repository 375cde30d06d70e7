import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { timelineOf } from '../../src/core/journey-timeline.js';
import type { PreferenceChange } from '../../src/core/preferences.js';
import { changePreferencesSignal } from '../../src/temporal/contract.js';
import { saveHistory } from '../support/histories.js';
import { DAY, HOUR, JourneyHarness, userInBucket, type Customer } from '../support/journey-harness.js';

/**
 * The customer's preferences reaching the journey on the time-skipping server, with the real activities
 * against FerretDB and the SendGrid-compatible server: the timeline tells each change and its source, the
 * next marketing message of a topic turned off is skipped with the reason, transactional messages go.
 */
describe('preferences in the customer journey (time-skipping server)', () => {
  let h: JourneyHarness;
  before(async () => {
    h = await JourneyHarness.start('preferences_journey');
  });
  beforeEach(async () => {
    await h.freshServer();
  });
  after(async () => {
    await h?.teardown();
  });

  /** As the API does it: the profile first (what the delivery rules read), then the signal. */
  async function changePreferences(c: Customer, change: Omit<PreferenceChange, 'at'>): Promise<void> {
    const p = change.preferences;
    await h.db.models.Customer.updateOne({ _id: c.userId }, { $set: { preferences: p, preferencesUpdatedAt: new Date(await h.now()) } });
    await c.handle!.signal(changePreferencesSignal, { ...change, at: await h.now() });
  }

  test('a one-click unsubscribe from offers: the timeline shows it with its source, the next offer is skipped, transactional mail goes', async () => {
    const userId = userInBucket('prefs', 'prospect_nudge', 0.1, 1);
    await h.profile(userId, { timezone: 'UTC' });
    await h.withWorker(async (taskQueue) => {
      await h.alignTo(10);
      const c = h.customer(taskQueue, userId);
      await c.track('Signed Up');
      await h.sendgrid.waitForMessages(1);
      const offersOff = { topics: { offers: false }, channels: {} };
      await changePreferences(c, { source: 'one-click', preferences: offersOff });
      // The same change told again (a retry after an outage) records nothing new.
      await changePreferences(c, { source: 'one-click', preferences: offersOff });
      await h.eventually('the change in the journey', async () => (await c.journey()).preferenceChanges.length > 0);

      // prospect_nudge (topic offers) is due a day after sign-up; a subscription's welcome is transactional.
      await h.env.sleep(DAY + HOUR);
      await changePreferences(c, { source: 'preference-page', preferences: { marketing: false, topics: { offers: false }, channels: { email: false } } });
      await c.track('Subscription Started', { plan: 'light' });
      await h.env.sleep(HOUR);
      const journey = await h.eventually('the subscription welcome', async () => {
        const j = await c.journey();
        return j.messages.some((m) => m.campaignId === 'subscription_welcome' && m.status === 'sent') && j;
      });

      assert.deepEqual(
        journey.preferenceChanges.map((p) => [p.source, p.changes]),
        [
          ['one-click', ['topic offers off']],
          ['preference-page', ['all marketing off', 'channel email off']],
        ],
      );
      const told = timelineOf(journey).filter((e) => e.kind === 'preference');
      assert.deepEqual(
        told.map((e) => [e.status, e.text]),
        [
          ['one-click', 'preferences: topic offers off (by one-click unsubscribe)'],
          ['preference-page', 'preferences: all marketing off, channel email off (by the preference page)'],
        ],
      );
      const nudge = journey.messages.find((m) => m.campaignId === 'prospect_nudge' && m.status !== 'cancelled');
      assert.deepEqual([nudge?.status, nudge?.reason], ['skipped', 'preferences: the customer turned topic offers off']);
      assert.deepEqual(
        h.sentTo(userId).map((m) => m.customArgs.campaign_id),
        ['welcome', 'subscription_welcome'],
        'transactional messages are never held back by marketing preferences',
      );
      await saveHistory(c.handle!, 'preferences-one-click');
    });
  });

  test('a run of an older code version takes the signal and ignores it; the profile still holds marketing back', async () => {
    const userId = userInBucket('prefs-old', 'prospect_nudge', 0.1, 1);
    await h.profile(userId, { timezone: 'UTC' });
    await h.withWorker(async (taskQueue) => {
      await h.alignTo(10);
      const c = h.customer(taskQueue, userId, { codeVersion: 3 });
      await c.track('Signed Up');
      await h.sendgrid.waitForMessages(1);
      await changePreferences(c, { source: 'api', preferences: { topics: { offers: false }, channels: {} } });
      await h.env.sleep(DAY + HOUR);
      const journey = await c.journey();
      assert.deepEqual(journey.preferenceChanges, []);
      const nudge = journey.messages.find((m) => m.campaignId === 'prospect_nudge' && m.status !== 'cancelled');
      assert.deepEqual([nudge?.status, nudge?.reason], ['skipped', 'preferences: the customer turned topic offers off']);
    });
  });
});
