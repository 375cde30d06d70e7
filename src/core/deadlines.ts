import type { Deadline, JourneyState } from './journey-state.js';

/** The journey's calendar, read: which deadline falls due first, in the order the reducer fires them. */

/** The order deadlines fall due in; the view lists them in the same order the journey fires them. */
export function compareDeadlines(a: Deadline, b: Deadline): number {
  if (a.at !== b.at) return a.at - b.at;
  // A step tied to a timer at the same moment goes first: "on the day the trial ends" is still in trial.
  if (a.kind !== b.kind) return a.kind === 'campaign' ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** The next moment the journey must wake up at, with what it is waiting for. */
export function nextDeadline(state: JourneyState): Deadline | undefined {
  return [...state.deadlines].sort(compareDeadlines)[0];
}

/** True while a delivery the journey asked for has no outcome yet. */
export function hasPendingDeliveries(state: JourneyState): boolean {
  return state.messages.some((m) => m.status === 'pending');
}
