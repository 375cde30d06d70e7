import { addMonths } from './dates.js';
import { formatDuration } from './duration.js';
import type { Timer } from './journey-definition.js';
import { startCampaign, stepOffset } from './campaigns.js';
import type { TrackedEvent } from './journey-state.js';
import { firingTrigger, matchesEvent } from './triggers.js';
import { unreachable } from './unreachable.js';
import { cancelDeadline, timerDeadline, type CampaignDeadline, type Ctx, type TimerDeadline } from './reducer-context.js';

/**
 * The journey's timers (a trial's end, a lapse, a monthly renewal): armed on their anchor, moved, disarmed,
 * and fired. Arming one schedules the campaign steps tied to it; what a firing does to the stage is decided
 * in stages.ts, which the reducer asks right after `fireTimer`.
 */

function timerDue(timer: Timer, anchorAt: number, occurrence: number): number {
  return timer.repeat === 'monthly' ? addMonths(anchorAt, occurrence) : anchorAt + timer.after;
}

export function armTimer(ctx: Ctx, timer: Timer, anchorAt: number, occurrence = 1): void {
  const { plan, s } = ctx;
  const existing = timerDeadline(s, timer.id);
  if (existing && existing.anchorAt === anchorAt && (existing.occurrence ?? 1) === occurrence) return;
  const due = timerDue(timer, anchorAt, occurrence);
  s.deadlines = s.deadlines.filter((d) => !(d.kind === 'timer' && d.timerId === timer.id));
  s.deadlines.push({ kind: 'timer', key: `timer:${timer.id}`, timerId: timer.id, summary: timer.summary, at: due, anchorAt, occurrence });

  for (const campaign of plan.campaigns) {
    const trigger = firingTrigger(campaign.trigger, 'timer', { kind: 'timerArmed', timerId: timer.id });
    if (!trigger) continue;
    const stepAt = due + trigger.offset;
    const pending = s.deadlines.filter((d): d is CampaignDeadline => d.kind === 'campaign' && d.campaignId === campaign.id && d.timerId === timer.id);
    // Conditions are re-checked when the step is due; a step tied to a timer is scheduled regardless.

    if (pending.length > 0) {
      for (const d of pending) {
        const moved = stepAt + campaign.delay + stepOffset(campaign, d.step);
        if (moved >= s.clock) d.at = moved;
        else cancelDeadline(ctx, d, s.clock, `${timer.summary} moved; this step's moment has passed`);
      }
    } else if (stepAt + campaign.delay >= s.clock) {
      const when =
        trigger.offset === 0 ? `when ${timer.summary}` : `${formatDuration(Math.abs(trigger.offset))} ${trigger.offset < 0 ? 'before' : 'after'} ${timer.summary}`;
      startCampaign(ctx, campaign, stepAt, when, undefined, timer.id);
    }
  }
}

export function disarmTimer(ctx: Ctx, timer: Timer, at: number, why: string): void {
  const { s } = ctx;
  if (!timerDeadline(s, timer.id)) return;
  s.deadlines = s.deadlines.filter((d) => !(d.kind === 'timer' && d.timerId === timer.id));
  for (const d of [...s.deadlines]) {
    if (d.kind === 'campaign' && d.timerId === timer.id) cancelDeadline(ctx, d, at, `exited: ${why}`);
  }
}

/** A timer falls due: steps tied to it are untied (they outlive it) and a repeating timer is armed again. */
export function fireTimer(ctx: Ctx, due: TimerDeadline): void {
  const { plan, s } = ctx;
  // Steps set after the timer ("1 day after the trial ends") outlive it: untie them before the stage moves on.
  for (const d of s.deadlines) {
    if (d.kind === 'campaign' && d.timerId === due.timerId) delete d.timerId;
  }
  for (const m of s.messages) {
    if (m.pendingStep?.timerId === due.timerId) delete m.pendingStep.timerId;
  }
  const timer = plan.timers.find((t) => t.id === due.timerId);
  if (timer?.repeat) armTimer(ctx, timer, due.anchorAt, (due.occurrence ?? 1) + 1);
}

/** An event arrived: (re)arm the timers of this stage anchored on activity or on this very event. */
export function armOnEvent(ctx: Ctx, event: TrackedEvent, isActivity: boolean, at: number): void {
  const { plan, s } = ctx;
  for (const timer of plan.timers) {
    if (!timer.whileIn.includes(s.stage)) continue;
    const anchor = timer.anchor;
    switch (anchor.kind) {
      case 'stageEntry':
        break; // armed on entering the stage only
      case 'lastActivity':
        if (isActivity) armTimer(ctx, timer, at);
        break;
      case 'event':
        if (matchesEvent(anchor, event)) armTimer(ctx, timer, at);
        break;
      default:
        unreachable(anchor);
    }
  }
}
