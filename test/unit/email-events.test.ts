/**
 * SendGrid events in the pure core (the journey side of the Event Webhook): what each kind records on the
 * message, the read-model fact (first of each kind per message only), deduplication by event id, and the
 * consequences: suppression, unsubscribe, engagement.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JourneyFact } from '../../src/core/journey-facts.js';
import type { DeliveryRequest, EmailEvent, EmailEventType, JourneyInput, JourneyState, StepResult } from '../../src/core/journey-state.js';
import { timelineOf } from '../../src/core/journey-timeline.js';
import { journeyView } from '../../src/core/journey-view.js';
import { startJourney, step } from '../../src/core/journey-reducer.js';
import { deliveryKey } from '../../src/core/ids.js';
import { DAY, HOUR, MINUTE, T0, ev, minimalDefinition, planOf } from './fixtures.js';

const USER = 'em';
const plan = planOf(
  minimalDefinition({
    id: 'email_loop',
    campaigns: [
      { id: 'hello', name: 'Hello', kind: 'transactional', trigger: { event: 'Signed Up' }, message: { template: 'hello' } },
      { id: 'receipt', name: 'Receipt', kind: 'transactional', trigger: { event: 'Paid' }, message: { template: 'hello' } },
      { id: 'promo', name: 'Promo', kind: 'marketing', trigger: { event: 'Promo' }, message: { template: 'hello' } },
      { id: 'push', name: 'Push', kind: 'transactional', trigger: { event: 'Booked' }, message: { channel: 'webhook', endpoint: 'push', template: 'note' } },
    ],
    templates: [
      { id: 'hello', locales: { en: { subject: 'Hi', html: '<p>Hello</p>' } } },
      { id: 'note', locales: { en: { subject: 'Booked', html: '<p>Booked</p>', text: 'Booked' } } },
    ],
  }),
);
const HELLO = deliveryKey(USER, 'hello', 1);

interface Driven {
  state: JourneyState;
  facts: JourneyFact[];
  requests: DeliveryRequest[];
}

/** Apply inputs as the workflow does, every delivery answered as sent at once; keeps facts and requests. */
function drive(state: JourneyState, ...inputs: JourneyInput[]): Driven & { last: StepResult } {
  const facts: JourneyFact[] = [];
  const requests: DeliveryRequest[] = [];
  let last: StepResult = { state, commands: [] };
  const queue = [...inputs];
  while (queue.length > 0) {
    const input = queue.shift()!;
    last = step(plan, last.state, input);
    for (const c of last.commands) {
      if (c.type === 'record') facts.push(...c.batch.facts);
      if (c.type === 'deliver') {
        requests.push(c.request);
        queue.unshift({ type: 'delivery', now: input.now, key: c.request.key, outcome: { status: 'sent', provider: c.request.channel === 'webhook' ? 'webhook' : 'sendgrid' } });
      }
    }
  }
  return { state: last.state, facts, requests, last };
}

/** Signed up at T0: the hello email went out. */
function signedUp(): JourneyState {
  return drive(startJourney(plan, USER, T0).state, ev('Signed Up', T0)).state;
}

let seq = 0;
function email(type: EmailEventType, now: number, opts: Partial<EmailEvent> = {}): JourneyInput {
  return { type: 'emailEvent', now, event: { id: `sg-${++seq}`, type, deliveryKey: HELLO, at: now, ...opts } };
}

const emailFacts = (facts: JourneyFact[]) => facts.filter((f): f is Extract<JourneyFact, { kind: 'email' }> => f.kind === 'email').map((f) => [f.key, f.event]);
const message = (state: JourneyState, key = HELLO) => state.messages.find((m) => m.key === key)!;

describe('SendGrid events on the message', () => {
  test('each kind stamps the message once and is told to the read model once, with the message’s campaign and variant', () => {
    const kinds: Array<[EmailEventType, keyof ReturnType<typeof message>, string]> = [
      ['delivered', 'deliveredAt', 'delivered'],
      ['bounce', 'bouncedAt', 'bounced'],
      ['dropped', 'droppedAt', 'dropped'],
      ['spamreport', 'complainedAt', 'spamreport'],
      ['unsubscribe', 'unsubscribedAt', 'unsubscribed'],
      ['open', 'openedAt', 'opened'],
      ['click', 'clickedAt', 'clicked'],
    ];
    for (const [type, stamp, fact] of kinds) {
      const at = T0 + HOUR;
      const first = drive(signedUp(), email(type, at, { localHour: 9 }));
      assert.equal(message(first.state)[stamp], at, `${type} stamps ${stamp}`);
      const [emitted] = first.facts;
      assert.deepEqual(
        { kind: emitted?.kind, at: emitted?.at, userId: emitted?.userId, ...(emitted?.kind === 'email' ? { key: emitted.key, campaignId: emitted.campaignId, variant: emitted.variant, event: emitted.event } : {}) },
        { kind: 'email', at, userId: USER, key: HELLO, campaignId: 'hello', variant: null, event: fact },
        type,
      );
      const again = drive(first.state, email(type, at + HOUR, { localHour: 10 }));
      assert.equal(message(again.state)[stamp], at, `a second ${type} keeps the first time`);
      assert.deepEqual(emailFacts(again.facts), [], `a second ${type} is not a second fact`);
    }
  });

  test('processed and deferred change nothing and are not remembered', () => {
    const before = signedUp();
    for (const type of ['processed', 'deferred'] as const) {
      const result = step(plan, before, email(type, T0 + MINUTE));
      assert.deepEqual(result, { state: before, commands: [] }, type);
    }
  });

  test('the same event id is applied once, counted as a duplicate', () => {
    const input = email('open', T0 + HOUR, { localHour: 19 });
    const once = drive(signedUp(), input);
    const twice = step(plan, once.state, { ...input, now: T0 + 2 * HOUR } as JourneyInput);
    assert.deepEqual(twice.commands, []);
    assert.equal(twice.state.stats.duplicates, once.state.stats.duplicates + 1);
    assert.deepEqual({ ...twice.state, stats: once.state.stats }, once.state, 'nothing else changed');
    assert.equal(twice.state.engagement?.opens, 1);
  });

  test('an event about another customer’s message, or with a malformed key, is ignored', () => {
    const before = signedUp();
    for (const key of [deliveryKey('someone-else', 'hello', 1), 'not-ours', `customer-${USER}/hello`, `customer-${USER}/hello/x`]) {
      assert.deepEqual(step(plan, before, email('bounce', T0 + HOUR, { deliveryKey: key })), { state: before, commands: [] }, key);
    }
  });

  test('a message the journey no longer holds: the consequences apply, the campaign comes from the key, every event counts as a first', () => {
    const key = deliveryKey(USER, 'old_campaign', 7);
    const result = drive(signedUp(), email('spamreport', T0 + HOUR, { deliveryKey: key }), email('spamreport', T0 + 2 * HOUR, { deliveryKey: key }));
    assert.deepEqual(result.state.emailSuppressed, { reason: 'spamreport', at: T0 + HOUR, campaignId: 'old_campaign', key });
    assert.deepEqual(emailFacts(result.facts), [
      [key, 'spamreport'],
      [key, 'spamreport'],
    ]);
  });

  test('an event reported for later than it arrived counts at its arrival; one from before the journey’s clock at the clock', () => {
    const state = signedUp();
    const future = drive(state, email('delivered', T0 + HOUR, { at: T0 + 5 * HOUR }));
    assert.equal(message(future.state).deliveredAt, T0 + HOUR);
    const past = drive(state, email('delivered', T0 + HOUR, { at: T0 - DAY }));
    assert.equal(message(past.state).deliveredAt, T0);
  });
});

describe('suppression', () => {
  test('a hard bounce suppresses email: later email steps, transactional too, are skipped and say why; webhook messages still go', () => {
    const bounced = drive(signedUp(), email('bounce', T0 + HOUR));
    assert.equal(message(bounced.state).bounce, 'hard');
    assert.deepEqual(bounced.state.emailSuppressed, { reason: 'bounce', at: T0 + HOUR, campaignId: 'hello', key: HELLO });

    const later = drive(bounced.state, ev('Paid', T0 + DAY), ev('Promo', T0 + DAY), ev('Booked', T0 + DAY));
    assert.deepEqual(later.requests.map((r) => [r.campaignId, r.channel ?? 'email']), [['push', 'webhook']]);
    const outcomes = later.state.messages.filter((m) => m.key !== HELLO).map((m) => [m.campaignId, m.status, m.reason ?? null]);
    assert.deepEqual(outcomes, [
      ['receipt', 'skipped', 'email suppressed: hard bounce on hello'],
      ['promo', 'skipped', 'email suppressed: hard bounce on hello'],
      ['push', 'sent', null],
    ]);
    const view = journeyView(plan, later.state);
    assert.deepEqual(view.email, { status: 'suppressed', reason: 'email suppressed: hard bounce on hello', since: new Date(T0 + HOUR).toISOString() });
    assert.equal(view.messages[0]!.bounce, 'hard');
    assert.equal(view.messages[0]!.bouncedAt, new Date(T0 + HOUR).toISOString());
    assert.deepEqual(
      timelineOf(view).filter((e) => e.kind === 'email' || e.status === 'skipped').map((e) => e.text),
      ['hello bounced (hard)', 'receipt skipped: email suppressed: hard bounce on hello', 'promo skipped: email suppressed: hard bounce on hello'],
    );
  });

  test('a drop and a spam report suppress email too, each saying so; the first cause is kept', () => {
    const dropped = drive(signedUp(), email('dropped', T0 + HOUR), email('spamreport', T0 + 2 * HOUR), ev('Paid', T0 + DAY));
    assert.equal(dropped.state.messages.find((m) => m.campaignId === 'receipt')?.reason, 'email suppressed: dropped on hello');
    const complained = drive(signedUp(), email('spamreport', T0 + HOUR), ev('Paid', T0 + DAY));
    assert.equal(complained.state.messages.find((m) => m.campaignId === 'receipt')?.reason, 'email suppressed: spam report on hello');
    assert.equal(message(complained.state).complainedAt, T0 + HOUR);
  });

  test('a soft bounce (blocked) is recorded, not suppressing; a hard bounce after it is still counted once and suppresses', () => {
    const soft = drive(signedUp(), email('blocked', T0 + HOUR));
    assert.equal(message(soft.state).bounce, 'soft');
    assert.equal(soft.state.emailSuppressed, undefined);
    assert.deepEqual(emailFacts(soft.facts), [[HELLO, 'bounced']]);
    assert.deepEqual(drive(soft.state, ev('Paid', T0 + DAY)).requests.map((r) => r.campaignId), ['receipt']);

    const hard = drive(soft.state, email('bounce', T0 + 2 * HOUR));
    assert.equal(message(hard.state).bounce, 'hard');
    assert.equal(message(hard.state).bouncedAt, T0 + HOUR, 'the first bounce time');
    assert.deepEqual(emailFacts(hard.facts), [], 'one bounced fact per message');
    assert.equal(hard.state.emailSuppressed?.reason, 'bounce');
  });
});

describe('unsubscribe', () => {
  for (const type of ['unsubscribe', 'group_unsubscribe'] as const) {
    test(`${type} turns marketing off, as the definition's consent does; transactional email still goes`, () => {
      const out = drive(signedUp(), email(type, T0 + HOUR));
      assert.equal(out.state.marketingOptOut, true);
      assert.equal(journeyView(plan, out.state).marketing, 'unsubscribed');
      assert.equal(journeyView(plan, out.state).email.status, 'allowed');
      assert.ok(out.last.commands.some((c) => c.type === 'record' && c.batch.snapshot.userId === USER), 'the read model hears of it');
      const later = drive(out.state, ev('Promo', T0 + DAY), ev('Paid', T0 + DAY));
      assert.deepEqual(later.requests.map((r) => r.campaignId), ['receipt']);
    });
  }
});

describe('engagement', () => {
  test('an open and a click of one message: one open, one click, one hour sample; the last engagement time', () => {
    const out = drive(
      signedUp(),
      email('open', T0 + HOUR, { localHour: 19 }),
      email('open', T0 + 2 * HOUR, { localHour: 20 }),
      email('click', T0 + 3 * HOUR, { localHour: 21 }),
    );
    const e = out.state.engagement!;
    assert.deepEqual([e.opens, e.clicks, e.lastAt], [1, 1, T0 + 3 * HOUR]);
    assert.equal(e.hours.reduce((a, b) => a + b, 0), 1);
    assert.equal(e.hours[19], 1, 'the hour the message was first engaged with');
    assert.deepEqual(emailFacts(out.facts), [
      [HELLO, 'opened'],
      [HELLO, 'clicked'],
    ]);
    assert.deepEqual(journeyView(plan, out.state).engagement, {
      opens: 1,
      clicks: 1,
      lastEngagedAt: new Date(T0 + 3 * HOUR).toISOString(),
      samples: 1,
      learnedHour: null,
      sendTime: "optimised timing uses the campaign's window until 3 opens or clicks are known (1 so far)",
    });
  });

  test('a machine open (a mail client’s privacy proxy) is neither an open nor engagement', () => {
    const before = signedUp();
    const out = step(plan, before, email('open', T0 + HOUR, { machine: true, localHour: 3 }));
    assert.deepEqual(out, { state: before, commands: [] });
  });

  test('a click without an open is engagement; an open without a local hour counts but teaches no hour', () => {
    const out = drive(signedUp(), email('click', T0 + HOUR, { localHour: 7 }), email('open', T0 + 2 * HOUR, { deliveryKey: deliveryKey(USER, 'hello', 2) }));
    assert.deepEqual([out.state.engagement?.opens, out.state.engagement?.clicks], [1, 1]);
    assert.equal(out.state.engagement?.hours.reduce((a, b) => a + b, 0), 1);
  });
});
