import { PREVIOUS_STAGE } from './definition-constants.js';
import { startCampaign } from './campaigns.js';
import { failedCondition } from './conditions.js';
import type { Transition } from './journey-definition.js';
import type { StageCause } from './journey-facts.js';
import type { TrackedEvent } from './journey-state.js';
import { armTimer, disarmTimer } from './timers.js';
import { unreachable } from './unreachable.js';
import { firingTrigger, transitionFires } from './triggers.js';
import { LIMITS, campaignById, cancelDeadline, nextFactId, timerDeadline, type Ctx, type TimerDeadline } from './reducer-context.js';

/**
 * Stages: which transition an event or a timer fires, and what entering a stage does (timers disarmed and
 * armed, steps that exit on a stage change cancelled, campaigns that start on entry started).
 */

/** An event arrived: follow the first transition it fires from this stage, if any. */
export function followEvent(ctx: Ctx, event: TrackedEvent, isActivity: boolean, at: number): void {
  const { plan, s } = ctx;
  const transition = plan.transitions.find((t) => {
    if (t.from !== '*' && !t.from.includes(s.stage)) return false;
    return transitionFires(t.on, { kind: 'event', event, isActivity }) && failedCondition(s, t.when, at) === undefined;
  });
  if (transition) moveTo(ctx, transition, at, { kind: 'event', event: event.event, messageId: event.messageId });
}

/** A timer fired (after `fireTimer`): follow the first transition it fires from this stage, if any. */
export function followTimer(ctx: Ctx, due: TimerDeadline, at: number): void {
  const { plan, s } = ctx;
  const transition = plan.transitions.find(
    (t) =>
      transitionFires(t.on, { kind: 'timerFired', timerId: due.timerId }) &&
      (t.from === '*' || t.from.includes(s.stage)) &&
      failedCondition(s, t.when, at) === undefined,
  );
  if (transition) moveTo(ctx, transition, at, { kind: 'timer', timer: due.timerId, summary: due.summary });
}

function moveTo(ctx: Ctx, transition: Transition, at: number, cause: StageCause): void {
  const { s } = ctx;
  const to = transition.to === PREVIOUS_STAGE ? s.previousStage : transition.to;
  if (to && to !== s.stage) enterStage(ctx, to, s.stage, at, cause);
}

export function enterStage(ctx: Ctx, to: string, from: string | null, at: number, cause: StageCause): void {
  const { plan, s } = ctx;
  s.previousStage = from;
  s.stage = to;
  s.stageEnteredAt = at;
  s.stageHistory.push({ stage: to, from, at, cause });
  if (s.stageHistory.length > LIMITS.stageHistory) s.stageHistory.splice(0, s.stageHistory.length - LIMITS.stageHistory);
  ctx.snapshotDirty = true;
  ctx.facts.push({ kind: 'stage', id: nextFactId(ctx), userId: s.userId, at, stage: to, from, cause });
  if (to === plan.metrics.loyalStage) s.stats.everLoyal = true;
  if (plan.metrics.reactivation && from === plan.metrics.reactivation.from && to === plan.metrics.reactivation.to) s.stats.reactivations += 1;

  for (const attribute of plan.attributes) {
    if (attribute.clearOnStages.includes(to)) delete s.attributes[attribute.id];
  }

  if (from !== null) {
    for (const timer of plan.timers) {
      if (!timer.whileIn.includes(to) && !timer.keepThrough.includes(to)) disarmTimer(ctx, timer, at, `left ${from} for ${to}`);
    }
    for (const d of [...s.deadlines]) {
      if (d.kind === 'campaign' && campaignById(plan, d.campaignId)?.exitOn.stageChange) {
        cancelDeadline(ctx, d, at, `exited: stage changed from ${from} to ${to}`);
      }
    }
  }

  for (const timer of plan.timers) {
    if (!timer.whileIn.includes(to) || timerDeadline(s, timer.id)) continue;
    // Not armed yet: arm it (an armed one carried through a keepThrough stage keeps its anchor).
    switch (timer.anchor.kind) {
      case 'stageEntry':
        armTimer(ctx, timer, at);
        break;
      case 'lastActivity':
        armTimer(ctx, timer, s.lastActivityAt ?? at);
        break;
      case 'event':
        break; // armed when its event arrives
      default:
        unreachable(timer.anchor);
    }
  }

  for (const campaign of plan.campaigns) {
    if (firingTrigger(campaign.trigger, 'stageEntry', { kind: 'stageEntered', stage: to })) startCampaign(ctx, campaign, at, `entered ${to}`);
  }
}

