import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import type { DeliveryRequest } from '../../src/core/journey-state.js';
import type { LoadedDefinition } from '../../src/definition-store/load-definition.js';
import { SimStore } from '../../src/sim/memory-store.js';
import { createSimActivities } from '../../src/sim/sim-activities.js';
import { coachingLive } from '../support/definitions.js';

/** Records the signals the in-memory activities send (to behaviour workflows and journeys). */
function recordingClient(): { client: Client; signals: Array<{ workflowId: string; name: string; args: unknown[] }> } {
  const signals: Array<{ workflowId: string; name: string; args: unknown[] }> = [];
  const client = {
    workflow: {
      getHandle: (workflowId: string) => ({
        signal: async (def: { name: string }, ...args: unknown[]) => {
          signals.push({ workflowId, name: def.name, args });
        },
      }),
    },
  } as unknown as Client;
  return { client, signals };
}

describe('in-memory activities of the simulator', () => {
  let definition: LoadedDefinition;
  before(async () => {
    definition = await coachingLive();
  });

  function setup() {
    const store = new SimStore();
    const { client, signals } = recordingClient();
    const activities = createSimActivities({ store, definition, client, taskQueue: 'simulation' });
    const profile = (userId: string, fields: Record<string, unknown> = {}) =>
      store.profiles.set(userId, { _id: userId, email: `${userId}@example.com`, locale: 'de-DE', timezone: 'UTC', traits: {}, ...fields } as never);
    const request = (userId: string, campaignId: string, kind: 'marketing' | 'transactional', extra: Partial<DeliveryRequest> = {}): DeliveryRequest => ({
      key: `customer-${userId}/${campaignId}/1`,
      userId,
      campaignId,
      occurrence: 1,
      kind,
      template: campaignId === 'welcome' ? 'welcome' : 'prospect_nudge_friendly',
      segments: [],
      definition: { id: definition.plan.id, version: definition.version },
      summary: 'send',
      ...extra,
    });
    return { store, signals, activities, profile, request };
  }

  test('a delivery is rendered in the customer locale, claimed by its key once, and reaches the customer with the campaign goal', async () => {
    const { store, signals, activities, profile, request } = setup();
    profile('ada', { firstName: 'Ada' });
    const first = await activities.deliverMessage(request('ada', 'welcome', 'transactional'));
    assert.deepEqual(first, { status: 'sent', provider: 'outbox', providerMessageId: 'customer-ada/welcome/1' });
    assert.equal(store.deliveries.get('customer-ada/welcome/1')?.subject, 'Willkommen bei CoachingLive, Ada!');
    const again = await activities.deliverMessage(request('ada', 'welcome', 'transactional'));
    assert.equal(again.status === 'sent' && again.duplicate, true, 'a retry finds the claim and does not send again');
    assert.equal(signals.length, 1);
    assert.deepEqual(signals[0], { workflowId: 'simulated-ada', name: 'receiveMessage', args: [{ key: 'customer-ada/welcome/1', campaignId: 'welcome', kind: 'transactional' }] });

    await activities.deliverMessage(request('ada', 'prospect_nudge', 'marketing', { variant: 'urgent' }));
    assert.deepEqual(signals[1]!.args[0], { key: 'customer-ada/prospect_nudge/1', campaignId: 'prospect_nudge', kind: 'marketing', variant: 'urgent', goal: 'Trial Started', withinHours: 168 });
  });

  test('marketing is skipped without consent or after an unsubscribe; transactional messages still go', async () => {
    const { activities, profile, request, signals } = setup();
    profile('no', { marketingConsent: false });
    profile('gone', { unsubscribedAt: new Date() });
    assert.deepEqual(await activities.deliverMessage(request('no', 'prospect_nudge', 'marketing')), { status: 'skipped', reason: 'no consent for marketing' });
    assert.deepEqual(await activities.deliverMessage(request('gone', 'prospect_nudge', 'marketing')), { status: 'skipped', reason: 'unsubscribed from marketing' });
    assert.equal((await activities.deliverMessage(request('no', 'welcome', 'transactional'))).status, 'sent');
    assert.deepEqual(await activities.deliverMessage(request('nobody', 'welcome', 'transactional')), { status: 'skipped', reason: 'no profile for this customer (identify was never called)' });
    assert.equal(signals.length, 1);
  });

  test('send windows defer a marketing message to the morning in the customer zone', async () => {
    const { activities, profile, request } = setup();
    profile('tokyo', { timezone: 'Asia/Tokyo' });
    // Outside a worker "now" is this machine's clock: ask for a window that excludes the current minute.
    const now = new Date();
    const from = `${String((now.getUTCHours() + 9 + 2) % 24).padStart(2, '0')}:00`;
    const to = `${String((now.getUTCHours() + 9 + 3) % 24).padStart(2, '0')}:00`;
    const outcome = await activities.deliverMessage(request('tokyo', 'prospect_nudge', 'marketing', { timing: { window: { from, to } } as never }));
    assert.equal(outcome.status, 'deferred');
  });

  test('audience and segments are MongoDB filters on the profile, evaluated in memory', async () => {
    const { activities, profile } = setup();
    profile('happy', { traits: { satisfaction: 5 } });
    profile('meh', { traits: { nps: 3 } });
    const ref = { id: definition.plan.id, version: definition.version };
    assert.deepEqual(await activities.checkAudience({ userId: 'happy', definition: ref, segments: ['satisfied'] }), { inAudience: true });
    assert.deepEqual(await activities.checkAudience({ userId: 'meh', definition: ref, segments: ['satisfied'] }), { inAudience: false, reason: 'not in segment satisfied' });
    assert.deepEqual(await activities.evaluateSegments({ userId: 'happy', definition: ref }), ['reachable_by_email', 'satisfied']);
  });
});
