import type { Campaign, JourneyPlan } from './journey-definition.js';
import { deliveryKey } from './ids.js';
import type { JourneyFact } from './journey-facts.js';
import type { Deadline, JourneyCommand, JourneyState, MessageRecord } from './journey-state.js';

/**
 * What every part of the reducer works on while one input is applied, and the small bookkeeping they share:
 * remembered ids, facts for the read model, the message list, cancelled steps. Leaf of the reducer's files:
 * it imports none of them.
 */

export const LIMITS = {
  stageHistory: 100,
  messages: 200,
  recentMessageIds: 1000,
  deadlinesPerStep: 10_000,
  deferrals: 3,
};

export const DAY = 86_400_000;

export type CampaignDeadline = Extract<Deadline, { kind: 'campaign' }>;
export type TimerDeadline = Extract<Deadline, { kind: 'timer' }>;

export interface Ctx {
  plan: JourneyPlan;
  s: JourneyState;
  commands: JourneyCommand[];
  /** The workflow's time when the input arrived: how late a due step is measured against it. */
  now: number;
  facts: JourneyFact[];
  /** Something the read model's snapshot shows changed (stage, plan, segments, payments). */
  snapshotDirty: boolean;
  /** Write the computed traits even if unchanged (the profile may not have existed when they last changed). */
  resyncTraits?: boolean;
}

export function nextFactId(ctx: Ctx): string {
  ctx.s.factSeq += 1;
  return `${ctx.s.userId}/${ctx.s.factSeq}`;
}

/** Remember an id; false when it was seen already (the input is a duplicate). */
export function remember(s: JourneyState, id: string): boolean {
  if (s.recentMessageIds.includes(id)) return false;
  s.recentMessageIds.push(id);
  if (s.recentMessageIds.length > LIMITS.recentMessageIds) s.recentMessageIds.splice(0, s.recentMessageIds.length - LIMITS.recentMessageIds);
  return true;
}

/** When an event counts: its own timestamp, but never in the future nor before the journey's clock. */
export function effectiveTime(s: JourneyState, timestamp: string | undefined, now: number): number {
  const parsed = timestamp === undefined ? NaN : Date.parse(timestamp);
  const at = Number.isFinite(parsed) ? Math.min(parsed, now) : now;
  return Math.max(at, s.clock);
}

export function campaignById(plan: JourneyPlan, id: string): Campaign | undefined {
  return plan.campaigns.find((c) => c.id === id);
}

export function timerDeadline(s: JourneyState, timerId: string): TimerDeadline | undefined {
  return s.deadlines.find((d): d is TimerDeadline => d.kind === 'timer' && d.timerId === timerId);
}

export function countDelivered(s: JourneyState, campaignId: string): void {
  const starts = s.campaignStarts[campaignId];
  if (starts) starts.delivered = (starts.delivered ?? 0) + 1;
}

/** The read model's fact for a message with an outcome (a pending one has none yet). */
export function messageFact(ctx: Ctx, m: MessageRecord): void {
  if (m.status === 'pending') return;
  ctx.facts.push({
    kind: 'message',
    id: nextFactId(ctx),
    userId: ctx.s.userId,
    at: m.at,
    key: m.key,
    campaignId: m.campaignId,
    variant: m.variant ?? null,
    messageKind: m.kind,
    status: m.status,
    ...(m.reason ? { reason: m.reason } : {}),
  });
}

/** Add a message to the journey's list (the oldest settled ones drop off past the limit). */
export function pushMessage(ctx: Ctx, message: MessageRecord): void {
  const { s } = ctx;
  s.messages.push(message);
  messageFact(ctx, message);
  while (s.messages.length > LIMITS.messages) {
    const oldest = s.messages.findIndex((m) => m.status !== 'pending');
    if (oldest < 0) break;
    s.messages.splice(oldest, 1);
  }
}

/** Take a deadline off the calendar; a campaign step is kept as a cancelled message with the reason. */
export function cancelDeadline(ctx: Ctx, d: Deadline, at: number, reason: string): void {
  const { s } = ctx;
  s.deadlines = s.deadlines.filter((x) => x.key !== d.key);
  if (d.kind !== 'campaign') return;
  pushMessage(ctx, {
    key: deliveryKey(s.userId, d.campaignId, d.occurrence),
    campaignId: d.campaignId,
    occurrence: d.occurrence,
    kind: campaignById(ctx.plan, d.campaignId)?.kind ?? 'marketing',
    status: 'cancelled',
    dueAt: d.at,
    at,
    reason,
  });
}
