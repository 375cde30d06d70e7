import type { JourneyPlan } from './journey-definition.js';
import type { JourneyState, MessageRecord } from './journey-state.js';
import { LIMITS } from './reducer-context.js';
import { deliveryKey } from './ids.js';

/** Whether a journey in `state` can go on under `plan` (its current stage still exists there). */
export function planFits(plan: JourneyPlan, state: JourneyState): boolean {
  return plan.stages.some((s) => s.id === state.stage);
}

/**
 * Carry a journey into a new run, possibly under a newer version of its definition: timers and campaign
 * steps the new version no longer declares are dropped (the steps recorded as cancelled, so support can
 * see why a message never came). Pure; the caller checks `planFits` first.
 */
export function resumeJourney(plan: JourneyPlan, carried: JourneyState, now: number): JourneyState {
  const s: JourneyState = JSON.parse(JSON.stringify(carried));
  s.stats.runs += 1;
  if (s.definition.version === plan.version) return s;
  s.definition = { id: plan.id, version: plan.version };
  const timers = new Set(plan.timers.map((t) => t.id));
  const campaigns = new Map(plan.campaigns.map((c) => [c.id, c]));
  const dropped: MessageRecord[] = [];
  s.deadlines = s.deadlines.filter((d) => {
    if (d.kind === 'timer') return timers.has(d.timerId);
    if (campaigns.has(d.campaignId) && (!d.timerId || timers.has(d.timerId))) return true;
    dropped.push({
      key: deliveryKey(s.userId, d.campaignId, d.occurrence),
      campaignId: d.campaignId,
      occurrence: d.occurrence,
      kind: campaigns.get(d.campaignId)?.kind ?? 'marketing',
      status: 'cancelled',
      dueAt: d.at,
      at: Math.max(now, s.clock),
      reason: `not in journey definition version ${plan.version}`,
    });
    return false;
  });
  s.messages.push(...dropped);
  if (s.messages.length > LIMITS.messages) s.messages.splice(0, s.messages.length - LIMITS.messages);
  for (const id of Object.keys(s.attributes)) {
    if (!plan.attributes.some((a) => a.id === id)) delete s.attributes[id];
  }
  // Computed traits are worked out again at the next step; without any, nothing is left to wake up for.
  if (!plan.computedTraits?.length) delete s.computed;
  return s;
}
