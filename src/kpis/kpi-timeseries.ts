import type { Models } from '../db/models.js';
import { percent } from './compute-kpis.js';

export const KPI_INTERVALS = ['day', 'week'] as const;
export type KpiInterval = (typeof KPI_INTERVALS)[number];
/** At most this many points in one series (a year of days). */
export const MAX_POINTS = 366;

const DAY = 86_400_000;

/** The lifecycle counts and rates as they stood at one moment. */
export interface KpiPoint {
  /** Start of the period (UTC midnight; weeks start on Monday). */
  period: string;
  /** The moment the point describes: the end of the period, or `to` for the period that holds it. */
  asOf: string;
  customers: number;
  paying: number;
  repeat: number;
  loyal: number;
  rates: { activation: number | null; repeatCustomer: number | null; loyalCustomer: number | null };
}

export interface KpiTimeseries {
  interval: KpiInterval;
  from: string;
  to: string;
  points: KpiPoint[];
}

/**
 * What the series is folded from: moments at which the counts behind the three rates changed, each with how
 * many customers changed then. Plain numbers, so a simulation can feed its own.
 */
export interface TimeseriesEvents {
  /** Journeys started (the read model's `startedAt`). */
  started: Array<{ at: number; n: number }>;
  /** Payment facts of a first (payments 1) or second (payments 2) payment; others are ignored. */
  payments: Array<{ at: number; payments: number; n: number }>;
  /** Stage facts into the loyal stage (delta +n) and out of it (delta -n). */
  loyal: Array<{ at: number; delta: number }>;
}

/** Start of the UTC day or ISO week (Monday) holding `ms`. */
export function periodStart(ms: number, interval: KpiInterval): number {
  const day = Math.floor(ms / DAY) * DAY;
  if (interval === 'day') return day;
  const weekday = (new Date(day).getUTCDay() + 6) % 7; // Monday 0 .. Sunday 6
  return day - weekday * DAY;
}

function periodLength(interval: KpiInterval): number {
  return interval === 'day' ? DAY : 7 * DAY;
}

/** How many periods a series from `from` to `to` has (both inclusive). */
export function periodCount(from: number, to: number, interval: KpiInterval): number {
  if (to < from) return 0;
  return Math.floor((periodStart(to, interval) - periodStart(from, interval)) / periodLength(interval)) + 1;
}

/**
 * The periods from the one holding `from` to the one holding `to`; each is described as of its last
 * millisecond, the last one as of `to`.
 */
export function periodsOf(from: number, to: number, interval: KpiInterval): Array<{ start: number; asOf: number }> {
  const length = periodLength(interval);
  const periods: Array<{ start: number; asOf: number }> = [];
  for (let start = periodStart(from, interval); start <= to; start += length) {
    periods.push({ start, asOf: Math.min(start + length - 1, to) });
  }
  return periods;
}

/**
 * The three lifecycle rates as they stood at the end of each period, cumulative over everything before it:
 * customers = journeys started by then, paying = first payments by then, repeat = second payments by then,
 * loyal = entries into the loyal stage minus exits from it by then. The same ratios as GET /v1/kpis, so the
 * point as of now equals its rates.
 */
export function foldTimeseries(events: TimeseriesEvents, periods: ReadonlyArray<{ start: number; asOf: number }>): KpiPoint[] {
  const byTime = <T extends { at: number }>(list: readonly T[]) => [...list].sort((a, b) => a.at - b.at);
  const started = byTime(events.started);
  const payments = byTime(events.payments.filter((p) => p.payments === 1 || p.payments === 2));
  const loyalMoves = byTime(events.loyal);
  let [s, p, l] = [0, 0, 0];
  let [customers, paying, repeat, loyal] = [0, 0, 0, 0];
  return periods.map(({ start, asOf }) => {
    for (; s < started.length && started[s]!.at <= asOf; s++) customers += started[s]!.n;
    for (; p < payments.length && payments[p]!.at <= asOf; p++) {
      if (payments[p]!.payments === 1) paying += payments[p]!.n;
      else repeat += payments[p]!.n;
    }
    for (; l < loyalMoves.length && loyalMoves[l]!.at <= asOf; l++) loyal += loyalMoves[l]!.delta;
    return {
      period: new Date(start).toISOString(),
      asOf: new Date(asOf).toISOString(),
      customers,
      paying,
      repeat,
      loyal,
      rates: { activation: percent(paying, customers), repeatCustomer: percent(repeat, paying), loyalCustomer: percent(loyal, repeat) },
    };
  });
}

const ms = (value: unknown): number => (value instanceof Date ? value.getTime() : new Date(value as string).getTime());

/**
 * The moments the series is folded from, grouped in MongoDB by exact time ($match/$group/$sum only: FerretDB
 * 1.x has no date operators to group by day, so the periods are cut in JS over one row per distinct moment).
 */
export async function timeseriesEvents(models: Models, loyalStage: string): Promise<TimeseriesEvents> {
  const [started, payments, loyal] = await Promise.all([
    models.JourneyRecord.aggregate<{ _id: Date; n: number }>([{ $group: { _id: '$startedAt', n: { $sum: 1 } } }]),
    models.JourneyFactRecord.aggregate<{ _id: { at: Date; payments: number }; n: number }>([
      { $match: { kind: 'payment', payments: { $in: [1, 2] } } },
      { $group: { _id: { at: '$at', payments: '$payments' }, n: { $sum: 1 } } },
    ]),
    models.JourneyFactRecord.aggregate<{ _id: { at: Date; stage: string }; n: number }>([
      { $match: { kind: 'stage', $or: [{ stage: loyalStage }, { from: loyalStage }] } },
      { $group: { _id: { at: '$at', stage: '$stage' }, n: { $sum: 1 } } },
    ]),
  ]);
  return {
    started: started.filter((g) => g._id != null).map((g) => ({ at: ms(g._id), n: g.n })),
    payments: payments.map((g) => ({ at: ms(g._id.at), payments: g._id.payments, n: g.n })),
    loyal: loyal.map((g) => ({ at: ms(g._id.at), delta: g._id.stage === loyalStage ? g.n : -g.n })),
  };
}

/**
 * The series from `from` (default: the first journey's start, or at most MAX_POINTS periods back) to `to`
 * (default: now).
 */
export function seriesRange(
  events: TimeseriesEvents,
  query: { interval: KpiInterval; from?: number | undefined; to?: number | undefined },
  now: number,
): { from: number; to: number } {
  const to = query.to ?? now;
  if (query.from !== undefined) return { from: query.from, to };
  const first = events.started.reduce((min, e) => Math.min(min, e.at), to);
  const earliest = periodStart(to, query.interval) - (MAX_POINTS - 1) * periodLength(query.interval);
  return { from: Math.max(first, earliest), to };
}
