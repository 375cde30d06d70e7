import type { ComputedTrait } from './journey-definition.js';
import type { ComputedTraitsState, ComputedValue, JourneyState, TrackedEvent } from './journey-state.js';
import { unreachable } from './unreachable.js';

/**
 * Computed profile traits (definition `computedTraits`): values the journey works out from what it knows
 * (activity, email engagement, event counts, stages, event properties) and keeps on the profile so segments
 * stay plain MongoDB filters. Pure; lifecycle.ts calls `countTraitEvent` for each event and `evaluateTraits`
 * after each step.
 */

const DAY = 86_400_000;
/** Distinct property values a most-frequent trait keeps count of; a new value pushes out the least used. */
export const MAX_TALLIED_VALUES = 20;
/** A property value longer than this is not counted (it is not a category). */
const MAX_VALUE_LENGTH = 100;

export function emptyComputedState(): ComputedTraitsState {
  return { values: {}, days: {}, tallies: {} };
}

function matches(where: Record<string, string | number | boolean> | undefined, event: TrackedEvent, name: string): boolean {
  return event.event === name && (!where || Object.entries(where).every(([k, v]) => event.properties?.[k] === v));
}

/** The moment a day bucket's events leave a window of `within`: `within` after the (UTC) day ends. */
function expiresAt(day: number, within: number): number {
  return (day + 1) * DAY + within;
}

/** Count an event (at its effective time `at`) into the traits that look at it. Mutates `c`. */
export function countTraitEvent(traits: readonly ComputedTrait[], c: ComputedTraitsState, event: TrackedEvent, at: number): void {
  for (const trait of traits) {
    switch (trait.kind) {
      case 'eventCount': {
        if (!matches(trait.eventCount.where, event, trait.eventCount.event)) break;
        const day = Math.floor(at / DAY);
        const kept = (c.days[trait.id] ?? []).filter(([d]) => expiresAt(d, trait.eventCount.within) > at);
        const last = kept[kept.length - 1];
        if (last && last[0] === day) last[1] += 1;
        else kept.push([day, 1]);
        c.days[trait.id] = kept;
        break;
      }
      case 'mostFrequent': {
        if (!matches(trait.mostFrequent.where, event, trait.mostFrequent.event)) break;
        const raw = event.properties?.[trait.mostFrequent.property];
        const value = typeof raw === 'string' ? raw.trim() : typeof raw === 'number' && Number.isFinite(raw) ? String(raw) : '';
        if (value.length === 0 || value.length > MAX_VALUE_LENGTH) break;
        const tally = { ...(c.tallies[trait.id] ?? {}) };
        const known = tally[value];
        if (!known && Object.keys(tally).length >= MAX_TALLIED_VALUES) {
          const [least] = Object.entries(tally).sort((a, b) => a[1][0] - b[1][0] || a[1][1] - b[1][1]);
          if (least) delete tally[least[0]];
        }
        tally[value] = [(known?.[0] ?? 0) + 1, at];
        c.tallies[trait.id] = tally;
        break;
      }
      case 'activeWithin':
      case 'emailEngagedWithin':
      case 'inStage':
        break;
      default:
        unreachable(trait);
    }
  }
}

function countAt(c: ComputedTraitsState, trait: Extract<ComputedTrait, { kind: 'eventCount' }>, t: number): number {
  return (c.days[trait.id] ?? []).reduce((sum, [day, n]) => (expiresAt(day, trait.eventCount.within) > t ? sum + n : sum), 0);
}

/** The trait's value at time `t`, from the journey's state. */
export function traitValueAt(trait: ComputedTrait, s: JourneyState, c: ComputedTraitsState, t: number): ComputedValue {
  switch (trait.kind) {
    case 'activeWithin':
      return s.lastActivityAt !== null && t - s.lastActivityAt < trait.activeWithin;
    case 'emailEngagedWithin':
      return s.engagement !== undefined && s.engagement.lastAt > 0 && t - s.engagement.lastAt < trait.emailEngagedWithin;
    case 'eventCount': {
      const count = countAt(c, trait, t);
      const { gte, lte } = trait.eventCount;
      if (gte === undefined && lte === undefined) return count;
      return (gte === undefined || count >= gte) && (lte === undefined || count <= lte);
    }
    case 'inStage': {
      const { stages, ever } = trait.inStage;
      if (stages.includes(s.stage)) return true;
      return ever === true && (c.values[trait.id] === true || s.stageHistory.some((h) => stages.includes(h.stage)));
    }
    case 'mostFrequent': {
      const tally = Object.entries(c.tallies[trait.id] ?? {});
      if (tally.length === 0) return null;
      // The most used value; ties to the one used most recently.
      return tally.sort((a, b) => b[1][0] - a[1][0] || b[1][1] - a[1][1])[0]![0];
    }
    default:
      return unreachable(trait);
  }
}

/** Moments at which the trait's value may change without any new input (its windows ending). */
function changeCandidates(trait: ComputedTrait, s: JourneyState, c: ComputedTraitsState): number[] {
  switch (trait.kind) {
    case 'activeWithin':
      return s.lastActivityAt === null ? [] : [s.lastActivityAt + trait.activeWithin];
    case 'emailEngagedWithin':
      return s.engagement && s.engagement.lastAt > 0 ? [s.engagement.lastAt + trait.emailEngagedWithin] : [];
    case 'eventCount':
      return (c.days[trait.id] ?? []).map(([day]) => expiresAt(day, trait.eventCount.within));
    case 'inStage':
    case 'mostFrequent':
      return [];
    default:
      return unreachable(trait);
  }
}

export interface TraitEvaluation {
  values: Record<string, ComputedValue>;
  /** The earliest moment after `t` a value changes with no new input, and which traits change then. */
  due?: { at: number; summary: string };
}

/** Every trait's value at `t`, and when the next one changes by itself. */
export function evaluateTraits(traits: readonly ComputedTrait[], s: JourneyState, c: ComputedTraitsState, t: number): TraitEvaluation {
  const values: Record<string, ComputedValue> = {};
  for (const trait of traits) values[trait.id] = traitValueAt(trait, s, c, t);
  let due: { at: number; ids: string[] } | undefined;
  for (const trait of traits) {
    const candidates = [...new Set(changeCandidates(trait, s, c).filter((at) => at > t))].sort((a, b) => a - b);
    // The first candidate at which the value differs from now (a count may cross no threshold for a while).
    const at = candidates.find((x) => traitValueAt(trait, s, c, x) !== values[trait.id]);
    if (at === undefined || (due && at > due.at)) continue;
    if (due && at === due.at) due.ids.push(trait.id);
    else due = { at, ids: [trait.id] };
  }
  return { values, ...(due ? { due: { at: due.at, summary: `engagement window ends (${due.ids.join(', ')})` } } : {}) };
}

export function sameValues(a: Record<string, ComputedValue>, b: Record<string, ComputedValue>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.prototype.hasOwnProperty.call(b, k) && a[k] === b[k]);
}
