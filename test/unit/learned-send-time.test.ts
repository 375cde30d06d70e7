/**
 * Send-time optimisation that learns: the hour learned from opens and clicks (src/core/engagement.ts), how
 * the core hands it to optimised campaigns, and how the send-time rules use it before the profile's
 * `preferredHour`, inside windows, quiet hours and daylight-saving changes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DateTime } from 'luxon';
import type { Timing } from '../../src/core/journey-definition.js';
import { ENGAGEMENT, learnedHourOf, recordEngagement } from '../../src/core/engagement.js';
import type { DeliveryRequest, Engagement, JourneyInput, JourneyState } from '../../src/core/journey-state.js';
import { startJourney, step } from '../../src/core/journey-reducer.js';
import { deliveryKey } from '../../src/core/ids.js';
import { decideDelivery } from '../../src/delivery/delivery-rules.js';
import { decideSendTime, type SendTimeDecision } from '../../src/timing/send-time.js';
import { HOUR, MINUTE, T0, ev, minimalDefinition, planOf } from './fixtures.js';

const at = (iso: string) => Date.parse(iso);
const timing = (partial: Partial<Timing> = {}): Timing => ({ optimise: true, defaultTimezone: 'UTC', ...partial });

/** Engagement with one sample per local hour given, an hour apart from T0 (later entries are more recent). */
function engagedAt(...hours: number[]): Engagement | undefined {
  let e: Engagement | undefined;
  hours.forEach((hour, i) => {
    e = recordEngagement(e, 'open', T0 + i * HOUR, { firstOfMessage: true, sample: true, localHour: hour });
  });
  return e;
}

describe('the learned hour', () => {
  test('nothing known: none; fewer than 3 engagements: how many, no hour', () => {
    assert.equal(ENGAGEMENT.minSamples, 3);
    assert.equal(learnedHourOf(undefined), undefined);
    assert.deepEqual(learnedHourOf(engagedAt(19)), { samples: 1 });
    assert.deepEqual(learnedHourOf(engagedAt(19, 19)), { samples: 2 });
    assert.deepEqual(learnedHourOf(engagedAt(19, 19, 7)), { hour: 19, samples: 3 });
  });

  test('the most frequent hour wins; a tie goes to the hour engaged in most recently', () => {
    assert.deepEqual(learnedHourOf(engagedAt(7, 19, 7, 19, 22)), { hour: 19, samples: 5 }, '7 and 19 tie, 19 is more recent');
    assert.deepEqual(learnedHourOf(engagedAt(19, 7, 19, 7)), { hour: 7, samples: 4 });
    assert.deepEqual(learnedHourOf(engagedAt(0, 23, 23)), { hour: 23, samples: 3 });
  });

  test('engagements without a usable local hour teach nothing', () => {
    let e: Engagement | undefined;
    for (const localHour of [undefined, -1, 24, 7.5, Number.NaN]) {
      e = recordEngagement(e, 'click', T0, { firstOfMessage: true, sample: true, ...(localHour === undefined ? {} : { localHour }) });
    }
    assert.equal(e?.clicks, 5);
    assert.equal(learnedHourOf(e), undefined);
  });

  test('counts are halved once they reach 64, so a new habit takes over', () => {
    const e = engagedAt(...Array.from({ length: 63 }, () => 8), 20);
    assert.equal(e!.hours[8], 31, '63 halved');
    assert.equal(e!.hours[20], 0, '1 halved');
    const changed = engagedAt(...Array.from({ length: 63 }, () => 8), ...Array.from({ length: 40 }, () => 20));
    assert.equal(learnedHourOf(changed)?.hour, 20);
  });
});

describe('the core hands the learned hour to optimised campaigns only', () => {
  const plan = planOf(
    minimalDefinition({
      campaigns: [
        { id: 'hello', name: 'Hello', kind: 'transactional', trigger: { event: 'Signed Up' }, message: { template: 'hello' } },
        { id: 'tips', name: 'Tips', kind: 'marketing', trigger: { event: 'Tips' }, timing: { window: { from: '09:00', to: '20:00' }, optimise: true }, message: { template: 'hello' } },
        { id: 'news', name: 'News', kind: 'marketing', trigger: { event: 'News' }, timing: { window: { from: '09:00', to: '20:00' } }, message: { template: 'hello' } },
      ],
    }),
  );
  const hello = deliveryKey('lh', 'hello', 1);
  function opened(state: JourneyState, hours: number[]): JourneyState {
    return hours.reduce(
      (s, localHour, i) =>
        step(plan, s, { type: 'emailEvent', now: T0 + (i + 1) * HOUR, event: { id: `o-${i}`, type: 'open', deliveryKey: hello.replace(/\/1$/, `/${i + 1}`), at: T0 + (i + 1) * HOUR, localHour } }).state,
      state,
    );
  }
  function requestFor(state: JourneyState, event: string): DeliveryRequest {
    const result = step(plan, state, ev(event, T0 + 10 * HOUR) as JourneyInput);
    const command = result.commands.find((c) => c.type === 'deliver');
    assert.ok(command?.type === 'deliver');
    return command.request;
  }
  const started = step(plan, startJourney(plan, 'lh', T0).state, ev('Signed Up', T0) as JourneyInput).state;

  test('nothing known: no learned hour in the request', () => {
    assert.equal(requestFor(started, 'Tips').learnedHour, undefined);
  });
  test('two engagements: the request says how many, without an hour', () => {
    assert.deepEqual(requestFor(opened(started, [19, 19]), 'Tips').learnedHour, { samples: 2 });
  });
  test('three: the hour', () => {
    assert.deepEqual(requestFor(opened(started, [19, 8, 19]), 'Tips').learnedHour, { hour: 19, samples: 3 });
  });
  test('a campaign whose timing does not ask for optimisation gets none', () => {
    assert.equal(requestFor(opened(started, [19, 19, 19]), 'News').learnedHour, undefined);
  });
});

function expectAt(d: SendTimeDecision, utc: string, localTime: string, reason: string | RegExp): void {
  assert.equal(new Date(d.at).toISOString(), utc);
  assert.equal(d.localTime, localTime);
  if (typeof reason === 'string') assert.equal(d.reason, reason);
  else assert.match(d.reason ?? '', reason);
  assert.equal(d.optimisation, d.reason, 'the optimisation says the same');
}

describe('send time with a learned hour', () => {
  const tz = 'Europe/Berlin';
  const learned = (hour: number, samples = 5) => ({ hour, samples });

  test('later today: deferred to that hour, saying it was learned and from how many', () => {
    const d = decideSendTime(at('2026-06-10T08:00:00Z'), timing(), { timezone: tz, learnedHour: learned(19) });
    expectAt(d, '2026-06-10T17:00:00.000Z', '2026-06-10T19:00:00.000+02:00', 'send-time optimisation: customer usually opens or clicks at 19:00 Europe/Berlin (learned from 5 engagements)');
  });

  test('within the learned hour: now, and the decision still says which hour was chosen and why', () => {
    const now = at('2026-06-10T17:40:00Z');
    const d = decideSendTime(now, timing(), { timezone: tz, learnedHour: learned(19, 3) });
    assert.equal(d.at, now);
    assert.equal(d.reason, undefined);
    assert.equal(d.optimisation, 'send-time optimisation: customer usually opens or clicks at 19:00 Europe/Berlin (learned from 3 engagements)');
  });

  test('the learned hour goes before the profile’s preferredHour', () => {
    const d = decideSendTime(at('2026-06-10T04:00:00Z'), timing(), { timezone: tz, learnedHour: learned(19), preferredHour: 8 });
    expectAt(d, '2026-06-10T17:00:00.000Z', '2026-06-10T19:00:00.000+02:00', /learned from 5/);
  });

  test('not enough known yet: preferredHour, else the window, and the journey is told why', () => {
    const few = { samples: 2 };
    const byTrait = decideSendTime(at('2026-06-10T04:00:00Z'), timing(), { timezone: tz, learnedHour: few, preferredHour: 8 });
    expectAt(byTrait, '2026-06-10T06:00:00.000Z', '2026-06-10T08:00:00.000+02:00', /usually engages at 08:00/);
    const t = timing({ window: { from: '09:00', to: '20:00' } });
    const byWindow = decideSendTime(at('2026-06-10T04:00:00Z'), t, { timezone: tz, learnedHour: few });
    assert.equal(new Date(byWindow.at).toISOString(), '2026-06-10T07:00:00.000Z');
    assert.match(byWindow.reason ?? '', /^send window 09:00-20:00 Europe\/Berlin: deferred to 09:00$/);
    assert.equal(byWindow.optimisation, "send-time optimisation: not enough known yet (2 of 3 opens or clicks), so the campaign's window applies");
    const inWindow = at('2026-06-10T10:00:00Z');
    const now = decideSendTime(inWindow, t, { timezone: tz, learnedHour: few });
    assert.deepEqual([now.at, now.reason], [inWindow, undefined]);
    assert.match(now.optimisation ?? '', /not enough known yet/);
  });

  describe('window edges', () => {
    const t = timing({ window: { from: '09:00', to: '20:00' } });
    test('the hour the window opens is usable', () => {
      const d = decideSendTime(at('2026-06-10T04:00:00Z'), t, { timezone: tz, learnedHour: learned(9) });
      expectAt(d, '2026-06-10T07:00:00.000Z', '2026-06-10T09:00:00.000+02:00', /opens or clicks at 09:00/);
    });
    test('the hour the window closes is not (the end is exclusive): the window applies, and says why', () => {
      const d = decideSendTime(at('2026-06-10T04:00:00Z'), t, { timezone: tz, learnedHour: learned(20) });
      assert.equal(new Date(d.at).toISOString(), '2026-06-10T07:00:00.000Z');
      assert.match(d.reason ?? '', /send window 09:00-20:00/);
      assert.equal(d.optimisation, "send-time optimisation: the learned hour 20:00 Europe/Berlin is outside the send window, so the campaign's window applies");
    });
    test('a window closing at 19:30: 19:00 is usable, but not at 19:45 (the next day then)', () => {
      const closing = timing({ window: { from: '09:00', to: '19:30' } });
      expectAt(decideSendTime(at('2026-06-10T08:00:00Z'), closing, { timezone: tz, learnedHour: learned(19) }), '2026-06-10T17:00:00.000Z', '2026-06-10T19:00:00.000+02:00', /19:00/);
      expectAt(decideSendTime(at('2026-06-10T17:45:00Z'), closing, { timezone: tz, learnedHour: learned(19) }), '2026-06-11T17:00:00.000Z', '2026-06-11T19:00:00.000+02:00', /19:00/);
    });
    test('a learned hour in the quiet hours: the quiet hours win and the journey is told', () => {
      const quiet = timing({ quietHours: { from: '22:00', to: '07:00' } });
      const d = decideSendTime(at('2026-06-10T21:00:00Z'), quiet, { timezone: tz, learnedHour: learned(23) }); // 23:00 CEST
      assert.equal(new Date(d.at).toISOString(), '2026-06-11T05:00:00.000Z');
      assert.match(d.optimisation ?? '', /23:00 Europe\/Berlin is in the quiet hours/);
    });
  });

  describe('daylight saving time', () => {
    test('Berlin spring forward: a learned 02:00 does not exist on 2026-03-29, so 03:00 CEST', () => {
      const d = decideSendTime(at('2026-03-28T23:30:00Z'), timing(), { timezone: tz, learnedHour: learned(2) });
      expectAt(d, '2026-03-29T01:00:00.000Z', '2026-03-29T03:00:00.000+02:00', /opens or clicks at 02:00/);
    });
    test('Berlin fall back: a learned 02:00 exists twice on 2026-10-25, the first one (CEST)', () => {
      const d = decideSendTime(at('2026-10-24T22:30:00Z'), timing(), { timezone: tz, learnedHour: learned(2) });
      expectAt(d, '2026-10-25T00:00:00.000Z', '2026-10-25T02:00:00.000+02:00', /02:00/);
    });
    test('Berlin fall back, inside the second 02:00 hour (CET): now, it is the learned hour again', () => {
      const now = at('2026-10-25T01:20:00Z'); // 02:20 CET
      const d = decideSendTime(now, timing(), { timezone: tz, learnedHour: learned(2) });
      assert.equal(d.at, now);
      assert.equal(DateTime.fromISO(d.localTime, { setZone: true }).toFormat('HH:mm ZZ'), '02:20 +01:00');
    });
    test('New York: the learned hour is local, across the March change (19:00 EST, then 19:00 EDT)', () => {
      const zone = 'America/New_York';
      expectAt(decideSendTime(at('2026-03-07T12:00:00Z'), timing(), { timezone: zone, learnedHour: learned(19) }), '2026-03-08T00:00:00.000Z', '2026-03-07T19:00:00.000-05:00', /19:00/);
      expectAt(decideSendTime(at('2026-03-08T12:00:00Z'), timing(), { timezone: zone, learnedHour: learned(19) }), '2026-03-08T23:00:00.000Z', '2026-03-08T19:00:00.000-04:00', /19:00/);
    });
  });
});

describe('delivery rules', () => {
  const request = (extra: Partial<DeliveryRequest>): DeliveryRequest => ({
    key: 'customer-d/tips/1',
    userId: 'd',
    campaignId: 'tips',
    occurrence: 1,
    kind: 'marketing',
    template: 'hello',
    segments: [],
    definition: { id: 'x', version: 'v' },
    summary: 'send Tips',
    timing: timing({ window: { from: '09:00', to: '20:00' } }),
    ...extra,
  });
  const profile = { email: 'd@example.com', timezone: 'Europe/Berlin', traits: { preferredHour: 10 } };

  test('the learned hour from the request defers the message to it, with the reason', () => {
    const d = decideDelivery(request({ learnedHour: { hour: 18, samples: 4 } }), profile, at('2026-06-10T07:30:00Z'));
    assert.deepEqual(d, {
      kind: 'defer',
      outcome: { status: 'deferred', until: at('2026-06-10T16:00:00Z'), reason: 'send-time optimisation: customer usually opens or clicks at 18:00 Europe/Berlin (learned from 4 engagements)' },
    });
  });

  test('sent within the learned hour, the decision carries why (the journey records it on the message)', () => {
    const now = at('2026-06-10T16:05:00Z');
    const d = decideDelivery(request({ learnedHour: { hour: 18, samples: 4 } }), profile, now);
    assert.equal(d.kind, 'send');
    assert.ok(d.kind === 'send');
    assert.equal(d.localTime, '2026-06-10T18:05:00.000+02:00');
    assert.equal(d.reason, 'send-time optimisation: customer usually opens or clicks at 18:00 Europe/Berlin (learned from 4 engagements)');
  });

  test('without a learned hour, the trait as before', () => {
    const d = decideDelivery(request({}), profile, at('2026-06-10T07:30:00Z'));
    assert.deepEqual(d.kind === 'defer' && d.outcome.until, at('2026-06-10T08:00:00Z'));
    const now = at('2026-06-10T08:10:00Z') + MINUTE;
    const sent = decideDelivery(request({}), profile, now);
    assert.ok(sent.kind === 'send');
    assert.match(sent.reason ?? '', /usually engages at 10:00/);
  });
});
