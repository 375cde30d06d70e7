import { formatDuration } from './duration.js';
import type { JourneyPlan } from './journey-definition.js';
import type { JourneyInput, JourneyState, SupportAction } from './journey-state.js';
import { DAY, timerDeadline, type Ctx } from './reducer-context.js';

/**
 * What support may do to a journey (extend a timer, pause or resume marketing, leave a note): whether an
 * action can be applied now, and applying it, with the audit entry that says who did what and why.
 */

/** Why a support action cannot be applied now, or undefined when it can (the update's validator asks). */
export function refuseSupportAction(plan: JourneyPlan, state: JourneyState, action: SupportAction): string | undefined {
  switch (action.kind) {
    case 'extendTimer': {
      if (!Number.isFinite(action.byMs) || action.byMs <= 0 || action.byMs > 366 * DAY) return 'extend by 1 to 366 days';
      const timer = plan.timers.find((t) => t.id === action.timerId);
      if (!timer) return `the journey has no timer "${action.timerId}"`;
      if (!timerDeadline(state, action.timerId)) return `"${timer.summary}" is not running for this customer (stage ${state.stage})`;
      return undefined;
    }
    case 'pauseMarketing':
      return state.marketingPaused ? 'marketing is paused already' : undefined;
    case 'resumeMarketing':
      return state.marketingPaused ? undefined : 'marketing is not paused';
    case 'note':
      return action.action.length === 0 ? 'say what was done' : undefined;
  }
}


export function applySupportAction(ctx: Ctx, input: Extract<JourneyInput, { type: 'support' }>): void {
  const { s } = ctx;
  const at = Math.max(s.clock, input.now);
  const action = input.action;
  let said: string;
  switch (action.kind) {
    case 'extendTimer': {
      const timer = timerDeadline(s, action.timerId);
      if (!timer) return;
      timer.at += action.byMs;
      for (const d of s.deadlines) {
        if (d.kind === 'campaign' && d.timerId === action.timerId) d.at += action.byMs;
      }
      said = `${timer.summary}: moved by ${formatDuration(action.byMs)} to ${new Date(timer.at).toISOString()}`;
      break;
    }
    case 'pauseMarketing':
      s.marketingPaused = true;
      said = 'marketing paused';
      break;
    case 'resumeMarketing':
      s.marketingPaused = false;
      said = 'marketing resumed';
      break;
    case 'note':
      said = action.action;
      break;
  }
  s.audit = [...(s.audit ?? []), { at, actor: input.actor, action: said, ...(input.reason ? { reason: input.reason } : {}) }].slice(-50);
}

/** A support update a run took: its id (an Idempotency-Key names it), and when (workflow time, ms). */
export interface SupportUpdateTaken {
  id: string;
  at: number;
}

/** At most this many support updates are handed on to the next run (a day's worth for any customer support serves). */
export const SUPPORT_UPDATES_KEPT = 100;

/**
 * The support updates a run hands on at continue-as-new: those taken in the last day (an Idempotency-Key is a
 * retry's, and clients retry within minutes, as Stripe keeps its keys for a day), the newest SUPPORT_UPDATES_KEPT.
 */
export function supportUpdatesToCarry(taken: readonly SupportUpdateTaken[], now: number): SupportUpdateTaken[] {
  return taken.filter((t) => now - t.at < DAY).slice(-SUPPORT_UPDATES_KEPT);
}
