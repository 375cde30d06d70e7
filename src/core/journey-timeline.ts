import { describeSource } from './preferences.js';
import type { JourneyFact, JourneySnapshot } from './journey-facts.js';
import { describeCause, type EmailOutcome, type JourneyView } from './journey-view.js';
import { journeyIdOf } from './ids.js';

/**
 * One line of a customer's story, oldest first: what support staff read to answer "which stage is this
 * customer in, and why?". Built from the live journey (its query) or, once the journey has closed and no
 * worker can answer for it, from the read model's facts.
 */
export interface TimelineEntry {
  at: string;
  /** `email`: what SendGrid reported about a message (delivered, bounced, opened, …), the first time each. */
  /** `preference`: the customer changed their preferences; `status` says where (api, one-click, preference-page, …). */
  kind: 'stage' | 'message' | 'email' | 'conversion' | 'support' | 'preference' | 'pending';
  text: string;
  campaignId?: string;
  variant?: string;
  status?: string;
}

type EmailFact = Extract<JourneyFact, { kind: 'email' }>;

/** Each outcome field, the read-model fact event it comes from, and how the timeline says it. */
const EMAIL_OUTCOMES: ReadonlyArray<{ field: Exclude<keyof EmailOutcome, 'bounce'>; event: EmailFact['event']; says: string }> = [
  { field: 'deliveredAt', event: 'delivered', says: 'delivered' },
  { field: 'bouncedAt', event: 'bounced', says: 'bounced' },
  { field: 'droppedAt', event: 'dropped', says: 'dropped by SendGrid' },
  { field: 'openedAt', event: 'opened', says: 'opened' },
  { field: 'clickedAt', event: 'clicked', says: 'clicked' },
  { field: 'complainedAt', event: 'spamreport', says: 'reported as spam' },
  { field: 'unsubscribedAt', event: 'unsubscribed', says: 'unsubscribed' },
];

/** The parts of a journey a timeline is told from; a JourneyView has them all (its messages may carry what SendGrid reported). */
export type TimelineSource = Pick<JourneyView, 'stages' | 'pending' | 'audit' | 'messages'> & Partial<Pick<JourneyView, 'preferenceChanges'>>;

const KIND_ORDER: Record<TimelineEntry['kind'], number> = { stage: 0, support: 1, preference: 2, message: 3, email: 4, conversion: 5, pending: 6 };

function messageText(m: TimelineSource['messages'][number]): string {
  const variant = m.variant ? ` [${m.variant}]` : '';
  switch (m.status) {
    case 'sent':
      // The reason of a sent message says why it went at that time (send-time optimisation).
      return `${m.campaignId}${variant} sent${m.localTime ? ` at ${m.localTime} local time` : ''}${m.reason ? ` (${m.reason})` : ''}`;
    case 'pending':
      return `${m.campaignId}${variant} due`;
    default:
      return `${m.campaignId}${variant} ${m.status}${m.reason ? `: ${m.reason}` : ''}`;
  }
}

/** The journey's events in the order they happened (ties: stage, support, message, conversion), then what is still to come. */
export function timelineOf(source: TimelineSource): TimelineEntry[] {
  const past: TimelineEntry[] = [];
  for (const s of source.stages) {
    past.push({ at: s.at, kind: 'stage', text: s.from ? `${s.from} -> ${s.stage} because of ${s.why}` : `entered ${s.stage}: ${s.why}` });
  }
  for (const a of source.audit) {
    past.push({ at: a.at, kind: 'support', text: `${a.action} by ${a.actor}${a.reason ? ` (${a.reason})` : ''}` });
  }
  for (const c of source.preferenceChanges ?? []) {
    past.push({ at: c.at, kind: 'preference', text: `preferences: ${c.changes.join(', ')} (by ${describeSource(c.source)})`, status: c.source });
  }
  for (const m of source.messages) {
    past.push({
      at: m.at,
      kind: 'message',
      text: messageText(m),
      campaignId: m.campaignId,
      status: m.status,
      ...(m.variant ? { variant: m.variant } : {}),
    });
    for (const { field, event, says } of EMAIL_OUTCOMES) {
      const at = m[field];
      if (!at) continue;
      const bounce = field === 'bouncedAt' && m.bounce ? ` (${m.bounce})` : '';
      past.push({
        at,
        kind: 'email',
        text: `${m.campaignId}${m.variant ? ` [${m.variant}]` : ''} ${says}${bounce}`,
        campaignId: m.campaignId,
        status: event,
        ...(m.variant ? { variant: m.variant } : {}),
      });
    }
    if (m.convertedAt) {
      past.push({
        at: m.convertedAt,
        kind: 'conversion',
        text: `${m.campaignId}${m.variant ? ` [${m.variant}]` : ''} reached its goal`,
        campaignId: m.campaignId,
        ...(m.variant ? { variant: m.variant } : {}),
      });
    }
  }
  past.sort((a, b) => a.at.localeCompare(b.at) || KIND_ORDER[a.kind] - KIND_ORDER[b.kind]);
  const future: TimelineEntry[] = source.pending.map((p) => ({
    at: p.at,
    kind: 'pending',
    text: `${p.what}${p.because ? ` (because ${p.because})` : ''}${p.deferred ? `, deferred: ${p.deferred}` : ''}`,
  }));
  return [...past, ...future];
}

/** A closed journey told from the read model: what it last was, and every stage change and message it recorded. */
export interface RecordedJourney {
  source: 'read-model';
  userId: string;
  workflowId: string;
  definitionVersion: string;
  stage: string;
  stageEnteredAt: string;
  plan: string | null;
  segments: string[];
  counters: Record<string, number>;
  lastActivityAt: string | null;
  startedAt: string;
  stages: JourneyView['stages'];
  messages: JourneyView['messages'];
  experiments: Record<string, string>;
  pending: JourneyView['pending'];
  audit: JourneyView['audit'];
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Rebuild what can be told of a journey from its read-model snapshot and facts. Facts may arrive in any
 * order; they are told in time order. Support actions are not facts, so a recorded journey has no audit.
 */
export function recordedJourney(snapshot: JourneySnapshot, facts: readonly JourneyFact[]): RecordedJourney {
  const ordered = [...facts].sort((a, b) => a.at - b.at || a.id.localeCompare(b.id, 'en', { numeric: true }));
  const stages: JourneyView['stages'] = [];
  const messages: RecordedJourney['messages'] = [];
  const experiments: Record<string, string> = {};
  const conversions = new Map<string, number>();
  const outcomes = new Map<string, EmailOutcome>();
  for (const fact of ordered) {
    if (fact.kind === 'conversion' && !conversions.has(fact.messageKey)) conversions.set(fact.messageKey, fact.at);
    if (fact.kind === 'email') {
      const field = EMAIL_OUTCOMES.find((o) => o.event === fact.event)?.field;
      const outcome = outcomes.get(fact.key) ?? {};
      if (field && outcome[field] === undefined) outcome[field] = iso(fact.at);
      outcomes.set(fact.key, outcome);
    }
  }
  for (const fact of ordered) {
    switch (fact.kind) {
      case 'stage':
        stages.push({ stage: fact.stage, from: fact.from, at: iso(fact.at), why: describeCause(fact.cause) });
        break;
      case 'assignment':
        experiments[fact.campaignId] = fact.variant;
        break;
      case 'message': {
        const convertedAt = conversions.get(fact.key);
        const occurrence = Number(fact.key.split('/').pop());
        messages.push({
          key: fact.key,
          campaignId: fact.campaignId,
          occurrence: Number.isFinite(occurrence) ? occurrence : 0,
          kind: fact.messageKind,
          status: fact.status,
          dueAt: iso(fact.at),
          at: iso(fact.at),
          ...(fact.reason ? { reason: fact.reason } : {}),
          ...(fact.variant ? { variant: fact.variant } : {}),
          ...(convertedAt !== undefined ? { convertedAt: iso(convertedAt) } : {}),
          ...outcomes.get(fact.key),
        });
        if (fact.variant && experiments[fact.campaignId] === undefined) experiments[fact.campaignId] = fact.variant;
        break;
      }
      case 'conversion':
      case 'email':
        break;
    }
  }
  return {
    source: 'read-model',
    userId: snapshot.userId,
    workflowId: journeyIdOf(snapshot.userId),
    definitionVersion: snapshot.definitionVersion,
    stage: snapshot.stage,
    stageEnteredAt: iso(snapshot.stageEnteredAt),
    plan: snapshot.plan,
    segments: snapshot.segments,
    counters: snapshot.counters,
    lastActivityAt: snapshot.lastActivityAt === null ? null : iso(snapshot.lastActivityAt),
    startedAt: iso(snapshot.startedAt),
    stages,
    messages,
    experiments,
    pending: [],
    audit: [],
  };
}
