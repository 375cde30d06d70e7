import type { DefinitionRef } from './definition.js';

/** A customer event as the journey receives it (Segment "track" fields). */
export interface TrackedEvent {
  messageId: string;
  event: string;
  /** ISO 8601; when the event happened. Absent means "now". */
  timestamp?: string;
  properties?: Record<string, unknown>;
}

export interface ProfileChange {
  messageId?: string;
  timestamp?: string;
  /** Names of the traits that changed. Values stay in MongoDB: histories carry ids, not personal data. */
  traits: string[];
}

export type StageCause =
  | { kind: 'start' }
  | { kind: 'event'; event: string; messageId: string }
  | { kind: 'timer'; timer: string; summary: string };

export interface StageChange {
  stage: string;
  from: string | null;
  at: number;
  cause: StageCause;
}

export type Deadline =
  | { kind: 'timer'; key: string; timerId: string; summary: string; at: number; anchorAt: number }
  | {
      kind: 'campaign';
      key: string;
      campaignId: string;
      occurrence: number;
      summary: string;
      at: number;
      scheduledAt: number;
      /** Why it was scheduled, for the timeline: "event Signed Up", "3 days before trial ends". */
      because: string;
      /** Set when the step is tied to a timer: it moves with the timer and goes when the timer goes. */
      timerId?: string;
      eventProperties?: Record<string, unknown>;
    };

export type MessageStatus = 'pending' | 'sent' | 'skipped' | 'failed' | 'cancelled';

export interface MessageRecord {
  key: string;
  campaignId: string;
  occurrence: number;
  kind: 'transactional' | 'marketing';
  status: MessageStatus;
  /** When the step was due. */
  dueAt: number;
  /** When the outcome was known. */
  at: number;
  reason?: string;
  providerMessageId?: string;
}

export interface JourneyState {
  schemaVersion: 1;
  userId: string;
  definition: Required<DefinitionRef>;
  stage: string;
  previousStage: string | null;
  stageEnteredAt: number;
  /** The journey's own clock: the effective time of the last thing applied; never goes backwards. */
  clock: number;
  startedAt: number;
  lastActivityAt: number | null;
  attributes: Record<string, string>;
  segments: string[];
  deadlines: Deadline[];
  occurrences: Record<string, number>;
  stageHistory: StageChange[];
  messages: MessageRecord[];
  recentMessageIds: string[];
  counters: { events: number; duplicates: number; runs: number };
}

export interface DeliveryRequest {
  key: string;
  userId: string;
  campaignId: string;
  occurrence: number;
  kind: 'transactional' | 'marketing';
  template: string;
  segments: string[];
  definition: Required<DefinitionRef>;
  summary: string;
  eventProperties?: Record<string, unknown>;
}

export type DeliveryOutcome =
  | { status: 'sent'; providerMessageId?: string; provider: 'sendgrid' | 'outbox'; duplicate?: boolean }
  | { status: 'skipped'; reason: string }
  | { status: 'failed'; reason: string };

export type JourneyInput =
  | { type: 'event'; now: number; event: TrackedEvent }
  | { type: 'profile'; now: number; change: ProfileChange }
  | { type: 'tick'; now: number }
  | { type: 'delivery'; now: number; key: string; outcome: DeliveryOutcome }
  | { type: 'segments'; now: number; segments: string[] };

export type JourneyCommand = { type: 'deliver'; request: DeliveryRequest } | { type: 'evaluateSegments' };

export interface StepResult {
  state: JourneyState;
  commands: JourneyCommand[];
}
