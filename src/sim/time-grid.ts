/**
 * When simulated customers act. Every customer who acts in hour n of the simulation acts at the same
 * instant, hh:MM:30 with MM = 5 + (17n mod 47): many customers share an instant, so the time-skipping
 * server advances time in few, busy steps (fast), and a customer's action never falls on the instant
 * of one of their journey's own deadlines (deterministic):
 *
 * - a deadline is an earlier action plus the definition's durations (whole minutes), or a send window
 *   opening (a whole minute); actions are 30 seconds off the minute;
 * - an action in hour n shares its minute with a deadline from an action in hour n' only when
 *   n - n' is a multiple of 47 hours: no duration of CoachingLive (days, weeks, months within a year,
 *   and their sums) is, so an action and a deadline are at least a minute apart.
 *
 * Wall-clock time flows on the test server while work is in flight, so what a workflow reads as "now"
 * lags the instant by that much; a minute of separation keeps that lag from reordering anything.
 */
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const PHASE_PERIOD_HOURS = 47;

/** Milliseconds into hour `hour` at which customers act. */
export function phaseMs(hour: number): number {
  const minute = 5 + ((((hour * 17) % PHASE_PERIOD_HOURS) + PHASE_PERIOD_HOURS) % PHASE_PERIOD_HOURS);
  return minute * MINUTE + 30_000;
}

/** The instant customers act in hour `hour` of a simulation that starts at `start` (00:00 UTC). */
export function actionInstant(start: number, hour: number): number {
  return start + hour * HOUR + phaseMs(hour);
}

/** The simulation hour `t` falls in. */
export function hourOf(start: number, t: number): number {
  return Math.floor((t - start) / HOUR);
}

/**
 * How late after its cron time the k-th run of a broadcast fires: 00:30 to 04:30 past the minute, varied
 * so that runs a week apart do not tie with the 7-day frequency cap (which would be decided by lag).
 */
export function broadcastOffsetMs(k: number): number {
  return (((k * 3) % 5) * 60 + 30) * 1000;
}
