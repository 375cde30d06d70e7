import { describeDelta, type PreferenceSource } from './preferences.js';
import type { JourneyPlan } from './journey-definition.js';
import { describeSuppression } from './email-events.js';
import { ENGAGEMENT, learnedHourOf } from './engagement.js';
import type { StageCause } from './journey-facts.js';
import type { ComputedValue, JourneyState, MessageRecord } from './journey-state.js';
import { compareDeadlines, nextDeadline } from './deadlines.js';
import { journeyIdOf } from './ids.js';

/**
 * What SendGrid reported about one email, each the first time (ISO 8601), as the journey keeps it on the
 * message (MessageRecord) or the read model's `email` facts tell it.
 */
export interface EmailOutcome {
  deliveredAt?: string;
  bouncedAt?: string;
  /** hard: the address does not exist; soft: blocked this time. */
  bounce?: 'hard' | 'soft';
  droppedAt?: string;
  openedAt?: string;
  clickedAt?: string;
  /** Reported as spam. */
  complainedAt?: string;
  unsubscribedAt?: string;
}

/** What the journey query answers: the state told for people (support staff, marketers, API callers). */
export interface JourneyView {
  userId: string;
  workflowId: string;
  definition: { id: string; version: string };
  stage: string;
  stageLabel: string;
  stageEnteredAt: string;
  attributes: Record<string, string>;
  plan: string | null;
  segments: string[];
  lastActivityAt: string | null;
  summary: string;
  stages: Array<{ stage: string; from: string | null; at: string; why: string }>;
  /** What is still to come; `traits`: a computed trait's window ends (the journey wakes up to update it). */
  pending: Array<{ kind: 'timer' | 'campaign' | 'traits'; what: string; at: string; because?: string; deferred?: string }>;
  messages: Array<{
    key: string;
    campaignId: string;
    occurrence: number;
    kind: string;
    status: string;
    dueAt: string;
    at: string;
    reason?: string;
    providerMessageId?: string;
    variant?: string;
    localTime?: string;
    convertedAt?: string;
  } & EmailOutcome>;
  counters: Record<string, number>;
  /** Experiment assignments: campaign -> variant or holdout. */
  experiments: Record<string, string>;
  marketing: 'allowed' | 'unsubscribed' | 'paused';
  /** Email is suppressed after a hard bounce, a drop or a spam report (other channels still go). */
  email: { status: 'allowed' } | { status: 'suppressed'; reason: string; since: string };
  /** Opens and clicks, and the send hour learned from them (local to the customer). */
  engagement: {
    opens: number;
    clicks: number;
    lastEngagedAt: string | null;
    /** Engagements the hour is learned from (one per message). */
    samples: number;
    /** The hour campaigns with optimised timing use; null until enough is known. */
    learnedHour: number | null;
    sendTime: string;
  };
  /** The computed traits (definition `computedTraits`), as written to the profile under `computed.<id>`. */
  computed: Record<string, ComputedValue>;
  /** Support actions on this journey, who did them and why. */
  audit: Array<{ at: string; actor: string; action: string; reason?: string }>;
  /** Each change of the customer's preferences the journey was told of: what moved, and from where. */
  preferenceChanges: Array<{ at: string; source: PreferenceSource; changes: string[] }>;
  stats: JourneyState['stats'];
}

const iso = (ms: number) => new Date(ms).toISOString();

const EMAIL_STAMPS = ['deliveredAt', 'bouncedAt', 'droppedAt', 'openedAt', 'clickedAt', 'complainedAt', 'unsubscribedAt'] as const;

function emailOutcomeOf(m: MessageRecord): Partial<Record<(typeof EMAIL_STAMPS)[number], string>> & { bounce?: 'hard' | 'soft' } {
  const out: Partial<Record<(typeof EMAIL_STAMPS)[number], string>> & { bounce?: 'hard' | 'soft' } = {};
  for (const stamp of EMAIL_STAMPS) {
    const at = m[stamp];
    if (at !== undefined) out[stamp] = iso(at);
  }
  if (m.bounce) out.bounce = m.bounce;
  return out;
}

function engagementOf(state: JourneyState): JourneyView['engagement'] {
  const e = state.engagement;
  const learned = learnedHourOf(e);
  const samples = learned?.samples ?? 0;
  const hour = learned?.hour;
  return {
    opens: e?.opens ?? 0,
    clicks: e?.clicks ?? 0,
    lastEngagedAt: e && e.lastAt > 0 ? iso(e.lastAt) : null,
    samples,
    learnedHour: hour ?? null,
    sendTime:
      hour !== undefined
        ? `optimised timing sends at ${String(hour).padStart(2, '0')}:00 local time: the hour most of ${samples} opens and clicks began in`
        : `optimised timing uses the campaign's window until ${ENGAGEMENT.minSamples} opens or clicks are known (${samples} so far)`,
  };
}

export function describeCause(cause: StageCause): string {
  switch (cause.kind) {
    case 'start':
      return 'journey started';
    case 'event':
      return `event "${cause.event}" (${cause.messageId})`;
    case 'timer':
      return `timer: ${cause.summary}`;
  }
}

function stageLabel(plan: JourneyPlan, stage: string): string {
  return plan.stages.find((s) => s.id === stage)?.label ?? stage;
}

/** The one line the Temporal Web UI shows as the journey's current details. */
export function currentDetails(plan: JourneyPlan, state: JourneyState): string {
  const last = state.stageHistory[state.stageHistory.length - 1];
  const next = nextDeadline(state);
  const sent = state.messages.filter((m) => m.status === 'sent').length;
  const parts = [
    `${stageLabel(plan, state.stage)} since ${iso(state.stageEnteredAt).slice(0, 16).replace('T', ' ')} UTC${last ? ` (${describeCause(last.cause)})` : ''}`,
    ...(state.attributes.plan ? [`plan ${state.attributes.plan}`] : []),
    next ? `next: ${next.summary} at ${iso(next.at).slice(0, 16).replace('T', ' ')} UTC` : 'nothing scheduled',
    `${sent} message${sent === 1 ? '' : 's'} sent`,
  ];
  return parts.join(' · ');
}

export interface JourneySearchAttributes {
  LifecycleStage: string;
  Segments: string[];
  /** Keyword attributes fed by journey attributes (for example Plan), null when unset. */
  keywords: Record<string, string | null>;
}

export function searchAttributesOf(plan: JourneyPlan, state: JourneyState): JourneySearchAttributes {
  const keywords: Record<string, string | null> = {};
  for (const attribute of plan.attributes) {
    if (attribute.searchAttribute) keywords[attribute.searchAttribute] = state.attributes[attribute.id] ?? null;
  }
  return { LifecycleStage: state.stage, Segments: state.segments, keywords };
}

export function journeyView(plan: JourneyPlan, state: JourneyState): JourneyView {
  return {
    userId: state.userId,
    workflowId: journeyIdOf(state.userId),
    definition: state.definition,
    stage: state.stage,
    stageLabel: stageLabel(plan, state.stage),
    stageEnteredAt: iso(state.stageEnteredAt),
    attributes: state.attributes,
    plan: state.attributes.plan ?? null,
    segments: state.segments,
    lastActivityAt: state.lastActivityAt === null ? null : iso(state.lastActivityAt),
    summary: currentDetails(plan, state),
    stages: state.stageHistory.map((h) => ({ stage: h.stage, from: h.from, at: iso(h.at), why: describeCause(h.cause) })),
    pending: [
      ...[...state.deadlines]
        .sort(compareDeadlines)
        .map((d) => ({
          kind: d.kind,
          what: d.summary,
          at: iso(d.at),
          ...(d.kind === 'campaign' ? { because: d.because, ...(d.deferredBecause ? { deferred: d.deferredBecause } : {}) } : {}),
        })),
      ...(state.computed?.due ? [{ kind: 'traits' as const, what: state.computed.due.summary, at: iso(state.computed.due.at) }] : []),
    ].sort((a, b) => a.at.localeCompare(b.at)),
    messages: state.messages.map((m) => ({
      key: m.key,
      campaignId: m.campaignId,
      occurrence: m.occurrence,
      kind: m.kind,
      status: m.status,
      dueAt: iso(m.dueAt),
      at: iso(m.at),
      ...(m.reason ? { reason: m.reason } : {}),
      ...(m.providerMessageId ? { providerMessageId: m.providerMessageId } : {}),
      ...(m.variant ? { variant: m.variant } : {}),
      ...(m.localTime ? { localTime: m.localTime } : {}),
      ...(m.convertedAt !== undefined ? { convertedAt: iso(m.convertedAt) } : {}),
      ...emailOutcomeOf(m),
    })),
    counters: state.counters,
    experiments: state.assignments,
    marketing: state.marketingOptOut ? 'unsubscribed' : state.marketingPaused ? 'paused' : 'allowed',
    email: state.emailSuppressed
      ? { status: 'suppressed', reason: describeSuppression(state.emailSuppressed), since: iso(state.emailSuppressed.at) }
      : { status: 'allowed' },
    engagement: engagementOf(state),
    computed: state.computed?.values ?? {},
    audit: (state.audit ?? []).map((a) => ({ ...a, at: iso(a.at) })),
    preferenceChanges: (state.preferenceChanges ?? []).map((c) => ({ at: iso(c.at), source: c.source, changes: c.changes.map(describeDelta) })),
    stats: state.stats,
  };
}
