import { PREVIOUS_STAGE } from './definition-constants.js';
import { routingOf } from './channel-routing.js';
import type { Campaign, Condition, JourneyPlan, Timer } from './journey-definition.js';
import { countTraitEvent, emptyComputedState, evaluateTraits, sameValues } from './computed-traits.js';
import { formatDuration } from './duration.js';
import { applyEmailEvent, campaignOfKey, describeSuppression, emailEventMatters } from './email-events.js';
import { learnedHourOf } from './engagement.js';
import { addMonths } from './dates.js';
import { bucketOf, deliveryKey, journeyIdOf } from './ids.js';
import { firingTrigger, matchesEvent, transitionFires, triggerFires } from './triggers.js';
import type { JourneyFact, JourneySnapshot } from './journey-facts.js';
import type {
  Deadline,
  EmailEvent,
  JourneyCommand,
  JourneyInput,
  JourneyState,
  MessageRecord,
  StageCause,
  StepResult,
  SupportAction,
  TrackedEvent,
} from './journey-state.js';

/**
 * The lifecycle logic: (plan, state, input) -> (state, commands). Pure and deterministic: no clock, no I/O,
 * no Temporal. The workflow feeds it events and timer firings and carries out what it returns.
 */

export const LIMITS = {
  stageHistory: 100,
  messages: 200,
  recentMessageIds: 1000,
  deadlinesPerStep: 10_000,
  deferrals: 3,
};

const DAY = 86_400_000;

type CampaignDeadline = Extract<Deadline, { kind: 'campaign' }>;
type TimerDeadline = Extract<Deadline, { kind: 'timer' }>;

interface Ctx {
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

export function startJourney(plan: JourneyPlan, userId: string, now: number): StepResult {
  const s: JourneyState = {
    schemaVersion: 1,
    userId,
    definition: { id: plan.id, version: plan.version },
    stage: plan.initialStage,
    previousStage: null,
    stageEnteredAt: now,
    clock: now,
    startedAt: now,
    lastActivityAt: null,
    attributes: {},
    segments: [],
    deadlines: [],
    occurrences: {},
    stageHistory: [],
    messages: [],
    recentMessageIds: [],
    counters: {},
    assignments: {},
    offers: {},
    campaignStarts: {},
    marketingOptOut: false,
    stats: { events: 0, duplicates: 0, runs: 1, reactivations: 0, everLoyal: false },
    factSeq: 0,
  };
  const ctx: Ctx = { plan, s, commands: [{ type: 'evaluateSegments' }], now, facts: [], snapshotDirty: true };
  enterStage(ctx, plan.initialStage, null, now, { kind: 'start' });
  advanceTo(ctx, now);
  return finish(ctx);
}

export function step(plan: JourneyPlan, state: JourneyState, input: JourneyInput): StepResult {
  const ctx: Ctx = { plan, s: cloneJson(state), commands: [], now: input.now, facts: [], snapshotDirty: false };
  const { s } = ctx;
  switch (input.type) {
    case 'event': {
      if (!remember(s, input.event.messageId)) {
        s.stats.duplicates += 1;
        return { state: s, commands: [] };
      }
      const at = effectiveTime(s, input.event.timestamp, input.now);
      advanceTo(ctx, at);
      applyEvent(ctx, input.event, at);
      advanceTo(ctx, at);
      break;
    }
    case 'join':
      applyJoin(ctx, input);
      break;
    case 'tick':
      advanceTo(ctx, Math.max(s.clock, input.now));
      break;
    case 'profile':
      ctx.commands.push({ type: 'evaluateSegments' });
      ctx.resyncTraits = true;
      break;
    case 'segments': {
      const segments = [...new Set(input.segments)].sort();
      if (segments.join() !== s.segments.join()) ctx.snapshotDirty = true;
      s.segments = segments;
      break;
    }
    case 'broadcast': {
      if (!remember(s, `broadcast:${input.broadcast.broadcastId}`)) {
        s.stats.duplicates += 1;
        return { state: s, commands: [] };
      }
      const campaign = campaignById(plan, input.broadcast.campaignId);
      const at = Math.max(s.clock, input.now);
      advanceTo(ctx, at);
      if (campaign && firingTrigger(campaign.trigger, 'broadcast', { kind: 'broadcast' })) startCampaign(ctx, campaign, at, `broadcast ${input.broadcast.broadcastId}`, undefined, undefined, { broadcast: true });
      advanceTo(ctx, at);
      break;
    }
    case 'delivery':
      applyDeliveryOutcome(ctx, input);
      break;
    case 'support':
      applySupportAction(ctx, input);
      break;
    case 'emailEvent': {
      const event = input.event;
      const campaignId = campaignOfKey(journeyIdOf(s.userId), event?.deliveryKey);
      // Not about one of this customer's messages, or nothing it could change: nothing to remember either.
      if (campaignId === undefined || !emailEventMatters(event)) return { state: s, commands: [] };
      if (!remember(s, `sendgrid:${event.id}`)) {
        s.stats.duplicates += 1;
        return { state: s, commands: [] };
      }
      const happened = Number.isFinite(event.at) ? Math.min(event.at, input.now) : input.now;
      const at = Math.max(happened, s.clock);
      advanceTo(ctx, at);
      applyEmailEventInput(ctx, input.event, campaignId, at);
      advanceTo(ctx, at);
      break;
    }
  }
  return finish(ctx);
}

/** The next moment the journey must wake up at: its earliest deadline, or a computed trait's window ending. */
export function nextWakeUp(state: JourneyState): { at: number; summary: string } | undefined {
  const next = nextDeadline(state);
  const traits = state.computed?.due;
  if (traits && (!next || traits.at < next.at)) return traits;
  return next;
}

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

function applySupportAction(ctx: Ctx, input: Extract<JourneyInput, { type: 'support' }>): void {
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

/** The next moment the journey must wake up at, with what it is waiting for. */
export function nextDeadline(state: JourneyState): Deadline | undefined {
  return [...state.deadlines].sort(compareDeadlines)[0];
}

/** True while a delivery the journey asked for has no outcome yet. */
export function hasPendingDeliveries(state: JourneyState): boolean {
  return state.messages.some((m) => m.status === 'pending');
}

/** The read model's view of the customer now (one document per customer). */
export function snapshotOf(plan: JourneyPlan, s: JourneyState): JourneySnapshot {
  return {
    userId: s.userId,
    seq: s.factSeq,
    definitionVersion: s.definition.version,
    stage: s.stage,
    stageEnteredAt: s.stageEnteredAt,
    plan: s.attributes.plan ?? null,
    segments: s.segments,
    counters: s.counters,
    payments: plan.metrics.paymentCounter ? (s.counters[plan.metrics.paymentCounter] ?? 0) : 0,
    everLoyal: s.stats.everLoyal,
    reactivations: s.stats.reactivations,
    lastActivityAt: s.lastActivityAt,
    startedAt: s.startedAt,
  };
}

// --- internals -------------------------------------------------------------------------------------------

function cloneJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function finish(ctx: Ctx): StepResult {
  refreshComputedTraits(ctx);
  if (ctx.facts.length > 0 || ctx.snapshotDirty) {
    ctx.s.factSeq += 1;
    ctx.commands.push({ type: 'record', batch: { snapshot: snapshotOf(ctx.plan, ctx.s), facts: ctx.facts } });
  }
  return { state: ctx.s, commands: ctx.commands };
}

function nextFactId(ctx: Ctx): string {
  ctx.s.factSeq += 1;
  return `${ctx.s.userId}/${ctx.s.factSeq}`;
}

/** Remember an id; false when it was seen already (the input is a duplicate). */
function remember(s: JourneyState, id: string): boolean {
  if (s.recentMessageIds.includes(id)) return false;
  s.recentMessageIds.push(id);
  if (s.recentMessageIds.length > LIMITS.recentMessageIds) s.recentMessageIds.splice(0, s.recentMessageIds.length - LIMITS.recentMessageIds);
  return true;
}

function effectiveTime(s: JourneyState, timestamp: string | undefined, now: number): number {
  const parsed = timestamp === undefined ? NaN : Date.parse(timestamp);
  const at = Number.isFinite(parsed) ? Math.min(parsed, now) : now;
  return Math.max(at, s.clock);
}

/** The order deadlines fall due in; the view lists them in the same order the journey fires them. */
export function compareDeadlines(a: Deadline, b: Deadline): number {
  if (a.at !== b.at) return a.at - b.at;
  // A step tied to a timer at the same moment goes first: "on the day the trial ends" is still in trial.
  if (a.kind !== b.kind) return a.kind === 'campaign' ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function advanceTo(ctx: Ctx, t: number): void {
  for (let i = 0; i < LIMITS.deadlinesPerStep; i++) {
    const due = nextDeadline(ctx.s);
    if (!due || due.at > t) break;
    ctx.s.deadlines = ctx.s.deadlines.filter((d) => d.key !== due.key);
    const at = Math.max(due.at, ctx.s.clock);
    ctx.s.clock = at;
    if (due.kind === 'timer') fireTimer(ctx, due, at);
    else fireCampaign(ctx, due, at);
  }
  ctx.s.clock = Math.max(ctx.s.clock, t);
}

/** The name of a track call; page and screen views are matched only where a definition says `call:`. */
function trackName(event: TrackedEvent): string | undefined {
  return (event.type ?? 'track') === 'track' ? event.event : undefined;
}

/** Why a condition does not hold now, or undefined when it does. */
function failedCondition(s: JourneyState, condition: Condition | undefined, at: number): string | undefined {
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

/**
 * A visitor's history joins the journey: each event not seen before is applied in timestamp order (an event
 * older than the journey's clock counts at the clock), and the timeline says what the join brought.
 */
function applyJoin(ctx: Ctx, input: Extract<JourneyInput, { type: 'join' }>): void {
  const { s } = ctx;
  const when = (e: TrackedEvent) => {
    const t = e.timestamp === undefined ? NaN : Date.parse(e.timestamp);
    return Number.isFinite(t) ? t : input.now;
  };
  const brought: string[] = [];
  for (const event of [...input.join.events].sort((a, b) => when(a) - when(b))) {
    if (!remember(s, event.messageId)) {
      s.stats.duplicates += 1;
      continue;
    }
    const at = effectiveTime(s, event.timestamp, input.now);
    advanceTo(ctx, at);
    applyEvent(ctx, event, at);
    advanceTo(ctx, at);
    brought.push(event.type && event.type !== 'track' ? `${event.type} ${event.event || '(unnamed)'}` : event.event);
  }
  if (brought.length === 0) return;
  const shown = brought.length > 10 ? `${brought.slice(0, 10).join(', ')}, …` : brought.join(', ');
  const action = `joined the history of anonymous visitor ${input.join.anonymousId}: ${brought.length} event${brought.length === 1 ? '' : 's'} (${shown})`;
  s.audit = [...(s.audit ?? []), { at: Math.max(s.clock, input.now), actor: input.join.via, action }].slice(-50);
}

function applyEvent(ctx: Ctx, event: TrackedEvent, at: number): void {
  const { plan, s } = ctx;
  s.stats.events += 1;
  const name = trackName(event);
  // A page or screen view is activity; a track call is unless the definition ignores its name.
  const isActivity = name === undefined || !plan.activity.ignore.includes(name);
  if (isActivity) s.lastActivityAt = at;

  for (const attribute of plan.attributes) {
    for (const source of attribute.setFrom) {
      const value = event.properties?.[source.property];
      if (source.event === name && typeof value === 'string' && value.length > 0 && (!attribute.values || attribute.values.includes(value))) {
        if (s.attributes[attribute.id] !== value) ctx.snapshotDirty = true;
        s.attributes[attribute.id] = value;
      }
    }
  }

  const reached: Array<{ counter: string; value: number }> = [];
  for (const counter of plan.counters) {
    if (counter.on.some((m) => matchesEvent(m, event))) {
      const value = (s.counters[counter.id] ?? 0) + 1;
      s.counters[counter.id] = value;
      reached.push({ counter: counter.id, value });
      if (counter.id === plan.metrics.paymentCounter) {
        ctx.snapshotDirty = true;
        ctx.facts.push({ kind: 'payment', id: nextFactId(ctx), userId: s.userId, at, payments: value });
      }
    }
  }

  if (name !== undefined && plan.consent.unsubscribeOn.includes(name) && !s.marketingOptOut) {
    s.marketingOptOut = true;
    ctx.snapshotDirty = true;
  }
  if (name !== undefined && plan.consent.resubscribeOn.includes(name)) s.marketingOptOut = false;

  const traits = plan.computedTraits ?? [];
  if (traits.length > 0 && name !== undefined) countTraitEvent(traits, (s.computed ??= emptyComputedState()), event, at);

  if (name !== undefined) attributeConversions(ctx, event, at);

  for (const d of [...s.deadlines]) {
    if (d.kind === 'campaign' && name !== undefined && campaignById(plan, d.campaignId)?.exitOn.events.includes(name)) {
      cancelDeadline(ctx, d, at, `exited: "${event.event}" arrived`);
    }
  }
  for (const timer of plan.timers) {
    if (name !== undefined && timer.cancelOn.includes(name)) disarmTimer(ctx, timer, at, `"${event.event}" arrived`);
  }

  const transition = plan.transitions.find((t) => {
    if (t.from !== '*' && !t.from.includes(s.stage)) return false;
    return transitionFires(t.on, { kind: 'event', event, isActivity }) && failedCondition(s, t.when, at) === undefined;
  });
  if (transition) {
    const to = transition.to === PREVIOUS_STAGE ? s.previousStage : transition.to;
    if (to && to !== s.stage) enterStage(ctx, to, s.stage, at, { kind: 'event', event: event.event, messageId: event.messageId });
  }

  for (const timer of plan.timers) {
    if (!timer.whileIn.includes(s.stage)) continue;
    if (timer.anchor === 'lastActivity' && isActivity) armTimer(ctx, timer, at);
    else if (typeof timer.anchor === 'object' && matchesEvent(timer.anchor, event)) armTimer(ctx, timer, at);
  }

  for (const campaign of plan.campaigns) {
    const byEvent = firingTrigger(campaign.trigger, 'event', { kind: 'event', event });
    const byCounter = campaign.trigger.find(
      (t): t is Extract<typeof t, { kind: 'counter' }> => t.kind === 'counter' && reached.some((r) => triggerFires(t, { kind: 'counterReached', ...r })),
    );
    if (byEvent) startCampaign(ctx, campaign, at, `event "${event.event}"`, event.properties);
    else if (byCounter) startCampaign(ctx, campaign, at, `${byCounter.counter} reached ${s.counters[byCounter.counter]}`);
  }
}

function attributeConversions(ctx: Ctx, event: TrackedEvent, at: number): void {
  const { plan, s } = ctx;
  for (const campaign of plan.campaigns) {
    if (!campaign.goal || campaign.goal.event !== event.event) continue;
    const within = campaign.goal.within;
    const last = [...s.messages]
      .reverse()
      .find((m) => m.campaignId === campaign.id && (m.status === 'sent' || m.status === 'holdout') && m.at <= at && at - m.at <= within);
    if (!last || last.convertedAt !== undefined) continue;
    last.convertedAt = at;
    ctx.facts.push({
      kind: 'conversion',
      id: nextFactId(ctx),
      userId: s.userId,
      at,
      campaignId: campaign.id,
      variant: last.variant ?? null,
      goalEvent: event.event,
      messageKey: last.key,
    });
  }
}

function enterStage(ctx: Ctx, to: string, from: string | null, at: number, cause: StageCause): void {
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
    if (timer.anchor === 'stageEntry') armTimer(ctx, timer, at);
    else if (timer.anchor === 'lastActivity') armTimer(ctx, timer, s.lastActivityAt ?? at);
  }

  for (const campaign of plan.campaigns) {
    if (firingTrigger(campaign.trigger, 'stageEntry', { kind: 'stageEntered', stage: to })) startCampaign(ctx, campaign, at, `entered ${to}`);
  }
}

function timerDeadline(s: JourneyState, timerId: string): TimerDeadline | undefined {
  return s.deadlines.find((d): d is TimerDeadline => d.kind === 'timer' && d.timerId === timerId);
}

function timerDue(timer: Timer, anchorAt: number, occurrence: number): number {
  return timer.repeat === 'monthly' ? addMonths(anchorAt, occurrence) : anchorAt + timer.after;
}

function armTimer(ctx: Ctx, timer: Timer, anchorAt: number, occurrence = 1): void {
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

function disarmTimer(ctx: Ctx, timer: Timer, at: number, why: string): void {
  const { s } = ctx;
  if (!timerDeadline(s, timer.id)) return;
  s.deadlines = s.deadlines.filter((d) => !(d.kind === 'timer' && d.timerId === timer.id));
  for (const d of [...s.deadlines]) {
    if (d.kind === 'campaign' && d.timerId === timer.id) cancelDeadline(ctx, d, at, `exited: ${why}`);
  }
}

function fireTimer(ctx: Ctx, due: TimerDeadline, at: number): void {
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
  const transition = plan.transitions.find(
    (t) =>
      transitionFires(t.on, { kind: 'timerFired', timerId: due.timerId }) &&
      (t.from === '*' || t.from.includes(s.stage)) &&
      failedCondition(s, t.when, at) === undefined,
  );
  if (!transition) return;
  const to = transition.to === PREVIOUS_STAGE ? s.previousStage : transition.to;
  if (to && to !== s.stage) enterStage(ctx, to, s.stage, at, { kind: 'timer', timer: due.timerId, summary: due.summary });
}

function stepOffset(campaign: Campaign, step: number): number {
  return campaign.steps?.[step]?.after ?? 0;
}

/** Start a campaign for this customer: one deadline per step, unless its limit says it already ran. */
function startCampaign(
  ctx: Ctx,
  campaign: Campaign,
  at: number,
  because: string,
  eventProperties?: Record<string, unknown>,
  timerId?: string,
  opts: { broadcast?: boolean } = {},
): void {
  const { s } = ctx;
  // Eligibility is checked when the campaign would start (silently) and again when each step is due; a
  // step tied to a timer lies in the future, so only its due-time check applies.
  if (!timerId && failedCondition(s, campaign.conditions, at) !== undefined) return;
  // A customer who unsubscribed is not started on new marketing (steps already scheduled say why they
  // skip). A broadcast that reached them is recorded as skipped, so support sees why it never came.
  if (campaign.kind === 'marketing' && s.marketingOptOut && !opts.broadcast) return;
  const starts = s.campaignStarts[campaign.id];
  const running = s.deadlines.some((d) => d.kind === 'campaign' && d.campaignId === campaign.id) || s.messages.some((m) => m.campaignId === campaign.id && m.status === 'pending');
  // "once" means delivered once: a start whose step was skipped (left the audience, capped) does not use it up.
  if (campaign.limit === 'once' && (running || (starts?.delivered ?? 0) > 0)) return;
  if (campaign.limit === 'oncePerStageEntry' && starts && starts.stageEnteredAt === s.stageEnteredAt) return;
  if (campaign.limit === 'notWhileRunning' && running) return;
  s.campaignStarts[campaign.id] = { count: (starts?.count ?? 0) + 1, stageEnteredAt: s.stageEnteredAt, delivered: starts?.delivered ?? 0 };
  const steps = campaign.steps ?? [{ after: 0 }];
  steps.forEach((stepDef, step) => {
    const occurrence = (s.occurrences[campaign.id] ?? 0) + 1;
    s.occurrences[campaign.id] = occurrence;
    s.deadlines.push({
      kind: 'campaign',
      key: `campaign:${campaign.id}#${occurrence}`,
      campaignId: campaign.id,
      occurrence,
      summary: `send ${campaign.name}${steps.length > 1 ? ` (${step + 1}/${steps.length})` : ''}`,
      at: at + campaign.delay + stepDef.after,
      scheduledAt: s.clock,
      because,
      step,
      deferrals: 0,
      ...(timerId ? { timerId } : {}),
      ...(eventProperties ? { eventProperties } : {}),
    });
  });
}

function variantFor(ctx: Ctx, campaign: Campaign, at: number): string | undefined {
  const { s } = ctx;
  const experiment = campaign.experiment;
  if (!experiment) return undefined;
  const known = s.assignments[campaign.id];
  if (known) return known;
  const u = bucketOf(s.userId, campaign.id);
  let variant: string;
  if (u < experiment.holdout) variant = 'holdout';
  else {
    const v = (u - experiment.holdout) / (1 - experiment.holdout);
    const total = experiment.variants.reduce((sum, x) => sum + x.weight, 0);
    let acc = 0;
    variant = experiment.variants[experiment.variants.length - 1]!.id;
    for (const x of experiment.variants) {
      acc += x.weight / total;
      if (v < acc) {
        variant = x.id;
        break;
      }
    }
  }
  s.assignments[campaign.id] = variant;
  ctx.facts.push({ kind: 'assignment', id: nextFactId(ctx), userId: s.userId, at, campaignId: campaign.id, variant });
  return variant;
}

function fireCampaign(ctx: Ctx, due: CampaignDeadline, at: number): void {
  const { plan, s } = ctx;
  const campaign = campaignById(plan, due.campaignId);
  const chosen: { variant?: string } = {};
  const record = (status: MessageRecord['status'], reason?: string): MessageRecord => {
    const message: MessageRecord = {
      key: deliveryKey(s.userId, due.campaignId, due.occurrence),
      campaignId: due.campaignId,
      occurrence: due.occurrence,
      kind: campaign?.kind ?? 'marketing',
      status,
      dueAt: due.at,
      at,
      ...(reason ? { reason } : {}),
      ...(chosen.variant ? { variant: chosen.variant } : {}),
    };
    pushMessage(ctx, message);
    return message;
  };
  if (!campaign) {
    record('cancelled', 'campaign is no longer in the journey definition');
    return;
  }
  const late = ctx.now - due.at;
  const maxLateness = campaign.maxLateness ?? (campaign.kind === 'marketing' ? DAY : Infinity);
  if (late > maxLateness) {
    record('skipped', `missed its moment: due ${new Date(due.at).toISOString()}, ${formatDuration(late)} late`);
    return;
  }
  if (campaign.audience.stages && !campaign.audience.stages.includes(s.stage)) {
    record('skipped', `left the audience: stage is ${s.stage}, campaign is for ${campaign.audience.stages.join(', ')}`);
    return;
  }
  const unmet = failedCondition(s, campaign.conditions, at);
  if (unmet) {
    record('skipped', `conditions not met: ${unmet}`);
    return;
  }
  if (s.emailSuppressed && campaign.message.channel === 'email') {
    record('skipped', describeSuppression(s.emailSuppressed));
    return;
  }
  if (campaign.kind === 'marketing') {
    if (s.marketingOptOut) {
      record('skipped', 'unsubscribed from marketing');
      return;
    }
    if (s.marketingPaused) {
      record('skipped', 'marketing paused by support');
      return;
    }
    const cap = plan.frequencyCap;
    if (cap) {
      const recent = s.messages.filter((m) => m.kind === 'marketing' && (m.status === 'sent' || m.status === 'pending') && at - m.at < cap.per).length;
      if (recent >= cap.max) {
        record('skipped', `frequency cap: ${recent} marketing messages in the last ${formatDuration(cap.per)} (at most ${cap.max})`);
        return;
      }
    }
    if (campaign.offer) {
      const last = s.offers[campaign.offer.id];
      const inFlight = s.messages.some((m) => m.status === 'pending' && campaignById(plan, m.campaignId)?.offer?.id === campaign.offer!.id);
      if (inFlight || (last !== undefined && at - last < campaign.offer.cooldown)) {
        record(
          'skipped',
          `offer ${campaign.offer.id} ${inFlight ? 'is being sent already' : `was sent ${formatDuration(at - last!)} ago`} (cooldown ${formatDuration(campaign.offer.cooldown)})`,
        );
        return;
      }
    }
  }
  const variant = variantFor(ctx, campaign, at);
  chosen.variant = variant;
  if (variant === 'holdout') {
    record('holdout', `holdout group of ${campaign.id}: nothing sent`);
    countDelivered(s, campaign.id);
    return;
  }
  const message = record('pending');
  const variantDef = campaign.experiment?.variants.find((v) => v.id === variant);
  const timing = due.deferrals >= LIMITS.deferrals ? undefined : (campaign.timing ?? (campaign.kind === 'marketing' ? plan.timing : undefined));
  const learnedHour = timing?.optimise ? learnedHourOf(s.engagement) : undefined;
  ctx.commands.push({
    type: 'deliver',
    request: {
      key: message.key,
      userId: s.userId,
      campaignId: campaign.id,
      occurrence: due.occurrence,
      kind: campaign.kind,
      template: variantDef?.template ?? campaign.steps?.[due.step]?.template ?? campaign.message.template,
      segments: campaign.audience.segments ?? [],
      definition: s.definition,
      summary: due.summary,
      journey: { stage: s.stage, plan: s.attributes.plan ?? null, counters: { ...s.counters } },
      ...(variant ? { variant } : {}),
      ...(timing ? { timing } : {}),
      ...(learnedHour ? { learnedHour } : {}),
      ...(due.eventProperties ? { eventProperties: due.eventProperties } : {}),
      // An email request stays as it was before there was a choice; another channel says so (and its options).
      ...routingOf(campaign.message),
    },
  });
  // Keep what is needed to put the very same step back on the calendar if the delivery asks to wait.
  message.pendingStep = due;
}

function applyDeliveryOutcome(ctx: Ctx, input: Extract<JourneyInput, { type: 'delivery' }>): void {
  const { plan, s } = ctx;
  const message = s.messages.find((m) => m.key === input.key);
  if (!message || message.status !== 'pending') return;
  const outcome = input.outcome;
  if (outcome.status === 'deferred') {
    s.messages = s.messages.filter((m) => m !== message);
    const campaign = campaignById(plan, message.campaignId);
    const known = message.pendingStep;
    s.deadlines.push({
      kind: 'campaign',
      key: `campaign:${message.campaignId}#${message.occurrence}`,
      campaignId: message.campaignId,
      occurrence: message.occurrence,
      summary: known?.summary ?? `send ${campaign?.name ?? message.campaignId}`,
      at: Math.max(outcome.until, s.clock),
      scheduledAt: known?.scheduledAt ?? message.dueAt,
      because: known?.because ?? 'deferred',
      step: known?.step ?? 0,
      deferrals: (known?.deferrals ?? 0) + 1,
      deferredBecause: outcome.reason,
      ...(known?.timerId && timerDeadline(s, known.timerId) ? { timerId: known.timerId } : {}),
      ...(known?.eventProperties ? { eventProperties: known.eventProperties } : {}),
    });
    return;
  }
  delete message.pendingStep;
  message.status = outcome.status;
  message.at = input.now;
  if (outcome.reason !== undefined) message.reason = outcome.reason;
  if (outcome.status === 'sent') {
    if (outcome.providerMessageId) message.providerMessageId = outcome.providerMessageId;
    if (outcome.localTime) message.localTime = outcome.localTime;
    if (outcome.duplicate) message.reason = 'already delivered by an earlier attempt';
    const offer = campaignById(plan, message.campaignId)?.offer;
    if (offer) s.offers[offer.id] = input.now;
    countDelivered(s, message.campaignId);
  }
  messageFact(ctx, message);
}

function applyEmailEventInput(ctx: Ctx, event: EmailEvent, campaignId: string, at: number): void {
  const { s } = ctx;
  const message = s.messages.find((m) => m.key === event.deliveryKey);
  const effect = applyEmailEvent(s, event, campaignId, message, at);
  if (effect.unsubscribed) ctx.snapshotDirty = true;
  if (effect.fact) ctx.facts.push({ kind: 'email', id: nextFactId(ctx), userId: s.userId, at, ...effect.fact });
}

/**
 * Work out the computed traits as of the journey's clock; when a value changed (or an identify asks), write
 * them all to the profile, which re-evaluates segments too. Only for definitions that declare them: a plan
 * recorded before there were computed traits has none, and the journey does exactly what it did then.
 */
function refreshComputedTraits(ctx: Ctx): void {
  const traits = ctx.plan.computedTraits ?? [];
  const { s } = ctx;
  if (traits.length === 0) {
    delete s.computed;
    return;
  }
  const c = (s.computed ??= emptyComputedState());
  const { values, due } = evaluateTraits(traits, s, c, s.clock);
  if (due) c.due = due;
  else delete c.due;
  if (sameValues(values, c.values) && !ctx.resyncTraits) return;
  c.values = values;
  // Segments are evaluated once the traits are written.
  ctx.commands = ctx.commands.filter((command) => command.type !== 'evaluateSegments');
  ctx.commands.push({ type: 'syncComputedTraits', traits: values, at: s.clock });
}

function countDelivered(s: JourneyState, campaignId: string): void {
  const starts = s.campaignStarts[campaignId];
  if (starts) starts.delivered = (starts.delivered ?? 0) + 1;
}

function messageFact(ctx: Ctx, m: MessageRecord): void {
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

function cancelDeadline(ctx: Ctx, d: Deadline, at: number, reason: string): void {
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

function pushMessage(ctx: Ctx, message: MessageRecord): void {
  const { s } = ctx;
  s.messages.push(message);
  messageFact(ctx, message);
  while (s.messages.length > LIMITS.messages) {
    const oldest = s.messages.findIndex((m) => m.status !== 'pending');
    if (oldest < 0) break;
    s.messages.splice(oldest, 1);
  }
}

function campaignById(plan: JourneyPlan, id: string): Campaign | undefined {
  return plan.campaigns.find((c) => c.id === id);
}
