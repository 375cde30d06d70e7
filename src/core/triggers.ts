import type { EventMatch, Transition, Trigger } from './journey-definition.js';
import type { TrackedEvent } from './journey-state.js';
import { unreachable } from './unreachable.js';

/**
 * What starts a campaign and what moves a customer to another stage, told apart by their `kind`. A new
 * kind of trigger or transition does not compile until these switches (and validate-definition.ts) handle it.
 */

/** Something that happened in the journey that a campaign trigger may be waiting for. */
export type TriggerOccasion =
  | { kind: 'event'; event: TrackedEvent }
  | { kind: 'counterReached'; counter: string; value: number }
  | { kind: 'stageEntered'; stage: string }
  | { kind: 'timerArmed'; timerId: string }
  | { kind: 'broadcast' };

/** Something that happened that a transition may be waiting for. */
export type TransitionOccasion = { kind: 'event'; event: TrackedEvent; isActivity: boolean } | { kind: 'timerFired'; timerId: string };

export function matchesWhere(where: Record<string, string | number | boolean> | undefined, properties: Record<string, unknown> | undefined): boolean {
  if (!where) return true;
  return Object.entries(where).every(([k, v]) => properties?.[k] === v);
}

/** A track call by name (and properties); a page or screen view only where the match says `call: page|screen`. */
export function matchesEvent(match: Pick<EventMatch, 'event' | 'where' | 'call'>, event: TrackedEvent): boolean {
  return (match.call ?? 'track') === (event.type ?? 'track') && match.event === event.event && matchesWhere(match.where, event.properties);
}

/** Whether this trigger starts its campaign on this occasion. */
export function triggerFires(trigger: Trigger, occasion: TriggerOccasion): boolean {
  switch (trigger.kind) {
    case 'event':
      return occasion.kind === 'event' && matchesEvent(trigger, occasion.event);
    case 'counter':
      return occasion.kind === 'counterReached' && occasion.counter === trigger.counter && trigger.reaches.includes(occasion.value);
    case 'stageEntry':
      return occasion.kind === 'stageEntered' && occasion.stage === trigger.stageEntry;
    case 'timer':
      return occasion.kind === 'timerArmed' && occasion.timerId === trigger.timer;
    case 'broadcast':
      return occasion.kind === 'broadcast';
    default:
      return unreachable(trigger);
  }
}

/** The first of a campaign's triggers of this kind that fires on the occasion. */
export function firingTrigger<K extends Trigger['kind']>(triggers: readonly Trigger[], kind: K, occasion: TriggerOccasion): Extract<Trigger, { kind: K }> | undefined {
  return triggers.find((t): t is Extract<Trigger, { kind: K }> => t.kind === kind && triggerFires(t, occasion));
}

/** Whether a transition's `on` is met by this occasion (its `from` and `when` are checked by the caller). */
export function transitionFires(on: Transition['on'], occasion: TransitionOccasion): boolean {
  switch (on.kind) {
    case 'event':
      return occasion.kind === 'event' && matchesEvent(on, occasion.event);
    case 'activity':
      return occasion.kind === 'event' && occasion.isActivity;
    case 'timer':
      return occasion.kind === 'timerFired' && occasion.timerId === on.timer;
    default:
      return unreachable(on);
  }
}
