import { formatDuration } from './duration.js';
import type { Condition } from './journey-definition.js';
import type { JourneyState } from './journey-state.js';

/** Why a condition (a transition's `when`, a campaign's `conditions`) does not hold now, or undefined when it does. */
export function failedCondition(s: JourneyState, condition: Condition | undefined, at: number): string | undefined {
  if (!condition) return undefined;
  for (const [id, cmp] of Object.entries(condition.counters ?? {})) {
    const value = s.counters[id] ?? 0;
    if (cmp.gte !== undefined && value < cmp.gte) return `${id} is ${value}, needs at least ${cmp.gte}`;
    if (cmp.lte !== undefined && value > cmp.lte) return `${id} is ${value}, needs at most ${cmp.lte}`;
    if (cmp.eq !== undefined && value !== cmp.eq) return `${id} is ${value}, needs ${cmp.eq}`;
  }
  for (const [id, wanted] of Object.entries(condition.attributes ?? {})) {
    const value = s.attributes[id];
    const ok = Array.isArray(wanted) ? value !== undefined && wanted.includes(value) : value === wanted;
    if (!ok) return `${id} is ${value ?? 'unset'}, needs ${Array.isArray(wanted) ? wanted.join(' or ') : wanted}`;
  }
  if (condition.activeWithin !== undefined && (s.lastActivityAt === null || at - s.lastActivityAt > condition.activeWithin)) {
    return `not active in the last ${formatDuration(condition.activeWithin)}`;
  }
  if (condition.inStageFor !== undefined && at - s.stageEnteredAt < condition.inStageFor) {
    return `in ${s.stage} for less than ${formatDuration(condition.inStageFor)}`;
  }
  return undefined;
}
