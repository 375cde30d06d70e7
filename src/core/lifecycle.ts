import { PREVIOUS_STAGE, type Campaign, type JourneyPlan, type Timer } from './definition.js';
import { formatDuration } from './duration.js';
import type {
  Deadline,
  JourneyCommand,
  JourneyInput,
  JourneyState,
  MessageRecord,
  StageCause,
  StepResult,
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
};

interface Ctx {
  plan: JourneyPlan;
  s: JourneyState;
  commands: JourneyCommand[];
  /** The workflow's time when the input arrived: how late a due step is measured against it. */
  now: number;
}

const DAY = 86_400_000;

export function workflowIdFor(userId: string): string {
  return `customer-${userId}`;
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
    counters: { events: 0, duplicates: 0, runs: 1 },
  };
  const ctx: Ctx = { plan, s, commands: [{ type: 'evaluateSegments' }], now };
  enterStage(ctx, plan.initialStage, null, now, { kind: 'start' });
  advanceTo(ctx, now);
  return { state: ctx.s, commands: ctx.commands };
}

export function step(plan: JourneyPlan, state: JourneyState, input: JourneyInput): StepResult {
  const ctx: Ctx = { plan, s: structuredCloneJson(state), commands: [], now: input.now };
  const { s } = ctx;
  switch (input.type) {
    case 'event': {
      if (s.recentMessageIds.includes(input.event.messageId)) {
        s.counters.duplicates += 1;
        return { state: s, commands: [] };
      }
      s.recentMessageIds.push(input.event.messageId);
      if (s.recentMessageIds.length > LIMITS.recentMessageIds) s.recentMessageIds.splice(0, s.recentMessageIds.length - LIMITS.recentMessageIds);
      const at = effectiveTime(s, input.event.timestamp, input.now);
      advanceTo(ctx, at);
      applyEvent(ctx, input.event, at);
      advanceTo(ctx, at);
      break;
    }
    case 'tick':
      advanceTo(ctx, Math.max(s.clock, input.now));
      break;
    case 'profile':
      ctx.commands.push({ type: 'evaluateSegments' });
      break;
    case 'segments':
      s.segments = [...new Set(input.segments)].sort();
      break;
    case 'delivery': {
      const message = s.messages.find((m) => m.key === input.key);
      if (message && message.status === 'pending') {
        message.status = input.outcome.status;
        message.at = input.now;
        if ('reason' in input.outcome) message.reason = input.outcome.reason;
        if (input.outcome.status === 'sent') {
          message.providerMessageId = input.outcome.providerMessageId;
          if (input.outcome.duplicate) message.reason = 'already delivered by an earlier attempt';
        }
      }
      break;
    }
  }
  return { state: ctx.s, commands: ctx.commands };
}

/** The next moment the journey must wake up at, with what it is waiting for. */
export function nextDeadline(state: JourneyState): Deadline | undefined {
  return [...state.deadlines].sort(compareDeadlines)[0];
}

/** True while a delivery the journey asked for has no outcome yet. */
export function hasPendingDeliveries(state: JourneyState): boolean {
  return state.messages.some((m) => m.status === 'pending');
}

// --- internals -------------------------------------------------------------------------------------------

function structuredCloneJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function effectiveTime(s: JourneyState, timestamp: string | undefined, now: number): number {
  const parsed = timestamp === undefined ? NaN : Date.parse(timestamp);
  const at = Number.isFinite(parsed) ? Math.min(parsed, now) : now;
  return Math.max(at, s.clock);
}

function compareDeadlines(a: Deadline, b: Deadline): number {
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

function matches(where: Record<string, string | number | boolean> | undefined, properties: Record<string, unknown> | undefined): boolean {
  if (!where) return true;
  return Object.entries(where).every(([k, v]) => properties?.[k] === v);
}

function applyEvent(ctx: Ctx, event: TrackedEvent, at: number): void {
  const { plan, s } = ctx;
  s.counters.events += 1;
  s.lastActivityAt = at;

  for (const attribute of plan.attributes) {
    for (const source of attribute.setFrom) {
      const value = event.properties?.[source.property];
      if (source.event === event.event && typeof value === 'string' && value.length > 0) {
        if (!attribute.values || attribute.values.includes(value)) s.attributes[attribute.id] = value;
      }
    }
  }

  for (const d of [...s.deadlines]) {
    if (d.kind !== 'campaign') continue;
    const campaign = campaignById(plan, d.campaignId);
    if (campaign?.exitOn.events.includes(event.event)) cancelDeadline(ctx, d, at, `exited: "${event.event}" arrived`);
  }

  const transition = plan.transitions.find(
    (t) => 'event' in t.on && t.on.event === event.event && matches(t.on.where, event.properties) && (t.from === '*' || t.from.includes(s.stage)),
  );
  if (transition) {
    const to = transition.to === PREVIOUS_STAGE ? s.previousStage : transition.to;
    if (to && to !== s.stage) enterStage(ctx, to, s.stage, at, { kind: 'event', event: event.event, messageId: event.messageId });
  }

  for (const timer of plan.timers) {
    if (timer.anchor === 'lastActivity' && timer.whileIn.includes(s.stage)) armTimer(ctx, timer, at);
  }

  for (const campaign of plan.campaigns) {
    const trigger = campaign.trigger;
    if ('event' in trigger && trigger.event === event.event && matches(trigger.where, event.properties)) {
      scheduleCampaign(ctx, campaign, at + campaign.delay, at, `event "${event.event}"`, { eventProperties: event.properties });
    }
  }
}

function enterStage(ctx: Ctx, to: string, from: string | null, at: number, cause: StageCause): void {
  const { plan, s } = ctx;
  s.previousStage = from;
  s.stage = to;
  s.stageEnteredAt = at;
  s.stageHistory.push({ stage: to, from, at, cause });
  if (s.stageHistory.length > LIMITS.stageHistory) s.stageHistory.splice(0, s.stageHistory.length - LIMITS.stageHistory);

  for (const attribute of plan.attributes) {
    if (attribute.clearOnStages.includes(to)) delete s.attributes[attribute.id];
  }

  if (from !== null) {
    for (const timer of plan.timers) {
      if (!timer.whileIn.includes(to)) disarmTimer(ctx, timer, at, `left ${from} for ${to}`);
    }
    for (const d of [...s.deadlines]) {
      if (d.kind === 'campaign' && campaignById(plan, d.campaignId)?.exitOn.stageChange) {
        cancelDeadline(ctx, d, at, `exited: stage changed from ${from} to ${to}`);
      }
    }
  }

  for (const timer of plan.timers) {
    if (!timer.whileIn.includes(to)) continue;
    if (timer.anchor === 'stageEntry') armTimer(ctx, timer, at);
    else if (!s.deadlines.some((d) => d.kind === 'timer' && d.timerId === timer.id)) armTimer(ctx, timer, s.lastActivityAt ?? at);
  }

  for (const campaign of plan.campaigns) {
    if ('stageEntry' in campaign.trigger && campaign.trigger.stageEntry === to) {
      scheduleCampaign(ctx, campaign, at + campaign.delay, at, `entered ${to}`);
    }
  }
}

function armTimer(ctx: Ctx, timer: Timer, anchorAt: number): void {
  const { plan, s } = ctx;
  const existing = s.deadlines.find((d) => d.kind === 'timer' && d.timerId === timer.id);
  if (existing && existing.kind === 'timer' && existing.anchorAt === anchorAt) return;
  const due = anchorAt + timer.after;
  s.deadlines = s.deadlines.filter((d) => !(d.kind === 'timer' && d.timerId === timer.id));
  s.deadlines.push({ kind: 'timer', key: `timer:${timer.id}`, timerId: timer.id, summary: timer.summary, at: due, anchorAt });

  for (const campaign of plan.campaigns) {
    const trigger = campaign.trigger;
    if (!('timer' in trigger) || trigger.timer !== timer.id) continue;
    const stepAt = due + trigger.offset + campaign.delay;
    const pending = s.deadlines.find((d) => d.kind === 'campaign' && d.campaignId === campaign.id && d.timerId === timer.id);
    if (pending) {
      if (stepAt >= s.clock) pending.at = stepAt;
      else cancelDeadline(ctx, pending, s.clock, `${timer.summary} moved; this step's moment has passed`);
    } else if (stepAt >= s.clock) {
      const when = trigger.offset === 0 ? `when ${timer.summary}` : `${formatDuration(Math.abs(trigger.offset))} ${trigger.offset < 0 ? 'before' : 'after'} ${timer.summary}`;
      scheduleCampaign(ctx, campaign, stepAt, s.clock, when, { timerId: timer.id });
    }
  }
}

function disarmTimer(ctx: Ctx, timer: Timer, at: number, why: string): void {
  const { s } = ctx;
  s.deadlines = s.deadlines.filter((d) => !(d.kind === 'timer' && d.timerId === timer.id));
  for (const d of [...s.deadlines]) {
    if (d.kind === 'campaign' && d.timerId === timer.id) cancelDeadline(ctx, d, at, `exited: ${why}`);
  }
}

function fireTimer(ctx: Ctx, due: Extract<Deadline, { kind: 'timer' }>, at: number): void {
  const { plan, s } = ctx;
  // Steps set after the timer ("1 day after the trial ends") outlive it: untie them before the stage moves on.
  for (const d of s.deadlines) {
    if (d.kind === 'campaign' && d.timerId === due.timerId) delete d.timerId;
  }
  const transition = plan.transitions.find(
    (t) => 'timer' in t.on && t.on.timer === due.timerId && (t.from === '*' || t.from.includes(s.stage)),
  );
  if (!transition) return;
  const to = transition.to === PREVIOUS_STAGE ? s.previousStage : transition.to;
  if (to && to !== s.stage) enterStage(ctx, to, s.stage, at, { kind: 'timer', timer: due.timerId, summary: due.summary });
}

function fireCampaign(ctx: Ctx, due: Extract<Deadline, { kind: 'campaign' }>, at: number): void {
  const { plan, s } = ctx;
  const campaign = campaignById(plan, due.campaignId);
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
    };
    pushMessage(s, message);
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
  const message = record('pending');
  ctx.commands.push({
    type: 'deliver',
    request: {
      key: message.key,
      userId: s.userId,
      campaignId: campaign.id,
      occurrence: due.occurrence,
      kind: campaign.kind,
      template: campaign.message.template,
      segments: campaign.audience.segments ?? [],
      definition: s.definition,
      summary: `send ${campaign.name}`,
      ...(due.eventProperties ? { eventProperties: due.eventProperties } : {}),
    },
  });
}

function scheduleCampaign(
  ctx: Ctx,
  campaign: Campaign,
  at: number,
  scheduledAt: number,
  because: string,
  extra: { timerId?: string; eventProperties?: Record<string, unknown> } = {},
): void {
  const { s } = ctx;
  const occurrence = (s.occurrences[campaign.id] ?? 0) + 1;
  s.occurrences[campaign.id] = occurrence;
  s.deadlines.push({
    kind: 'campaign',
    key: `campaign:${campaign.id}#${occurrence}`,
    campaignId: campaign.id,
    occurrence,
    summary: `send ${campaign.name}`,
    at,
    scheduledAt,
    because,
    ...(extra.timerId ? { timerId: extra.timerId } : {}),
    ...(extra.eventProperties ? { eventProperties: extra.eventProperties } : {}),
  });
}

function cancelDeadline(ctx: Ctx, d: Deadline, at: number, reason: string): void {
  const { s } = ctx;
  s.deadlines = s.deadlines.filter((x) => x.key !== d.key);
  if (d.kind !== 'campaign') return;
  pushMessage(s, {
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

function pushMessage(s: JourneyState, message: MessageRecord): void {
  s.messages.push(message);
  while (s.messages.length > LIMITS.messages) {
    const oldest = s.messages.findIndex((m) => m.status !== 'pending');
    if (oldest < 0) break;
    s.messages.splice(oldest, 1);
  }
}

function campaignById(plan: JourneyPlan, id: string): Campaign | undefined {
  return plan.campaigns.find((c) => c.id === id);
}

/** The idempotency key of one delivery: the same customer, campaign and occurrence is sent at most once. */
export function deliveryKey(userId: string, campaignId: string, occurrence: number): string {
  return `${workflowIdFor(userId)}/${campaignId}/${occurrence}`;
}
