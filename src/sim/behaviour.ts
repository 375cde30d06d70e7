import { addMonths } from '../core/dates.js';
import type { BehaviourModel } from './behaviour-model.js';
import type { MessageNotice } from './workflows/sim-messages.js';
import { Rng, seedOf, within } from './random.js';
import { actionInstant, DAY, HOUR } from './time-grid.js';

/**
 * One synthetic customer's behaviour: pure, (model, customer, state, now, messages) -> (state, events).
 * The simulator's workflow wakes it at its next planned action or when a message reaches it, and sends
 * what it returns to the customer's journey. Actions are planned on whole simulation hours and happen at
 * that hour's action instant (time-grid.ts); their draws come from the customer's own stream, and a
 * message's from a stream of its own (by delivery key), so the order messages arrive in changes nothing.
 */

/** What is fixed about a customer when the population is drawn. */
export interface SimCustomer {
  userId: string;
  /** Seeds this customer's draws. */
  seed: number;
  /** Multiplies every workout rate. */
  engagement: number;
  /** The UTC hour the customer's active hours start, and how many hours they last. */
  activeFromUtc: number;
  activeHours: number;
  signUpHour: number;
}

export type Phase = 'new' | 'prospect' | 'trial' | 'subscriber' | 'churned';

export type ActionKind =
  | 'signUp'
  | 'startTrial'
  | 'trialOver'
  | 'subscribe'
  | 'workout'
  | 'comeBack'
  | 'paywall'
  | 'checkout'
  | 'renew'
  | 'recover'
  | 'paymentLost'
  | 'cancel'
  | 'changePlan'
  | 'addon'
  | 'review'
  | 'referral'
  | 'unsubscribe'
  | 'custom';

export interface PlannedAction {
  hour: number;
  seq: number;
  kind: ActionKind;
  /** For `custom`: the event to send. */
  event?: string;
}

export interface BehaviourState {
  rng: number;
  /** Orders actions planned for the same hour. */
  seq: number;
  phase: Phase;
  plan: 'light' | 'full' | null;
  /** Not working out (the journey will call a quiet trial or subscription lapsed). */
  quiet: boolean;
  planned: PlannedAction[];
  /** When the current subscription started (billing is monthly from it), and how many months were billed. */
  subscribedAt: number | null;
  billed: number;
  paymentFailed: boolean;
  unsubscribed: boolean;
  reviewed: boolean;
  /** Events sent so far (message ids count on from it). */
  sent: number;
}

/** A message the journey delivered, as the customer sees it: the notice, and the simulation hour it arrived in. */
export interface ReceivedMessage extends MessageNotice {
  hour: number;
}

export interface EmittedEvent {
  event: string;
  at: number;
  properties?: Record<string, unknown>;
  /** Profile changes the event comes with (identify). */
  profile?: Record<string, unknown>;
}

export interface AdvanceResult {
  state: BehaviourState;
  events: EmittedEvent[];
}

const MONTH_DAYS = 30.44;

/** The action a message's goal asks for; other goal events are sent as they are. */
const GOAL_ACTIONS: Record<string, ActionKind> = {
  'Trial Started': 'startTrial',
  'Subscription Started': 'subscribe',
  'Plan Changed': 'changePlan',
  'Add-on Purchased': 'addon',
  'Workout Logged': 'comeBack',
  'Payment Recovered': 'recover',
  'Review Submitted': 'review',
  'Referral Converted': 'referral',
};

export function initialState(customer: SimCustomer): BehaviourState {
  return {
    rng: seedOf(customer.seed, 'actions'),
    seq: 1,
    phase: 'new',
    plan: null,
    quiet: false,
    planned: [{ hour: customer.signUpHour, seq: 0, kind: 'signUp' }],
    subscribedAt: null,
    billed: 0,
    paymentFailed: false,
    unsubscribed: false,
    reviewed: false,
    sent: 0,
  };
}

/** The instant of the next planned action, or undefined when nothing is planned. */
export function nextActionAt(start: number, state: BehaviourState): number | undefined {
  const first = earliest(state.planned);
  return first ? actionInstant(start, first.hour) : undefined;
}

function earliest(planned: PlannedAction[]): PlannedAction | undefined {
  let best: PlannedAction | undefined;
  for (const p of planned) if (!best || p.hour < best.hour || (p.hour === best.hour && p.seq < best.seq)) best = p;
  return best;
}

/**
 * Apply the messages that arrived, then carry out every action due by `now`, in planned order. Each
 * action's events carry its own instant, not `now`.
 */
export function advance(model: BehaviourModel, customer: SimCustomer, start: number, state: BehaviourState, now: number, messages: ReceivedMessage[]): AdvanceResult {
  const s: BehaviourState = { ...state, planned: [...state.planned] };
  const rng = new Rng(s.rng);
  const events: EmittedEvent[] = [];
  const ctx: Ctx = { model, customer, start, s, rng, events };

  for (const message of messages) respond(ctx, message);

  for (let guard = 0; guard < 10_000; guard++) {
    const due = earliest(s.planned);
    if (!due || actionInstant(start, due.hour) > now) break;
    s.planned = s.planned.filter((p) => p !== due);
    act(ctx, due);
  }
  s.rng = rng.state;
  return { state: s, events };
}

interface Ctx {
  model: BehaviourModel;
  customer: SimCustomer;
  start: number;
  s: BehaviourState;
  rng: Rng;
  events: EmittedEvent[];
}

function plan(ctx: Ctx, hour: number, kind: ActionKind, event?: string): void {
  ctx.s.planned.push({ hour, seq: ctx.s.seq++, kind, ...(event ? { event } : {}) });
}

function planned(ctx: Ctx, kind: ActionKind): boolean {
  return ctx.s.planned.some((p) => p.kind === kind);
}

function drop(ctx: Ctx, ...kinds: ActionKind[]): void {
  ctx.s.planned = ctx.s.planned.filter((p) => !kinds.includes(p.kind));
}

/** An hour inside the customer's active hours, `days` whole days after the day of `hour`. */
function activeHourAfter(ctx: Ctx, hour: number, days: number): number {
  const day = Math.floor(hour / 24) + days;
  const candidate = day * 24 + ctx.customer.activeFromUtc + ctx.rng.int(0, ctx.customer.activeHours - 1);
  return Math.max(candidate, hour + 1);
}

/** Whole days to wait for something that happens `perWeek` times a week on average (at least 1). */
function daysUntil(ctx: Ctx, perWeek: number): number {
  return Math.max(1, Math.round(ctx.rng.exponential(7 / perWeek)));
}

function emit(ctx: Ctx, hour: number, event: string, properties?: Record<string, unknown>, profile?: Record<string, unknown>): void {
  ctx.events.push({ event, at: actionInstant(ctx.start, hour), ...(properties ? { properties } : {}), ...(profile ? { profile } : {}) });
  ctx.s.sent += 1;
}

function hourOfInstant(ctx: Ctx, t: number): number {
  return Math.floor((t - ctx.start) / HOUR);
}

function respond(ctx: Ctx, message: ReceivedMessage): void {
  const { model } = ctx;
  const rng = new Rng(seedOf(ctx.customer.seed, 'message', message.key));
  if (message.kind === 'marketing' && !ctx.s.unsubscribed && rng.chance(model.unsubscribePerMarketingMessage)) {
    if (!planned(ctx, 'unsubscribe')) plan(ctx, message.hour + rng.int(1, 24), 'unsubscribe');
  }
  if (!message.goal) return;
  const campaign = model.responses.campaigns[message.campaignId];
  const p = (model.responses.byGoal[message.goal] ?? 0) * (campaign?.multiplier ?? 1) * (message.variant ? (campaign?.variants?.[message.variant] ?? 1) : 1);
  if (!rng.chance(Math.min(1, p))) return;
  const latest = Math.max(1, Math.min(model.responses.maxDelayHours, (message.withinHours ?? model.responses.maxDelayHours) - 1));
  const kind = GOAL_ACTIONS[message.goal] ?? 'custom';
  plan(ctx, message.hour + rng.int(1, latest), kind, kind === 'custom' ? message.goal : undefined);
}

function act(ctx: Ctx, action: PlannedAction): void {
  const { model, s, rng } = ctx;
  const h = action.hour;
  switch (action.kind) {
    case 'signUp': {
      if (s.phase !== 'new') return;
      s.phase = 'prospect';
      emit(ctx, h, 'Signed Up');
      if (rng.chance(model.prospect.startTrial.probability)) plan(ctx, activeHourAfter(ctx, h, waitDays(ctx, model.prospect.startTrial.meanDays)), 'startTrial');
      if (rng.chance(model.prospect.subscribeWithoutTrial.probability)) {
        plan(ctx, activeHourAfter(ctx, h, waitDays(ctx, model.prospect.subscribeWithoutTrial.meanDays)), 'subscribe');
      }
      return;
    }
    case 'startTrial': {
      if (s.phase !== 'prospect') return;
      s.phase = 'trial';
      s.quiet = false;
      emit(ctx, h, 'Trial Started');
      const length = Math.round(model.trial.lengthDays * 24);
      if (rng.chance(model.trial.subscribe)) plan(ctx, h + rng.int(1, Math.max(1, length - 2)), 'subscribe');
      plan(ctx, h + length, 'trialOver');
      planWorkout(ctx, h);
      if (model.trial.paywallViewsPerWeek > 0) plan(ctx, activeHourAfter(ctx, h, daysUntil(ctx, model.trial.paywallViewsPerWeek)), 'paywall');
      return;
    }
    case 'trialOver':
      if (s.phase === 'trial') {
        s.phase = 'churned';
        drop(ctx, 'workout', 'comeBack', 'paywall', 'checkout');
        planResubscribe(ctx, h);
      }
      return;
    case 'paywall':
      if (s.phase !== 'trial' && s.phase !== 'prospect') return;
      emit(ctx, h, 'Paywall Viewed');
      if (rng.chance(model.trial.checkout.afterPaywall)) plan(ctx, h + 1, 'checkout');
      if (s.phase === 'trial' && model.trial.paywallViewsPerWeek > 0) plan(ctx, activeHourAfter(ctx, h, daysUntil(ctx, model.trial.paywallViewsPerWeek)), 'paywall');
      return;
    case 'checkout':
      if (s.phase !== 'trial' && s.phase !== 'prospect') return;
      emit(ctx, h, 'Checkout Started');
      if (rng.chance(model.trial.checkout.completes)) plan(ctx, h + 1, 'subscribe');
      return;
    case 'subscribe': {
      if (s.phase !== 'prospect' && s.phase !== 'trial' && s.phase !== 'churned') return;
      s.phase = 'subscriber';
      s.plan = rng.chance(model.trial.fullPlan) ? 'full' : 'light';
      s.quiet = false;
      s.paymentFailed = false;
      s.subscribedAt = actionInstant(ctx.start, h);
      s.billed = 0;
      drop(ctx, 'trialOver', 'paywall', 'checkout', 'renew', 'recover', 'paymentLost');
      emit(ctx, h, 'Subscription Started', { plan: s.plan });
      planMonth(ctx, h);
      planWorkout(ctx, h);
      return;
    }
    case 'renew': {
      if (s.phase !== 'subscriber' || s.paymentFailed) return;
      if (rng.chance(model.subscriber.paymentFailurePerRenewal)) {
        s.paymentFailed = true;
        emit(ctx, h, 'Payment Failed');
        const days = rng.exponential(model.subscriber.meanDaysToRecover);
        if (rng.chance(model.subscriber.paymentRecovers) && days < 13) plan(ctx, h + Math.max(1, Math.round(days * 24)), 'recover');
        plan(ctx, h + 14 * 24 + 1, 'paymentLost');
        return;
      }
      s.billed += 1;
      emit(ctx, h, 'Subscription Renewed');
      planMonth(ctx, h);
      return;
    }
    case 'recover':
      if (s.phase !== 'subscriber' || !s.paymentFailed) return;
      s.paymentFailed = false;
      s.billed += 1;
      drop(ctx, 'paymentLost');
      emit(ctx, h, 'Payment Recovered');
      emit(ctx, h, 'Subscription Renewed');
      planMonth(ctx, h);
      return;
    case 'paymentLost':
      if (s.phase === 'subscriber' && s.paymentFailed) {
        s.phase = 'churned';
        s.paymentFailed = false;
        s.plan = null;
        drop(ctx, 'workout', 'comeBack', 'cancel', 'changePlan', 'addon', 'recover', 'renew');
        planResubscribe(ctx, h);
      }
      return;
    case 'cancel':
      if (s.phase !== 'subscriber') return;
      s.phase = 'churned';
      s.plan = null;
      drop(ctx, 'workout', 'comeBack', 'renew', 'recover', 'paymentLost', 'changePlan', 'addon');
      emit(ctx, h, 'Subscription Cancelled');
      planResubscribe(ctx, h);
      return;
    case 'workout':
      if ((s.phase !== 'trial' && s.phase !== 'subscriber') || s.quiet) return;
      emit(ctx, h, 'Workout Logged');
      if (s.phase === 'subscriber' && rng.chance(model.subscriber.levelAdvancedPerWorkout)) emit(ctx, h, 'Level Advanced');
      planWorkout(ctx, h);
      return;
    case 'comeBack':
      if (s.phase !== 'trial' && s.phase !== 'subscriber') return;
      s.quiet = false;
      drop(ctx, 'comeBack');
      emit(ctx, h, 'Workout Logged');
      if (!planned(ctx, 'workout')) planWorkout(ctx, h);
      return;
    case 'changePlan':
      if (s.phase !== 'subscriber' || s.plan !== 'light') return;
      s.plan = 'full';
      emit(ctx, h, 'Plan Changed', { plan: 'full' });
      return;
    case 'addon':
      if (s.phase === 'subscriber') emit(ctx, h, 'Add-on Purchased');
      return;
    case 'review':
      if (s.reviewed) return;
      s.reviewed = true;
      emit(ctx, h, 'Review Submitted');
      return;
    case 'referral':
      if (s.phase === 'subscriber') emit(ctx, h, 'Referral Converted');
      return;
    case 'unsubscribe':
      if (s.unsubscribed) return;
      s.unsubscribed = true;
      emit(ctx, h, 'Unsubscribed', undefined, { unsubscribed: true });
      return;
    case 'custom':
      if (action.event) emit(ctx, h, action.event);
      return;
  }
}

/** Whole days to wait for a step taken after `meanDays` on average (at least 1). */
function waitDays(ctx: Ctx, meanDays: number): number {
  return Math.max(1, Math.round(ctx.rng.exponential(meanDays)));
}

/** The next workout, unless the customer goes quiet first (then, perhaps, a come-back). */
function planWorkout(ctx: Ctx, h: number): void {
  const { s, model, customer } = ctx;
  drop(ctx, 'workout');
  const rates = s.phase === 'trial' ? model.trial : model.subscriber;
  const perWeek = rates.workoutsPerWeek * customer.engagement;
  if (perWeek <= 0) return;
  const days = daysUntil(ctx, perWeek);
  if (ctx.rng.chance(within(rates.goQuietPerWeek / 7, days))) {
    s.quiet = true;
    if (rates.comeBackPerWeek > 0) plan(ctx, activeHourAfter(ctx, h, days + daysUntil(ctx, rates.comeBackPerWeek)), 'comeBack');
    if (s.phase === 'subscriber') maybeCancel(ctx, h, model.subscriber.cancelPerMonthWhileQuiet);
    return;
  }
  plan(ctx, activeHourAfter(ctx, h, days), 'workout');
}

/** A subscriber's month ahead: the next billing an hour after the monthly anniversary, and what happens before it. */
function planMonth(ctx: Ctx, h: number): void {
  const { s, model, rng } = ctx;
  const next = addMonths(s.subscribedAt!, s.billed + 1);
  const renewHour = hourOfInstant(ctx, next) + 1;
  plan(ctx, renewHour, 'renew');
  const span = Math.max(2, renewHour - h - 1);
  maybeCancel(ctx, h, s.quiet ? model.subscriber.cancelPerMonthWhileQuiet : model.subscriber.cancelPerMonth);
  if (s.plan === 'light' && rng.chance(model.subscriber.upgradePerMonth)) plan(ctx, h + rng.int(1, span), 'changePlan');
  if (rng.chance(model.subscriber.addonPerMonth)) plan(ctx, h + rng.int(1, span), 'addon');
}

function maybeCancel(ctx: Ctx, h: number, perMonth: number): void {
  if (planned(ctx, 'cancel') || !ctx.rng.chance(perMonth)) return;
  plan(ctx, h + ctx.rng.int(1, Math.round(MONTH_DAYS * 24) - 2), 'cancel');
}

function planResubscribe(ctx: Ctx, h: number): void {
  const p = ctx.model.churned.resubscribePerMonth;
  if (p <= 0) return;
  const days = Math.max(1, Math.round(ctx.rng.exponential(MONTH_DAYS / p)));
  plan(ctx, activeHourAfter(ctx, h, days), 'subscribe');
}

/** Days since the simulation started, for reports. */
export function dayOf(start: number, t: number): number {
  return Math.floor((t - start) / DAY);
}
