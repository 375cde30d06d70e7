import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DateTime, IANAZone } from 'luxon';
import type { Timing } from '../../src/core/journey-definition.js';
import { MAX_DEFERRAL_MS, decideSendTime, parseClock, type SendTimeDecision } from '../../src/timing/send-time.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const at = (iso: string): number => {
  const ms = Date.parse(iso);
  assert.ok(Number.isFinite(ms), `bad test instant ${iso}`);
  return ms;
};

function timing(partial: Partial<Timing> = {}): Timing {
  return { optimise: false, defaultTimezone: 'UTC', ...partial };
}

/** Assert the decision goes out at the exact UTC instant `utc`, with the given local time (and reason, if given). */
function expectAt(d: SendTimeDecision, utc: string, localTime: string, reason?: string | RegExp): void {
  assert.equal(new Date(d.at).toISOString(), utc);
  assert.equal(d.localTime, localTime);
  if (typeof reason === 'string') assert.equal(d.reason, reason);
  else if (reason) assert.match(d.reason ?? '', reason);
  else assert.ok(d.reason, 'a deferred send says why');
}

function expectNow(d: SendTimeDecision, now: number): void {
  assert.equal(d.at, now);
  assert.equal(d.reason, undefined);
  assert.equal(DateTime.fromISO(d.localTime, { setZone: true }).toMillis(), now);
}

describe('parseClock', () => {
  test('reads HH:mm as minutes after midnight', () => {
    assert.equal(parseClock('00:00'), 0);
    assert.equal(parseClock('08:30'), 510);
    assert.equal(parseClock('23:59'), 1439);
  });
  test('rejects anything that is not a valid HH:mm', () => {
    for (const bad of ['24:00', '8:00', '08:60', '0800', '', ' 08:00', '08:00:00', 'ab:cd']) {
      assert.throws(() => parseClock(bad), RangeError, bad);
    }
  });
});

describe('decideSendTime without constraints', () => {
  const now = at('2026-06-10T03:17:42.123Z');
  test('no timing: now, in the profile zone', () => {
    const d = decideSendTime(now, undefined, { timezone: 'Europe/Berlin' });
    expectNow(d, now);
    assert.equal(d.timezone, 'Europe/Berlin');
    assert.equal(d.localTime, '2026-06-10T05:17:42.123+02:00');
  });
  test('no timing and no zone: now, in UTC', () => {
    const d = decideSendTime(now, undefined, {});
    expectNow(d, now);
    assert.equal(d.timezone, 'UTC');
    assert.equal(d.localTime, '2026-06-10T03:17:42.123+00:00');
  });
  test('timing without window, quiet hours or optimisation: now', () => {
    expectNow(decideSendTime(now, timing(), { timezone: 'Asia/Kolkata' }), now);
  });
  test('rejects a non-finite now', () => {
    assert.throws(() => decideSendTime(Number.NaN, timing(), {}), RangeError);
  });
});

describe('send window', () => {
  const window = { from: '09:00', to: '17:00' };
  const tz = { timezone: 'Europe/Berlin' };
  test('inside the window: now', () => {
    const now = at('2026-06-10T10:00:00Z'); // 12:00 CEST
    expectNow(decideSendTime(now, timing({ window }), tz), now);
  });
  test('at the window start exactly: now (from is inclusive)', () => {
    const now = at('2026-06-10T07:00:00Z'); // 09:00 CEST
    expectNow(decideSendTime(now, timing({ window }), tz), now);
  });
  test('just before the window end: now (to is exclusive)', () => {
    const now = at('2026-06-10T14:59:59.999Z'); // 16:59:59.999 CEST
    expectNow(decideSendTime(now, timing({ window }), tz), now);
  });
  test('before the window: the window start the same day', () => {
    const d = decideSendTime(at('2026-06-10T05:00:00Z'), timing({ window }), tz); // 07:00 CEST
    expectAt(
      d,
      '2026-06-10T07:00:00.000Z',
      '2026-06-10T09:00:00.000+02:00',
      'send window 09:00-17:00 Europe/Berlin: deferred to 09:00',
    );
    assert.equal(d.timezone, 'Europe/Berlin');
  });
  test('after the window: the next day start', () => {
    const d = decideSendTime(at('2026-06-10T16:00:00Z'), timing({ window }), tz); // 18:00 CEST
    expectAt(d, '2026-06-11T07:00:00.000Z', '2026-06-11T09:00:00.000+02:00', /deferred to 09:00/);
  });
  test('at the window end exactly: the next day start', () => {
    const d = decideSendTime(at('2026-06-10T15:00:00Z'), timing({ window }), tz); // 17:00 CEST
    expectAt(d, '2026-06-11T07:00:00.000Z', '2026-06-11T09:00:00.000+02:00');
  });
  test('a window wrapping midnight (21:00-08:00)', () => {
    const wrap = timing({ window: { from: '21:00', to: '08:00' } });
    const late = at('2026-06-10T21:00:00Z'); // 23:00 CEST
    expectNow(decideSendTime(late, wrap, tz), late);
    const early = at('2026-06-10T01:00:00Z'); // 03:00 CEST
    expectNow(decideSendTime(early, wrap, tz), early);
    const noon = decideSendTime(at('2026-06-10T10:00:00Z'), wrap, tz);
    expectAt(noon, '2026-06-10T19:00:00.000Z', '2026-06-10T21:00:00.000+02:00', /send window 21:00-08:00/);
    const eight = decideSendTime(at('2026-06-10T06:00:00Z'), wrap, tz); // 08:00 CEST, end exclusive
    expectAt(eight, '2026-06-10T19:00:00.000Z', '2026-06-10T21:00:00.000+02:00');
  });
  test('from == to means the whole day', () => {
    const allDay = timing({ window: { from: '09:00', to: '09:00' } });
    for (const iso of ['2026-06-10T00:00:00Z', '2026-06-10T06:59:00Z', '2026-06-10T07:00:00Z', '2026-06-10T22:30:00Z']) {
      expectNow(decideSendTime(at(iso), allDay, tz), at(iso));
    }
  });
});

describe('quiet hours', () => {
  const quietHours = { from: '22:00', to: '07:00' };
  const tz = { timezone: 'Europe/Berlin' };
  test('wrapping midnight, at 23:30: 07:00 the next day local', () => {
    const d = decideSendTime(at('2026-06-10T21:30:00Z'), timing({ quietHours }), tz); // 23:30 CEST
    expectAt(
      d,
      '2026-06-11T05:00:00.000Z',
      '2026-06-11T07:00:00.000+02:00',
      'quiet hours 22:00-07:00 Europe/Berlin: deferred to 07:00',
    );
  });
  test('wrapping midnight, at 03:00: 07:00 the same day', () => {
    const d = decideSendTime(at('2026-06-11T01:00:00Z'), timing({ quietHours }), tz); // 03:00 CEST
    expectAt(d, '2026-06-11T05:00:00.000Z', '2026-06-11T07:00:00.000+02:00');
  });
  test('at 22:00 exactly: quiet (from is inclusive)', () => {
    const d = decideSendTime(at('2026-06-10T20:00:00Z'), timing({ quietHours }), tz);
    expectAt(d, '2026-06-11T05:00:00.000Z', '2026-06-11T07:00:00.000+02:00');
  });
  test('at 07:00 exactly and during the day: now (to is exclusive)', () => {
    for (const iso of ['2026-06-11T05:00:00Z', '2026-06-11T10:00:00Z', '2026-06-11T19:59:59.999Z']) {
      expectNow(decideSendTime(at(iso), timing({ quietHours }), tz), at(iso));
    }
  });
  test('quiet hours inside a day (12:00-14:00)', () => {
    const lunch = timing({ quietHours: { from: '12:00', to: '14:00' } });
    const d = decideSendTime(at('2026-06-10T11:00:00Z'), lunch, tz); // 13:00 CEST
    expectAt(d, '2026-06-10T12:00:00.000Z', '2026-06-10T14:00:00.000+02:00', /quiet hours 12:00-14:00/);
    const morning = at('2026-06-10T08:00:00Z');
    expectNow(decideSendTime(morning, lunch, tz), morning);
  });
  test('from == to means never quiet', () => {
    const never = timing({ quietHours: { from: '22:00', to: '22:00' } });
    for (const iso of ['2026-06-10T20:00:00Z', '2026-06-10T23:00:00Z', '2026-06-11T03:00:00Z']) {
      expectNow(decideSendTime(at(iso), never, tz), at(iso));
    }
  });
});

describe('window and quiet hours together', () => {
  const tz = { timezone: 'Europe/Berlin' };
  test('inside the window but in quiet hours: the end of the quiet hours', () => {
    const t = timing({ window: { from: '08:00', to: '20:00' }, quietHours: { from: '12:00', to: '13:00' } });
    const d = decideSendTime(at('2026-06-10T10:30:00Z'), t, tz); // 12:30 CEST
    expectAt(
      d,
      '2026-06-10T11:00:00.000Z',
      '2026-06-10T13:00:00.000+02:00',
      'quiet hours 12:00-13:00 Europe/Berlin: deferred to 13:00',
    );
  });
  test('the window opens during quiet hours: wait for both', () => {
    const t = timing({ window: { from: '06:00', to: '22:00' }, quietHours: { from: '21:00', to: '08:00' } });
    const d = decideSendTime(at('2026-06-10T03:00:00Z'), t, tz); // 05:00 CEST
    expectAt(
      d,
      '2026-06-10T06:00:00.000Z',
      '2026-06-10T08:00:00.000+02:00',
      'send window 06:00-22:00 and quiet hours 21:00-08:00 Europe/Berlin: deferred to 08:00',
    );
    // 21:30: inside the window but quiet, and the window closes before quiet hours end: next day 08:00.
    const evening = decideSendTime(at('2026-06-10T19:30:00Z'), t, tz);
    expectAt(
      evening,
      '2026-06-11T06:00:00.000Z',
      '2026-06-11T08:00:00.000+02:00',
      'quiet hours 21:00-08:00 Europe/Berlin: deferred to 08:00',
    );
  });
  test('quiet hours end before the window opens: the window start', () => {
    const t = timing({ window: { from: '09:00', to: '17:00' }, quietHours: { from: '22:00', to: '07:00' } });
    const d = decideSendTime(at('2026-06-10T21:00:00Z'), t, tz); // 23:00 CEST
    expectAt(
      d,
      '2026-06-11T07:00:00.000Z',
      '2026-06-11T09:00:00.000+02:00',
      'send window 09:00-17:00 and quiet hours 22:00-07:00 Europe/Berlin: deferred to 09:00',
    );
    const inside = at('2026-06-10T12:00:00Z');
    expectNow(decideSendTime(inside, t, tz), inside);
  });
  test('a window entirely inside quiet hours: quiet hours win, the window is ignored', () => {
    const t = timing({ window: { from: '09:00', to: '17:00' }, quietHours: { from: '08:00', to: '18:00' } });
    const d = decideSendTime(at('2026-06-10T10:00:00Z'), t, tz); // 12:00 CEST
    expectAt(d, '2026-06-10T16:00:00.000Z', '2026-06-10T18:00:00.000+02:00', 'quiet hours 08:00-18:00 Europe/Berlin: deferred to 18:00');
    const evening = at('2026-06-10T17:00:00Z'); // 19:00 CEST, outside the (ignored) window
    expectNow(decideSendTime(evening, t, tz), evening);
  });
});

describe('the customer zone, not UTC', () => {
  const window = { from: '09:00', to: '17:00' };
  test('Europe/Berlin in winter (+01:00)', () => {
    const d = decideSendTime(at('2026-01-15T21:30:00Z'), timing({ quietHours: { from: '22:00', to: '07:00' } }), {
      timezone: 'Europe/Berlin',
    });
    expectAt(d, '2026-01-16T06:00:00.000Z', '2026-01-16T07:00:00.000+01:00');
  });
  test('America/Los_Angeles (-07:00 in summer)', () => {
    const d = decideSendTime(at('2026-07-01T12:00:00Z'), timing({ window }), { timezone: 'America/Los_Angeles' });
    expectAt(
      d,
      '2026-07-01T16:00:00.000Z',
      '2026-07-01T09:00:00.000-07:00',
      'send window 09:00-17:00 America/Los_Angeles: deferred to 09:00',
    );
    // 12:00Z is inside a 09:00-17:00 UTC window but 05:00 in Los Angeles.
    assert.equal(decideSendTime(at('2026-07-01T12:00:00Z'), timing({ window }), { timezone: 'UTC' }).at, at('2026-07-01T12:00:00Z'));
  });
  test('Asia/Kolkata (+05:30)', () => {
    const d = decideSendTime(at('2026-07-01T00:00:00Z'), timing({ window }), { timezone: 'Asia/Kolkata' });
    expectAt(d, '2026-07-01T03:30:00.000Z', '2026-07-01T09:00:00.000+05:30');
    const after = decideSendTime(at('2026-07-01T12:00:00Z'), timing({ window }), { timezone: 'Asia/Kolkata' }); // 17:30 IST
    expectAt(after, '2026-07-02T03:30:00.000Z', '2026-07-02T09:00:00.000+05:30');
  });
  test('Pacific/Chatham (+12:45), crossing the date line', () => {
    const noonish = at('2026-07-01T00:00:00Z'); // 12:45 local
    expectNow(decideSendTime(noonish, timing({ window }), { timezone: 'Pacific/Chatham' }), noonish);
    const d = decideSendTime(at('2026-07-01T05:00:00Z'), timing({ window }), { timezone: 'Pacific/Chatham' }); // 17:45
    expectAt(d, '2026-07-01T20:15:00.000Z', '2026-07-02T09:00:00.000+12:45');
  });
  test('Pacific/Chatham in its summer (+13:45)', () => {
    const d = decideSendTime(at('2026-01-15T12:00:00Z'), timing({ quietHours: { from: '22:00', to: '07:00' } }), {
      timezone: 'Pacific/Chatham',
    }); // 01:45 on Jan 16
    expectAt(d, '2026-01-15T17:15:00.000Z', '2026-01-16T07:00:00.000+13:45');
  });
});

describe('time zone resolution', () => {
  const now = at('2026-06-10T05:00:00Z');
  const t = timing({ window: { from: '09:00', to: '17:00' }, defaultTimezone: 'America/New_York' });
  test('missing, null, empty or invalid profile zone: defaultTimezone', () => {
    for (const timezone of [undefined, null, '', '   ', 'Mars/Olympus_Mons', '+02:00', 'CEST']) {
      const d = decideSendTime(now, t, { timezone });
      assert.equal(d.timezone, 'America/New_York', String(timezone));
      expectAt(d, '2026-06-10T13:00:00.000Z', '2026-06-10T09:00:00.000-04:00');
    }
  });
  test('a valid profile zone wins over the default', () => {
    assert.equal(decideSendTime(now, t, { timezone: 'Asia/Kolkata' }).timezone, 'Asia/Kolkata');
  });
  test('zone names are canonicalised (case)', () => {
    assert.equal(decideSendTime(now, t, { timezone: 'europe/berlin' }).timezone, 'Europe/Berlin');
  });
  test('an invalid defaultTimezone falls back to UTC', () => {
    const d = decideSendTime(now, { ...t, defaultTimezone: 'Nowhere/Land' }, {});
    assert.equal(d.timezone, 'UTC');
    expectAt(d, '2026-06-10T09:00:00.000Z', '2026-06-10T09:00:00.000+00:00');
  });
});

describe('send-time optimisation', () => {
  const tz = 'Europe/Berlin';
  const opt = (extra: Partial<Timing> = {}) => timing({ optimise: true, ...extra });
  test('preferred hour later today: today at that hour', () => {
    const d = decideSendTime(at('2026-06-10T08:00:00Z'), opt(), { timezone: tz, preferredHour: 19 }); // 10:00 CEST
    expectAt(
      d,
      '2026-06-10T17:00:00.000Z',
      '2026-06-10T19:00:00.000+02:00',
      'send-time optimisation: customer usually engages at 19:00 Europe/Berlin',
    );
  });
  test('preferred hour already past today: tomorrow at that hour', () => {
    const d = decideSendTime(at('2026-06-10T08:00:00Z'), opt(), { timezone: tz, preferredHour: 8 });
    expectAt(d, '2026-06-11T06:00:00.000Z', '2026-06-11T08:00:00.000+02:00', /usually engages at 08:00/);
  });
  test('within the preferred hour: now', () => {
    const now = at('2026-06-10T17:40:00Z'); // 19:40 CEST
    expectNow(decideSendTime(now, opt(), { timezone: tz, preferredHour: 19 }), now);
  });
  test('preferred hour midnight', () => {
    const d = decideSendTime(at('2026-06-10T20:00:00Z'), opt(), { timezone: tz, preferredHour: 0 });
    expectAt(d, '2026-06-10T22:00:00.000Z', '2026-06-11T00:00:00.000+02:00', /engages at 00:00/);
  });
  test('preferred hour outside the window: optimisation ignored', () => {
    const t = opt({ window: { from: '09:00', to: '21:00' } });
    const now = at('2026-06-10T08:00:00Z'); // 10:00 CEST, inside the window
    expectNow(decideSendTime(now, t, { timezone: tz, preferredHour: 23 }), now);
    const early = decideSendTime(at('2026-06-10T04:00:00Z'), t, { timezone: tz, preferredHour: 23 }); // 06:00
    expectAt(early, '2026-06-10T07:00:00.000Z', '2026-06-10T09:00:00.000+02:00', /send window 09:00-21:00/);
  });
  test('preferred hour inside quiet hours: optimisation ignored', () => {
    const t = opt({ quietHours: { from: '22:00', to: '07:00' } });
    const d = decideSendTime(at('2026-06-10T22:30:00Z'), t, { timezone: tz, preferredHour: 3 }); // 00:30 CEST
    expectAt(d, '2026-06-11T05:00:00.000Z', '2026-06-11T07:00:00.000+02:00', /quiet hours 22:00-07:00/);
  });
  test('preferred hour allowed, now in quiet hours: the preferred hour, not the end of quiet hours', () => {
    const t = opt({ quietHours: { from: '22:00', to: '07:00' } });
    const d = decideSendTime(at('2026-06-10T22:30:00Z'), t, { timezone: tz, preferredHour: 19 });
    expectAt(d, '2026-06-11T17:00:00.000Z', '2026-06-11T19:00:00.000+02:00', /optimisation/);
  });
  test('within the preferred hour but no longer allowed: the next allowed occurrence', () => {
    const t = opt({ window: { from: '09:00', to: '19:15' } });
    const d = decideSendTime(at('2026-06-10T17:30:00Z'), t, { timezone: tz, preferredHour: 19 }); // 19:30
    expectAt(d, '2026-06-11T17:00:00.000Z', '2026-06-11T19:00:00.000+02:00', /optimisation/);
  });
  test('unknown or unusable preferred hour, or optimise off: no optimisation', () => {
    const now = at('2026-06-10T08:00:00Z');
    for (const preferredHour of [undefined, null, -1, 24, 7.5, Number.NaN]) {
      expectNow(decideSendTime(now, opt(), { timezone: tz, preferredHour }), now);
    }
    expectNow(decideSendTime(now, timing({ optimise: false }), { timezone: tz, preferredHour: 19 }), now);
  });
  test('the preferred hour is local to the customer', () => {
    const d = decideSendTime(at('2026-06-10T08:00:00Z'), opt(), { timezone: 'Asia/Kolkata', preferredHour: 19 });
    expectAt(d, '2026-06-10T13:30:00.000Z', '2026-06-10T19:00:00.000+05:30', /engages at 19:00 Asia\/Kolkata/);
  });
});

describe('daylight saving time', () => {
  describe('Europe/Berlin spring forward (2026-03-29 02:00 CET -> 03:00 CEST = 01:00Z)', () => {
    const tz = { timezone: 'Europe/Berlin' };
    test('a window start that does not exist (02:30) moves to the first valid instant, 03:00 CEST', () => {
      const d = decideSendTime(at('2026-03-29T00:30:00Z'), timing({ window: { from: '02:30', to: '06:00' } }), tz);
      expectAt(d, '2026-03-29T01:00:00.000Z', '2026-03-29T03:00:00.000+02:00', /deferred to 03:00/);
    });
    test('a quiet-hours end that does not exist (02:30) moves to 03:00 CEST', () => {
      const d = decideSendTime(at('2026-03-29T00:30:00Z'), timing({ quietHours: { from: '22:00', to: '02:30' } }), tz);
      expectAt(d, '2026-03-29T01:00:00.000Z', '2026-03-29T03:00:00.000+02:00');
    });
    test('quiet hours across the change: 07:00 CEST, 8 hours after 23:00 CET', () => {
      const d = decideSendTime(at('2026-03-28T22:00:00Z'), timing({ quietHours: { from: '22:00', to: '07:00' } }), tz);
      expectAt(d, '2026-03-29T05:00:00.000Z', '2026-03-29T07:00:00.000+02:00');
    });
    test('after the window on the day before: next start in the new offset', () => {
      const d = decideSendTime(at('2026-03-28T17:00:00Z'), timing({ window: { from: '09:00', to: '17:00' } }), tz); // 18:00 CET
      expectAt(d, '2026-03-29T07:00:00.000Z', '2026-03-29T09:00:00.000+02:00');
    });
    test('a window entirely inside the skipped hour does not exist that day: the next day', () => {
      const d = decideSendTime(at('2026-03-28T23:30:00Z'), timing({ window: { from: '02:00', to: '02:45' } }), tz);
      expectAt(d, '2026-03-30T00:00:00.000Z', '2026-03-30T02:00:00.000+02:00');
    });
    test('a preferred hour that does not exist (02:00) moves to 03:00 CEST', () => {
      const d = decideSendTime(at('2026-03-28T23:30:00Z'), timing({ optimise: true }), { ...tz, preferredHour: 2 });
      expectAt(d, '2026-03-29T01:00:00.000Z', '2026-03-29T03:00:00.000+02:00', /engages at 02:00/);
    });
  });

  describe('Europe/Berlin fall back (2026-10-25 03:00 CEST -> 02:00 CET = 01:00Z)', () => {
    const tz = { timezone: 'Europe/Berlin' };
    test('a window start that exists twice (02:30): the first occurrence, CEST', () => {
      const d = decideSendTime(at('2026-10-24T23:00:00Z'), timing({ window: { from: '02:30', to: '06:00' } }), tz);
      expectAt(d, '2026-10-25T00:30:00.000Z', '2026-10-25T02:30:00.000+02:00');
    });
    test('quiet hours across the change: 07:00 CET, 9 hours after 23:00 CEST', () => {
      const d = decideSendTime(at('2026-10-24T21:00:00Z'), timing({ quietHours: { from: '22:00', to: '07:00' } }), tz);
      expectAt(d, '2026-10-25T06:00:00.000Z', '2026-10-25T07:00:00.000+01:00');
    });
    test('the first occurrence already past: the second one, CET', () => {
      const d = decideSendTime(at('2026-10-25T00:50:00Z'), timing({ window: { from: '02:30', to: '02:45' } }), tz); // 02:50 CEST
      expectAt(d, '2026-10-25T01:30:00.000Z', '2026-10-25T02:30:00.000+01:00');
    });
    test('the clock falling back into the window: the instant of the change', () => {
      const d = decideSendTime(at('2026-10-25T00:45:00Z'), timing({ window: { from: '01:00', to: '02:30' } }), tz); // 02:45 CEST
      expectAt(d, '2026-10-25T01:00:00.000Z', '2026-10-25T02:00:00.000+01:00');
    });
    test('a preferred hour that exists twice (02:00): the first occurrence', () => {
      const d = decideSendTime(at('2026-10-24T22:30:00Z'), timing({ optimise: true }), { ...tz, preferredHour: 2 });
      expectAt(d, '2026-10-25T00:00:00.000Z', '2026-10-25T02:00:00.000+02:00');
    });
  });

  describe('America/New_York spring forward (2026-03-08 02:00 EST -> 03:00 EDT = 07:00Z)', () => {
    const tz = { timezone: 'America/New_York' };
    test('a window start that does not exist (02:30) moves to 03:00 EDT', () => {
      const d = decideSendTime(at('2026-03-08T06:00:00Z'), timing({ window: { from: '02:30', to: '05:00' } }), tz);
      expectAt(d, '2026-03-08T07:00:00.000Z', '2026-03-08T03:00:00.000-04:00');
    });
    test('quiet hours across the change: 07:00 EDT', () => {
      const d = decideSendTime(at('2026-03-08T04:00:00Z'), timing({ quietHours: { from: '22:00', to: '07:00' } }), tz); // 23:00 EST
      expectAt(d, '2026-03-08T11:00:00.000Z', '2026-03-08T07:00:00.000-04:00');
    });
  });

  describe('America/New_York fall back (2026-11-01 02:00 EDT -> 01:00 EST = 06:00Z)', () => {
    const tz = { timezone: 'America/New_York' };
    test('a window start that exists twice (01:30): the first occurrence, EDT', () => {
      const d = decideSendTime(at('2026-11-01T04:00:00Z'), timing({ window: { from: '01:30', to: '05:00' } }), tz);
      expectAt(d, '2026-11-01T05:30:00.000Z', '2026-11-01T01:30:00.000-04:00');
    });
    test('quiet hours across the change: 07:00 EST', () => {
      const d = decideSendTime(at('2026-11-01T03:00:00Z'), timing({ quietHours: { from: '22:00', to: '07:00' } }), tz); // 23:00 EDT
      expectAt(d, '2026-11-01T12:00:00.000Z', '2026-11-01T07:00:00.000-05:00');
    });
    test('a preferred hour that exists twice (01:00): the first occurrence', () => {
      const d = decideSendTime(at('2026-11-01T04:00:00Z'), timing({ optimise: true }), { ...tz, preferredHour: 1 });
      expectAt(d, '2026-11-01T05:00:00.000Z', '2026-11-01T01:00:00.000-04:00');
    });
  });
});

// ---- property-style checks ----------------------------------------------------------------------

/** mulberry32: a small seeded PRNG, so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'America/Los_Angeles',
  'Asia/Kolkata',
  'Pacific/Chatham',
  'Australia/Lord_Howe', // 30-minute DST shift
  'Pacific/Kiritimati', // +14:00
  'Pacific/Pago_Pago', // -11:00
];
/** Instants near which DST changes happen in the zones above. */
const TRANSITIONS = [
  '2026-03-29T01:00:00Z',
  '2026-10-25T01:00:00Z',
  '2026-03-08T07:00:00Z',
  '2026-11-01T06:00:00Z',
  '2026-03-08T10:00:00Z',
  '2026-11-01T09:00:00Z',
  '2026-04-04T14:00:00Z', // Chatham
  '2026-09-26T14:00:00Z', // Chatham
  '2026-04-04T15:00:00Z', // Lord Howe
  '2026-10-03T15:30:00Z', // Lord Howe
].map(at);

const clockOf = (minutes: number) =>
  `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

/** The test's own reading of the rules: is local minute `m` allowed? (independent of the module) */
function allowedBy(t: Timing, m: number, ignoreWindow: boolean): boolean {
  const within = (from: string, to: string) => {
    const f = parseClock(from);
    const e = parseClock(to);
    return f < e ? m >= f && m < e : m >= f || m < e;
  };
  if (!ignoreWindow && t.window && t.window.from !== t.window.to && !within(t.window.from, t.window.to)) return false;
  if (t.quietHours && t.quietHours.from !== t.quietHours.to && within(t.quietHours.from, t.quietHours.to)) return false;
  return true;
}

function localMinuteOf(ts: number, zone: string): number {
  const dt = DateTime.fromMillis(ts, { zone });
  return dt.hour * 60 + dt.minute;
}

describe('properties over random inputs (seeded)', () => {
  const random = prng(0x5eed_2026);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const clock = () => clockOf(Math.floor(random() * 24) * 60 + pick([0, 0, 15, 30, 45]));

  const cases = Array.from({ length: 1500 }, () => {
    const near = random() < 0.5;
    const now = near
      ? pick(TRANSITIONS) + Math.floor((random() * 2 - 1) * 30 * HOUR)
      : at('2025-01-01T00:00:00Z') + Math.floor(random() * 3 * 365 * 24 * HOUR);
    const t: Timing = {
      optimise: random() < 0.4,
      defaultTimezone: pick(['UTC', 'Europe/Berlin', 'Asia/Kolkata']),
    };
    if (random() < 0.7) t.window = { from: clock(), to: random() < 0.05 ? '00:00' : clock() };
    if (random() < 0.7) t.quietHours = { from: clock(), to: clock() };
    const profile = {
      timezone: pick([...ZONES, ...ZONES, undefined, null, 'Not/AZone']),
      preferredHour: pick([undefined, null, Math.floor(random() * 24), Math.floor(random() * 24)]),
    };
    return { now, t: random() < 0.05 ? undefined : t, profile };
  });

  test('never in the past, never more than 48 hours ahead, consistent fields, deterministic', () => {
    for (const { now, t, profile } of cases) {
      const label = JSON.stringify({ now: new Date(now).toISOString(), t, profile });
      const d = decideSendTime(now, t, profile);
      assert.ok(d.at >= now, `past: ${label}`);
      assert.ok(d.at - now <= MAX_DEFERRAL_MS, `more than 48h: ${label}`);
      assert.equal(d.reason === undefined, d.at === now, `reason iff deferred: ${label}`);
      assert.equal(DateTime.fromISO(d.localTime, { setZone: true }).toMillis(), d.at, label);
      const expectedZone =
        typeof profile.timezone === 'string' && IANAZone.isValidZone(profile.timezone)
          ? profile.timezone
          : IANAZone.isValidZone(t?.defaultTimezone ?? '')
            ? t!.defaultTimezone
            : 'UTC';
      assert.equal(d.timezone, expectedZone, label);
      assert.equal(DateTime.fromISO(d.localTime, { setZone: true }).offset, IANAZone.create(expectedZone).offset(d.at), label);
      assert.deepEqual(decideSendTime(now, t, profile), d, `not deterministic: ${label}`);
    }
  });

  test('the chosen instant is always allowed by the rules in the customer zone', () => {
    for (const { now, t, profile } of cases) {
      if (!t) continue;
      const d = decideSendTime(now, t, profile);
      const satisfiable = Array.from({ length: 1440 }, (_, m) => allowedBy(t, m, false)).some(Boolean);
      assert.ok(
        allowedBy(t, localMinuteOf(d.at, d.timezone), !satisfiable),
        `not allowed: ${JSON.stringify({ now: new Date(now).toISOString(), t, profile, d })}`,
      );
    }
  });

  test('without optimisation, the result is the earliest allowed instant (brute-force minute scan)', () => {
    let deferred = 0;
    for (const { now, t, profile } of cases.slice(0, 600)) {
      if (!t || t.optimise) continue;
      const d = decideSendTime(now, t, profile);
      const satisfiable = Array.from({ length: 1440 }, (_, m) => allowedBy(t, m, false)).some(Boolean);
      const ok = (ts: number) => allowedBy(t, localMinuteOf(ts, d.timezone), !satisfiable);
      let expected: number | undefined;
      if (ok(now)) expected = now;
      else {
        for (let ts = Math.ceil((now + 1) / MINUTE) * MINUTE; ts <= now + MAX_DEFERRAL_MS; ts += MINUTE) {
          if (ok(ts)) {
            expected = ts;
            break;
          }
        }
      }
      assert.equal(d.at, expected, JSON.stringify({ now: new Date(now).toISOString(), t, profile, d }));
      if (d.at !== now) deferred++;
    }
    assert.ok(deferred > 50, `the random cases exercise deferral (${deferred})`);
  });

  test('with a usable preferred hour, the result is at that local hour (or now, within it)', () => {
    let optimised = 0;
    for (const { now, t, profile } of cases) {
      if (!t?.optimise || typeof profile.preferredHour !== 'number') continue;
      const d = decideSendTime(now, t, profile);
      if (!d.reason?.startsWith('send-time optimisation')) continue;
      optimised++;
      const local = DateTime.fromMillis(d.at, { zone: d.timezone });
      // On a spring-forward day the preferred hour may not exist: then the first instant after it.
      const skipped = local.offset !== DateTime.fromMillis(d.at - HOUR, { zone: d.timezone }).offset;
      assert.ok(
        (local.hour === profile.preferredHour && local.minute === 0) || skipped,
        JSON.stringify({ now: new Date(now).toISOString(), t, profile, d }),
      );
      assert.ok(d.at - now <= 25 * HOUR, 'the next occurrence is today or tomorrow');
    }
    assert.ok(optimised > 30, `the random cases exercise optimisation (${optimised})`);
  });
});
