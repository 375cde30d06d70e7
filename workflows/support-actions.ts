import { proxyActivities } from '@temporalio/workflow';
import type { JourneyActivities } from '../activities/journey-activities.js';
import type { JourneyPlan } from '../src/core/journey-definition.js';
import type { SupportAction } from '../src/core/journey-state.js';
import type { SupportRequest } from '../src/temporal/contract.js';

type Request<A extends SupportRequest['action']> = Extract<SupportRequest, { action: A }>;

const { correctProfile } = proxyActivities<JourneyActivities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

interface SupportActionRules<A extends SupportRequest['action']> {
  /** Why the request cannot be taken as asked (checked by the update's validator, before history). */
  refuse(request: Request<A>, plan: JourneyPlan): string | undefined;
  /** What the pure core applies. */
  toCoreAction(request: Request<A>, plan: JourneyPlan): SupportAction;
  /** Work outside the journey done first, once the request is accepted (an activity). */
  prepare?(request: Request<A>, userId: string): Promise<void>;
}

/**
 * Each support action the API offers (contract.ts `SupportRequest`), named once: the keys are checked
 * against the request type, so an action added there does not compile until it has its rules here.
 */
export const SUPPORT_ACTIONS: { [A in SupportRequest['action']]: SupportActionRules<A> } = {
  extendTrial: {
    refuse: (request, plan) => {
      if (!plan.support.trialTimer) return 'this journey has no trial to extend';
      if (!Number.isInteger(request.days) || request.days < 1 || request.days > 90) return 'extend a trial by 1 to 90 whole days';
      return undefined;
    },
    toCoreAction: (request, plan) => ({ kind: 'extendTimer', timerId: plan.support.trialTimer ?? '', byMs: request.days * 86_400_000 }),
  },
  pauseMarketing: {
    refuse: () => undefined,
    toCoreAction: () => ({ kind: 'pauseMarketing' }),
  },
  resumeMarketing: {
    refuse: () => undefined,
    toCoreAction: () => ({ kind: 'resumeMarketing' }),
  },
  correctProfile: {
    prepare: (request, userId) =>
      correctProfile.executeWithOptions({ summary: 'correct profile (support)' }, [
        { userId, ...(request.timezone ? { timezone: request.timezone } : {}), ...(request.locale ? { locale: request.locale } : {}) },
      ]),
    refuse: (request) => (!request.timezone && !request.locale ? 'say the timezone or the locale to correct' : undefined),
    toCoreAction: (request) => ({
      kind: 'note',
      action: `profile corrected: ${[request.timezone && `timezone ${request.timezone}`, request.locale && `locale ${request.locale}`].filter(Boolean).join(', ')}`,
    }),
  },
};

function rulesOf<A extends SupportRequest['action']>(request: Request<A>): SupportActionRules<A> | undefined {
  return Object.prototype.hasOwnProperty.call(SUPPORT_ACTIONS, request.action) ? (SUPPORT_ACTIONS[request.action] as SupportActionRules<A>) : undefined;
}

/** Why a request is refused before it reaches the core, or undefined: who acts, a known action, and its own rules. */
export function refuseSupportRequest(request: SupportRequest, plan: JourneyPlan): string | undefined {
  if (!request || typeof request.actor !== 'string' || request.actor.length === 0) return 'say who acts (actor)';
  const rules = rulesOf(request);
  if (!rules) return `unknown action ${String(request.action)}`;
  return rules.refuse(request, plan);
}

/**
 * The work an accepted request needs before the journey applies it, or undefined when there is none (then
 * nothing is awaited: the request reaches the inbox in the same step as before there were rules).
 */
export function prepareSupportRequest(request: SupportRequest, userId: string): Promise<void> | undefined {
  return rulesOf(request)!.prepare?.(request, userId);
}

/** The core's action for a request that passed refuseSupportRequest. */
export function coreActionOf(request: SupportRequest, plan: JourneyPlan): SupportAction {
  return rulesOf(request)!.toCoreAction(request, plan);
}
