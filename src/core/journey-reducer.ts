import { unreachable } from './unreachable.js';
import { applyPreferenceChange } from './preferences.js';
import type { JourneyPlan } from './journey-definition.js';
import { emptyComputedState, evaluateTraits, sameValues } from './computed-traits.js';
import { applyEmailEvent, campaignOfKey, emailEventMatters, feedbackAsEmailEvent } from './email-events.js';
import type { ChannelId } from './channel-ids.js';
import { journeyIdOf } from './ids.js';
import { firingTrigger } from './triggers.js';
import type { JourneySnapshot } from './journey-facts.js';
import type { EmailEvent, JourneyInput, JourneyState, StepResult, TrackedEvent } from './journey-state.js';
import { applyDeliveryOutcome, fireCampaign, startCampaign } from './campaigns.js';
import { applyEvent } from './customer-events.js';
import { nextDeadline } from './deadlines.js';
import { campaignById, cancelDeadline, effectiveTime, nextFactId, remember, LIMITS, type Ctx } from './reducer-context.js';
import { enterStage, followTimer } from './stages.js';
import { applySupportAction } from './support-rules.js';
import { fireTimer } from './timers.js';

/**
 * The lifecycle logic: (plan, state, input) -> (state, commands). Pure and deterministic: no clock, no I/O,
 * no Temporal. The workflow feeds it events and timer firings and carries out what it returns.
 *
 * This file is the reducer's front: it starts a journey, takes each kind of input, moves the clock through
 * the deadlines that fall due, and closes the step (computed traits, the read model's record). The parts
 * live beside it, each a concern of its own: customer-events.ts (an event applied), stages.ts (transitions
 * and entering a stage), timers.ts, campaigns.ts (start, fire, outcome), support-rules.ts, conditions.ts,
 * deadlines.ts (the calendar read) and reducer-context.ts (the state they share while one input is applied).
 */

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
    case 'emailEvent':
    case 'channelFeedback': {
      // Another channel's provider report is applied as SendGrid's event of the same meaning, on its own channel.
      const channel = input.type === 'emailEvent' ? 'email' : input.feedback.channel;
      const event = input.type === 'emailEvent' ? input.event : feedbackAsEmailEvent(input.feedback);
      const campaignId = event && campaignOfKey(journeyIdOf(s.userId), event.deliveryKey);
      // Not about one of this customer's messages, or nothing it could change: nothing to remember either.
      if (!event || campaignId === undefined || !emailEventMatters(event)) return { state: s, commands: [] };
      if (!remember(s, input.type === 'emailEvent' ? `sendgrid:${event.id}` : `feedback:${event.id}`)) {
        s.stats.duplicates += 1;
        return { state: s, commands: [] };
      }
      const happened = Number.isFinite(event.at) ? Math.min(event.at, input.now) : input.now;
      const at = Math.max(happened, s.clock);
      advanceTo(ctx, at);
      applyEmailEventInput(ctx, event, campaignId, at, channel);
      advanceTo(ctx, at);
      break;
    }
    case 'preferences':
      // Kept for the timeline; the delivery rules read the preferences from the profile when a message goes.
      applyPreferenceChange(s, input.change, input.now);
      break;
    default:
      unreachable(input);
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

function advanceTo(ctx: Ctx, t: number): void {
  for (let i = 0; i < LIMITS.deadlinesPerStep; i++) {
    const due = nextDeadline(ctx.s);
    if (!due || due.at > t) break;
    ctx.s.deadlines = ctx.s.deadlines.filter((d) => d.key !== due.key);
    const at = Math.max(due.at, ctx.s.clock);
    ctx.s.clock = at;
    if (due.kind === 'timer') {
      fireTimer(ctx, due);
      followTimer(ctx, due, at);
    }
    else fireCampaign(ctx, due, at);
  }
  ctx.s.clock = Math.max(ctx.s.clock, t);
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

function applyEmailEventInput(ctx: Ctx, event: EmailEvent, campaignId: string, at: number, channel: ChannelId): void {
  const { s } = ctx;
  const message = s.messages.find((m) => m.key === event.deliveryKey);
  const effect = applyEmailEvent(s, event, campaignId, message, at, channel);
  if (effect.unsubscribed) ctx.snapshotDirty = true;
  if (effect.fact) ctx.facts.push({ kind: 'email', id: nextFactId(ctx), userId: s.userId, at, ...effect.fact });
  // The customer engaged: a campaign that says so stops its series (its steps still to come are cancelled).
  if ((event.type === 'open' || event.type === 'click') && campaignById(ctx.plan, campaignId)?.exitOn.engaged) {
    const what = `${channel === 'inapp' ? 'in-app message' : channel} ${event.type === 'open' ? (channel === 'inapp' ? 'seen' : 'opened') : 'clicked'}`;
    for (const d of [...s.deadlines]) {
      if (d.kind === 'campaign' && d.campaignId === campaignId) cancelDeadline(ctx, d, at, `exited: ${what} (${event.deliveryKey})`);
    }
  }
}

/**
 * A run from before engagement exits (journey code version 7) sees the plan without them, and replays as
 * it first ran.
 */
export function withoutEngagementExits(plan: JourneyPlan): JourneyPlan {
  if (!plan.campaigns.some((c) => c.exitOn.engaged !== undefined)) return plan;
  return {
    ...plan,
    campaigns: plan.campaigns.map((c) => {
      const { engaged: _engaged, ...exitOn } = c.exitOn;
      return { ...c, exitOn };
    }),
  };
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

