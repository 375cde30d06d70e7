/**
 * Channels in the core: a campaign's fallback channels and per-channel frequency caps (the schema, the
 * version of definitions without them, the delivery request, what the journey records of the outcome),
 * provider feedback from another channel, and the plan a run before journey code version 4 sees.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { withoutChannelChoices } from '../../src/core/channel-routing.js';
import { startJourney, step } from '../../src/core/journey-reducer.js';
import type { DeliveryRequest, JourneyInput, JourneyState } from '../../src/core/journey-state.js';
import type { JourneyDefinitionInput, JourneyPlan } from '../../src/core/journey-definition.js';
import { parseDefinition } from '../../src/definition-store/load-definition.js';
import { T0, ev, minimalDefinition, planOf, violations } from './fixtures.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const text = (id: string) => ({ id, locales: { en: { subject: `${id} title`, html: `<p>${id}</p>`, text: `${id} body` } } });

/** A marketing nudge on every "Booked": to the `push` webhook endpoint, else by email. */
function nudgeDefinition(overrides: Partial<JourneyDefinitionInput> = {}, message: Record<string, unknown> = {}): JourneyDefinitionInput {
  return minimalDefinition({
    campaigns: [
      {
        id: 'nudge',
        name: 'Nudge',
        kind: 'marketing',
        trigger: { event: 'Booked' },
        message: (message.channel === 'email' ? { template: 'nudge', ...message } : { channel: 'webhook', endpoint: 'push', template: 'nudge', fallback: ['email'], ...message }) as never,
      },
    ],
    templates: [text('nudge'), text('nudge_mail')],
    ...overrides,
  });
}


/** Run inputs through the core, answering every delivery with `answer`; returns the state and the requests made. */
function run(plan: JourneyPlan, inputs: JourneyInput[], answer: (r: DeliveryRequest) => Extract<JourneyInput, { type: 'delivery' }>['outcome']) {
  let state: JourneyState = startJourney(plan, 'u1', T0).state;
  const requests: DeliveryRequest[] = [];
  for (const input of inputs) {
    const queue: JourneyInput[] = [input];
    while (queue.length > 0) {
      const next = step(plan, state, queue.shift()!);
      state = next.state;
      for (const c of next.commands) {
        if (c.type !== 'deliver') continue;
        requests.push(c.request);
        queue.push({ type: 'delivery', now: input.now, key: c.request.key, outcome: answer(c.request) });
      }
    }
  }
  return { state, requests };
}

describe('fallback channels in a definition', () => {
  test('a bare id or a channel message with its options; the parsed message keeps them in order', () => {
    const plan = planOf(nudgeDefinition({}, { fallback: [{ channel: 'email', template: 'nudge_mail' }] }));
    assert.deepEqual(plan.campaigns[0]!.message, { channel: 'webhook', endpoint: 'push', template: 'nudge', fallback: [{ channel: 'email', template: 'nudge_mail' }] });
    const bare = planOf(nudgeDefinition());
    assert.deepEqual(bare.campaigns[0]!.message.fallback, [{ channel: 'email' }]);
    const toWebhook = planOf(nudgeDefinition({}, { channel: 'email', fallback: [{ channel: 'webhook', endpoint: 'inapp' }] }));
    assert.deepEqual(toWebhook.campaigns[0]!.message, { channel: 'email', template: 'nudge', fallback: [{ channel: 'webhook', endpoint: 'inapp' }] });
  });

  test('a definition without fallbacks or channel caps keeps its version', () => {
    const def = minimalDefinition();
    const withCap = { ...def, frequencyCap: { max: 2, per: '7 days' } };
    assert.equal(parseDefinition(def).version, parseDefinition(minimalDefinition()).version);
    assert.deepEqual(parseDefinition(withCap).plan.frequencyCap, { max: 2, per: 7 * DAY });
    // Pinned: the version of this definition as it was before channels could fall back.
    assert.equal(parseDefinition(def).version, parseDefinition({ ...def, campaigns: [{ ...def.campaigns![0]!, message: { channel: 'email', template: 'hello' } }] }).version);
  });

  test('a channel without its options, a channel twice, an unknown template or channel, a bad cap are refused with a clear message', () => {
    assert.deepEqual(violations(nudgeDefinition({}, { channel: 'email', fallback: ['webhook'] })), [
      { path: 'campaigns.0.message.fallback.0', message: 'webhook needs its options: write { channel: webhook, endpoint: ... }' },
    ]);
    assert.deepEqual(violations(nudgeDefinition({}, { fallback: [{ channel: 'webhook', endpoint: 'inapp' }] })), [
      { path: 'campaigns[0].message.fallback[0]', message: 'channel webhook is named twice (a fallback is another channel)' },
    ]);
    assert.deepEqual(violations(nudgeDefinition({}, { fallback: [{ channel: 'email', template: 'nope' }] })), [
      { path: 'campaigns[0].message.fallback[0].template', message: 'unknown template "nope"' },
    ]);
    assert.ok(violations(nudgeDefinition({}, { fallback: ['fax'] })).some((v) => v.path.startsWith('campaigns.0.message.fallback.0')));
    assert.deepEqual(violations(nudgeDefinition({ frequencyCap: { max: 2 } as never })), [{ path: 'frequencyCap', message: 'give max and per together (the cap over all channels)' }]);
    assert.deepEqual(violations(nudgeDefinition({ frequencyCap: { channels: { pager: { max: 1, per: '1 day' } } } as never })).map((v) => v.path), ['frequencyCap.channels']);
  });
});

describe('fallback channels in the journey', () => {
  test('the request names the first channel and the fallbacks; the outcome says which channel took it and why the others were passed over', () => {
    const plan = planOf(nudgeDefinition({}, { fallback: [{ channel: 'email', template: 'nudge_mail' }] }));
    const { state, requests } = run(plan, [ev('Booked', T0 + HOUR)], () => ({
      status: 'sent',
      provider: 'outbox',
      channel: 'email',
      passedOver: [{ channel: 'webhook', reason: 'no consent for marketing' }],
    }));
    assert.deepEqual(
      requests.map((r) => [r.channel, r.endpoint, r.template, r.fallback, r.passedOver]),
      [['webhook', 'push', 'nudge', [{ channel: 'email', template: 'nudge_mail' }], undefined]],
    );
    const [message] = state.messages;
    assert.deepEqual([message!.status, message!.channel, message!.passedOver], ['sent', 'email', [{ channel: 'webhook', reason: 'no consent for marketing' }]]);
  });

  test('a channel suppressed by its provider is passed over in the journey; with none left the message is skipped with every reason', () => {
    const plan = planOf(nudgeDefinition());
    const feedback = (type: 'failed' | 'complained', id: string, key: string, at: number): JourneyInput => ({
      type: 'channelFeedback',
      now: at,
      feedback: { id, channel: 'webhook', type, deliveryKey: key, at },
    });
    const first = run(plan, [ev('Booked', T0 + HOUR)], (r) => ({ status: 'sent', provider: 'webhook', channel: r.channel ?? 'email' }));
    const key = first.state.messages[0]!.key;
    const after = step(plan, first.state, feedback('failed', 'ev-1', key, T0 + 2 * HOUR)).state;
    assert.deepEqual(after.channelSuppressed, { webhook: { reason: 'bounce', at: T0 + 2 * HOUR, campaignId: 'nudge', key } });
    assert.equal(after.emailSuppressed, undefined, 'email is not suppressed by another channel');
    // The same report again is applied once.
    assert.equal(step(plan, after, feedback('failed', 'ev-1', key, T0 + 2 * HOUR)).state.stats.duplicates, after.stats.duplicates + 1);

    const next = step(plan, after, ev('Booked', T0 + 3 * HOUR));
    const request = next.commands.flatMap((c) => (c.type === 'deliver' ? [c.request] : []))[0]!;
    assert.deepEqual([request.channel, request.fallback, request.passedOver], [undefined, undefined, [{ channel: 'webhook', reason: 'webhook suppressed: failed for good on nudge' }]]);

    const emailToo = { ...next.state, emailSuppressed: { reason: 'bounce' as const, at: T0, campaignId: 'hello', key: 'k' } };
    const skipped = step(plan, emailToo, ev('Booked', T0 + 4 * HOUR)).state.messages.at(-1)!;
    assert.deepEqual([skipped.status, skipped.reason], [
      'skipped',
      'no channel could take it: webhook: webhook suppressed: failed for good on nudge; email: email suppressed: hard bounce on hello',
    ]);
  });

  test('feedback from another channel counts as engagement and marks the message, as SendGrid events do', () => {
    const plan = planOf(nudgeDefinition());
    const first = run(plan, [ev('Booked', T0 + HOUR)], (r) => ({ status: 'sent', provider: 'webhook', channel: r.channel ?? 'email' }));
    const key = first.state.messages[0]!.key;
    const clicked = step(plan, first.state, { type: 'channelFeedback', now: T0 + 2 * HOUR, feedback: { id: 'c1', channel: 'webhook', type: 'clicked', deliveryKey: key, at: T0 + 2 * HOUR, localHour: 9 } });
    assert.equal(clicked.state.messages[0]!.clickedAt, T0 + 2 * HOUR);
    assert.equal(clicked.state.engagement?.clicks, 1);
    // 'accepted' and 'dismissed' change nothing in the journey.
    const dismissed = step(plan, clicked.state, { type: 'channelFeedback', now: T0 + 3 * HOUR, feedback: { id: 'd1', channel: 'webhook', type: 'dismissed', deliveryKey: key, at: T0 + 3 * HOUR } });
    assert.deepEqual(dismissed.commands, []);
  });
});

describe('frequency caps per channel', () => {
  const capped = (frequencyCap: unknown) => planOf(nudgeDefinition({ frequencyCap: frequencyCap as never }));
  const sent = (r: DeliveryRequest) => ({ status: 'sent' as const, provider: 'x', channel: r.channel ?? ('email' as const) });

  test('a channel over its own cap is passed over for the next; the cross-channel cap still holds', () => {
    const plan = capped({ max: 3, per: '7 days', channels: { webhook: { max: 1, per: '1 day' } } });
    const { state, requests } = run(plan, [ev('Booked', T0 + HOUR), ev('Booked', T0 + 2 * HOUR), ev('Booked', T0 + 3 * HOUR), ev('Booked', T0 + 4 * HOUR)], sent);
    assert.deepEqual(
      requests.map((r) => [r.channel ?? 'email', r.passedOver?.map((p) => p.reason)]),
      [
        ['webhook', undefined],
        ['email', ['frequency cap on webhook: 1 marketing messages in the last 1 day (at most 1)']],
        ['email', ['frequency cap on webhook: 1 marketing messages in the last 1 day (at most 1)']],
      ],
    );
    assert.equal(state.messages.at(-1)!.reason, 'frequency cap: 3 marketing messages in the last 7 days (at most 3)');
    // A day later the webhook channel is free again.
    const later = step(plan, state, ev('Booked', T0 + 8 * DAY));
    assert.equal(later.commands.flatMap((c) => (c.type === 'deliver' ? [c.request.channel] : []))[0], 'webhook');
  });

  test('per-channel caps alone; every channel capped skips the message with each reason', () => {
    const plan = capped({ channels: { webhook: { max: 1, per: '1 day' }, email: { max: 1, per: '1 day' } } });
    const { state } = run(plan, [ev('Booked', T0 + HOUR), ev('Booked', T0 + 2 * HOUR), ev('Booked', T0 + 3 * HOUR)], sent);
    assert.deepEqual(
      state.messages.map((m) => [m.status, m.channel ?? null, m.reason ?? null]),
      [
        ['sent', 'webhook', null],
        ['sent', 'email', null],
        [
          'skipped',
          null,
          'no channel could take it: webhook: frequency cap on webhook: 1 marketing messages in the last 1 day (at most 1); email: frequency cap on email: 1 marketing messages in the last 1 day (at most 1)',
        ],
      ],
    );
  });

  test('messages recorded before there was a choice count on their campaign’s channel', () => {
    const plan = capped({ channels: { webhook: { max: 1, per: '1 day' } } });
    const first = run(plan, [ev('Booked', T0 + HOUR)], () => ({ status: 'sent', provider: 'webhook' }));
    assert.equal(first.state.messages[0]!.channel, undefined);
    const second = step(plan, first.state, ev('Booked', T0 + 2 * HOUR));
    assert.equal(second.commands.flatMap((c) => (c.type === 'deliver' ? [c.request.channel ?? 'email'] : []))[0], 'email');
  });
});

describe('a run before journey code version 4', () => {
  test('sees the plan without fallbacks and per-channel caps', () => {
    const plan = planOf(nudgeDefinition({ frequencyCap: { max: 2, per: '7 days', channels: { webhook: { max: 1, per: '1 day' } } } as never }));
    const old = withoutChannelChoices(plan);
    assert.deepEqual(old.campaigns[0]!.message, { channel: 'webhook', endpoint: 'push', template: 'nudge' });
    assert.deepEqual(old.frequencyCap, { max: 2, per: 7 * DAY });
    assert.equal(withoutChannelChoices(planOf(nudgeDefinition({ frequencyCap: { channels: { webhook: { max: 1, per: '1 day' } } } as never }))).frequencyCap, undefined);
    const { requests } = run(old, [ev('Booked', T0 + HOUR)], () => ({ status: 'sent', provider: 'webhook' }));
    assert.deepEqual([requests[0]!.channel, requests[0]!.fallback], ['webhook', undefined]);
  });
});
