/**
 * When may a message go out, in the customer's own time zone?
 *
 * Pure: the caller passes `now` (epoch ms) and everything else; no clock, no I/O. Time-zone rules come
 * from luxon's `IANAZone` (the runtime's ICU data). Local wall-clock times are turned into instants by
 * our own code rather than `DateTime.fromObject`, because luxon resolves an ambiguous local time
 * (fall-back day) with a guess based on the *current* offset, which would make the result depend on
 * when the code runs.
 *
 * Semantics (all times local to the customer's zone, minute precision):
 * - `window {from, to}`: sending is allowed from `from` (inclusive) to `to` (exclusive). `from > to`
 *   wraps midnight (21:00-08:00 = evenings and early mornings). `from == to` means the whole day.
 * - `quietHours {from, to}`: sending is NOT allowed from `from` (inclusive) to `to` (exclusive); at `to`
 *   sending is allowed again. May wrap midnight. `from == to` means never (no quiet hours).
 * - If window and quiet hours together leave no minute of the day allowed, quiet hours win: the window
 *   is ignored (not disturbing the customer matters more than the preferred slot).
 * - A local time that does not exist (spring-forward gap, e.g. 02:30 Europe/Berlin on 2026-03-29) is
 *   moved to the first valid instant after it (the transition, 03:00 CEST). A local time that exists
 *   twice (fall-back day) means its first occurrence, unless that one is already past.
 * - Whether an instant is allowed is judged by its actual local time; so a window lying entirely inside
 *   a spring-forward gap (02:00-02:45 on that day) does not exist that day and the next day's is used.
 * - The result is never before `now` and never more than 48 hours after it.
 */
import { DateTime, IANAZone } from 'luxon';
import type { Timing } from '../core/journey-definition.js';
import { ENGAGEMENT, type LearnedHour } from '../core/engagement.js';

export interface SendTimeDecision {
  /** Epoch ms when the message may go: `now` itself when sending now is allowed. */
  at: number;
  /** IANA zone used (the profile's, or the default when the profile has none or an invalid one). */
  timezone: string;
  /** The local time the message goes out, ISO with offset, e.g. 2026-03-29T08:00:00.000+02:00. */
  localTime: string;
  /** Why not now, for the journey timeline, e.g. "quiet hours 21:00-08:00 Europe/Berlin: deferred to 08:00" or "send-time optimisation: customer usually engages at 19:00 Europe/Berlin"; absent when sent now. */
  reason?: string;
  /**
   * For timing that asks for optimisation: which hour it chose and why, also when the message goes now
   * ("send-time optimisation: customer usually opens or clicks at 19:00 Europe/Berlin (learned from 5
   * engagements)"), or why the window applies instead. Absent when there was nothing to optimise with.
   */
  optimisation?: string;
}

export interface SendTimeProfile {
  timezone?: string | null;
  /** The profile trait `preferredHour`. */
  preferredHour?: number | null;
  /** The hour learned from the customer's opens and clicks; it goes before `preferredHour`. */
  learnedHour?: LearnedHour | null;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const MINUTES_PER_DAY = 24 * 60;
/** The decision never lies further in the future than this. */
export const MAX_DEFERRAL_MS = 48 * HOUR;
/** Used when neither the profile's zone nor `defaultTimezone` is a valid IANA zone. */
const FALLBACK_ZONE = 'UTC';

const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** `'HH:mm'` (00:00-23:59) to minutes after local midnight. Throws a RangeError on anything else. */
export function parseClock(clock: string): number {
  const match = CLOCK.exec(clock);
  if (!match) throw new RangeError(`not a local time of day (HH:mm): ${JSON.stringify(clock)}`);
  return Number(match[1]) * 60 + Number(match[2]);
}

/** Minutes after midnight to `'HH:mm'`. */
function formatClock(minutes: number): string {
  const m = ((minutes % MINUTES_PER_DAY) + MINUTES_PER_DAY) % MINUTES_PER_DAY;
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}

/** Is `minute` in the half-open local range [from, to), wrapping midnight when from > to? from == to is empty. */
function inRange(minute: number, from: number, to: number): boolean {
  if (from === to) return false;
  return from < to ? minute >= from && minute < to : minute >= from || minute < to;
}

type ResolvedZone = { zone: IANAZone; name: string } | undefined;
/** Zones resolved so far: checking a name with ICU costs more than the rest of a send-time decision. */
const resolvedZones = new Map<string, ResolvedZone>();
const MAX_RESOLVED_ZONES = 1_000;

/** The valid IANA zone for `name`, canonically spelt, or undefined. */
function resolveZone(name: string | null | undefined): ResolvedZone {
  if (typeof name !== 'string') return undefined;
  if (resolvedZones.has(name)) return resolvedZones.get(name);
  const resolved = resolveZoneName(name);
  if (resolvedZones.size >= MAX_RESOLVED_ZONES) resolvedZones.clear();
  resolvedZones.set(name, resolved);
  return resolved;
}

function resolveZoneName(name: string): ResolvedZone {
  const trimmed = name.trim();
  if (trimmed === '' || !IANAZone.isValidZone(trimmed)) return undefined;
  // Fix the spelling's case ('europe/berlin' -> 'Europe/Berlin') but keep the name the customer has:
  // ICU may map a current name to a legacy alias (Asia/Kolkata -> Asia/Calcutta), which we do not want.
  let canonical = trimmed;
  try {
    const icu = new Intl.DateTimeFormat('en-US', { timeZone: trimmed }).resolvedOptions().timeZone;
    if (icu && icu.toLowerCase() === trimmed.toLowerCase()) canonical = icu;
  } catch {
    return undefined;
  }
  return { zone: IANAZone.create(canonical), name: canonical };
}

/** Offset of `zone` at instant `ts`, in ms. */
function offsetMs(zone: IANAZone, ts: number): number {
  return zone.offset(ts) * MINUTE;
}

/** Local wall-clock of instant `ts`, expressed as if it were UTC ms (so UTC date arithmetic applies). */
function wallOf(zone: IANAZone, ts: number): number {
  return ts + offsetMs(zone, ts);
}

/** Local minute of the day (0-1439) at instant `ts`. */
function localMinute(zone: IANAZone, ts: number): number {
  const wall = wallOf(zone, ts);
  return Math.floor((((wall % DAY) + DAY) % DAY) / MINUTE);
}

/**
 * The instants whose local wall-clock is `wall` (as-if-UTC ms), earliest first: one normally, two on a
 * fall-back overlap; in a spring-forward gap, the single first valid instant after it (the transition).
 */
function instantsAt(zone: IANAZone, wall: number): number[] {
  const before = offsetMs(zone, wall - DAY);
  const after = offsetMs(zone, wall + DAY);
  const found = new Set<number>();
  for (const offset of [before, after]) {
    const ts = wall - offset;
    if (offsetMs(zone, ts) === offset) found.add(ts);
  }
  if (found.size > 0) return [...found].sort((a, b) => a - b);
  // A gap: the smallest instant whose wall-clock is at or after `wall` (wall is monotonic across a gap).
  let lo = wall - Math.max(before, after); // wall(lo) < wall
  let hi = wall - Math.min(before, after); // wall(hi) >= wall
  if (wallOf(zone, lo) >= wall || wallOf(zone, hi) < wall) {
    // Not a single simple transition (never seen with real zone data): best effort.
    return [wall - offsetMs(zone, wall - offsetMs(zone, wall))];
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (wallOf(zone, mid) >= wall) hi = mid;
    else lo = mid;
  }
  return [hi];
}

/** Instants in (from, to] at which the zone's offset changes. */
function transitionsBetween(zone: IANAZone, from: number, to: number): number[] {
  const step = 3 * HOUR; // real zones never change offset twice within 3 hours
  const out: number[] = [];
  let prev = from;
  let prevOffset = zone.offset(prev);
  while (prev < to) {
    const next = Math.min(prev + step, to);
    const nextOffset = zone.offset(next);
    if (nextOffset !== prevOffset) {
      let lo = prev;
      let hi = next;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (zone.offset(mid) === prevOffset) lo = mid;
        else hi = mid;
      }
      out.push(hi);
    }
    prev = next;
    prevOffset = nextOffset;
  }
  return out;
}

interface Rules {
  window?: { from: number; to: number; text: string };
  quiet?: { from: number; to: number; text: string };
}

function allowedMinute(rules: Rules, minute: number): boolean {
  const { window, quiet } = rules;
  if (window && window.from !== window.to && !inRange(minute, window.from, window.to)) return false;
  if (quiet && inRange(minute, quiet.from, quiet.to)) return false;
  return true;
}

/** Local minutes of the day from which sending may become allowed again. */
function openingMinutes(rules: Rules): number[] {
  const out: number[] = [];
  if (rules.window && rules.window.from !== rules.window.to) out.push(rules.window.from);
  if (rules.quiet && rules.quiet.from !== rules.quiet.to) out.push(rules.quiet.to);
  return out;
}

/** Earliest instant in (now, now + 48h] whose local time is one of `minutes` (or, if `atTransitions`, a DST transition) and passes `ok`. */
function earliest(
  zone: IANAZone,
  now: number,
  minutes: number[],
  ok: (ts: number) => boolean,
  atTransitions: boolean,
): number | undefined {
  const limit = now + MAX_DEFERRAL_MS;
  const today = Math.floor(wallOf(zone, now) / DAY) * DAY;
  const candidates: number[] = [];
  for (let day = 0; day <= 2; day++) {
    for (const minute of minutes) candidates.push(...instantsAt(zone, today + day * DAY + minute * MINUTE));
  }
  if (atTransitions) candidates.push(...transitionsBetween(zone, now, limit));
  let best: number | undefined;
  for (const ts of candidates) {
    if (ts > now && ts <= limit && (best === undefined || ts < best) && ok(ts)) best = ts;
  }
  return best;
}

function decision(at: number, zone: IANAZone, timezone: string, reason?: string, optimisation?: string): SendTimeDecision {
  const localTime = DateTime.fromMillis(at, { zone }).toISO() ?? new Date(at).toISOString();
  return {
    at,
    timezone,
    localTime,
    ...(reason === undefined ? {} : { reason }),
    ...(optimisation === undefined ? {} : { optimisation }),
  };
}

function usableHour(hour: unknown): hour is number {
  return typeof hour === 'number' && Number.isInteger(hour) && hour >= 0 && hour <= 23;
}

/**
 * Decide when a message may be sent, given the campaign's `timing` and what the profile says about the
 * customer's zone and usual engagement hour. See the module comment for the exact rules.
 */
export function decideSendTime(now: number, timing: Timing | undefined, profile: SendTimeProfile): SendTimeDecision {
  if (!Number.isFinite(now)) throw new RangeError(`now must be a finite epoch ms, got ${now}`);
  const resolved =
    resolveZone(profile.timezone) ?? resolveZone(timing?.defaultTimezone) ?? resolveZone(FALLBACK_ZONE)!;
  const { zone, name: timezone } = resolved;
  if (!timing) return decision(now, zone, timezone);

  const rules: Rules = {};
  if (timing.window) {
    const { from, to } = timing.window;
    rules.window = { from: parseClock(from), to: parseClock(to), text: `send window ${from}-${to}` };
  }
  if (timing.quietHours) {
    const { from, to } = timing.quietHours;
    rules.quiet = { from: parseClock(from), to: parseClock(to), text: `quiet hours ${from}-${to}` };
  }
  // Contradictory rules (no minute of the day allowed): quiet hours win, the window is ignored.
  let allowsSomething = false;
  for (let m = 0; m < MINUTES_PER_DAY && !allowsSomething; m++) allowsSomething = allowedMinute(rules, m);
  if (!allowsSomething) delete rules.window;

  const allowedAt = (ts: number): boolean => allowedMinute(rules, localMinute(zone, ts));
  const nowAllowed = allowedAt(now);

  // Optimised timing: the learned hour, then the profile's preferred hour, each if the rules allow it.
  const candidates: Array<{ hour: number; why: string }> = [];
  let note: string | undefined;
  if (timing.optimise) {
    const learned = profile.learnedHour;
    if (learned && usableHour(learned.hour)) {
      const clock = `${formatClock(learned.hour * 60)} ${timezone}`;
      if (allowedMinute(rules, learned.hour * 60)) {
        candidates.push({ hour: learned.hour, why: `customer usually opens or clicks at ${clock} (learned from ${learned.samples} engagements)` });
      } else {
        const quiet = rules.quiet !== undefined && inRange(learned.hour * 60, rules.quiet.from, rules.quiet.to);
        note = `send-time optimisation: the learned hour ${clock} is ${quiet ? 'in the quiet hours' : 'outside the send window'}, so the campaign's window applies`;
      }
    } else if (learned && learned.samples > 0) {
      note = `send-time optimisation: not enough known yet (${learned.samples} of ${ENGAGEMENT.minSamples} opens or clicks), so the campaign's window applies`;
    }
    const hour = profile.preferredHour;
    if (usableHour(hour) && allowedMinute(rules, hour * 60)) candidates.push({ hour, why: `customer usually engages at ${formatClock(hour * 60)} ${timezone}` });
  }
  for (const { hour, why } of candidates) {
    const optimisation = `send-time optimisation: ${why}`;
    if (nowAllowed && Math.floor(localMinute(zone, now) / 60) === hour) return decision(now, zone, timezone, undefined, optimisation);
    const at = earliest(zone, now, [hour * 60], allowedAt, false);
    if (at !== undefined) return decision(at, zone, timezone, optimisation, optimisation);
  }

  if (nowAllowed) return decision(now, zone, timezone, undefined, note);
  const at = earliest(zone, now, openingMinutes(rules), allowedAt, true);
  if (at === undefined) return decision(now, zone, timezone, undefined, note); // unreachable with satisfiable rules
  const nowMinute = localMinute(zone, now);
  const blocking: string[] = [];
  if (rules.window && !inRange(nowMinute, rules.window.from, rules.window.to) && rules.window.from !== rules.window.to) {
    blocking.push(rules.window.text);
  }
  if (rules.quiet && inRange(nowMinute, rules.quiet.from, rules.quiet.to)) blocking.push(rules.quiet.text);
  return decision(
    at,
    zone,
    timezone,
    `${blocking.join(' and ')} ${timezone}: deferred to ${formatClock(localMinute(zone, at))}`,
    note,
  );
}

/** The hour (0-23) at `at` in the IANA zone `zone`; undefined without a valid zone. */
export function localHourOf(at: number, zone: string | null | undefined): number | undefined {
  if (!zone) return undefined;
  const local = DateTime.fromMillis(at, { zone });
  return local.isValid ? local.hour : undefined;
}
