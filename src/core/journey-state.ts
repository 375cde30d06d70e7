import type { DefinitionRef, Timing } from './journey-definition.js';
import type { MessageStatus, ReadModelBatch, StageCause } from './journey-facts.js';
import type { DeliveryRouting, FallbackRouting, PassedOver } from './channel-routing.js';
import type { ChannelId } from './channel-ids.js';
import type { ChannelFeedback } from './channel-feedback.js';
import type { PreferenceChange, PreferenceDelta, PreferenceSource, Preferences } from './preferences.js';

/** A customer event as the journey receives it (Segment "track" fields). */
/** Which Segment call an event came from; definitions match `track` unless they say otherwise. */
export type CallKind = 'track' | 'page' | 'screen';

export interface TrackedEvent {
  messageId: string;
  /** A page or screen view (Segment page, screen), its name in `event`; absent: a track call. */
  type?: CallKind;
  event: string;
  /** ISO 8601; when the event happened. Absent means "now". */
  timestamp?: string;
  properties?: Record<string, unknown>;
}

/** A visitor's calls before they were identified, handed to the customer's journey when identify or alias linked them. */
export interface AnonymousJoin {
  anonymousId: string;
  /** The call that linked the visitor to the customer. */
  via: 'identify' | 'alias';
  /** In timestamp order; each is applied once (by messageId), also when the hand-over is repeated. */
  events: TrackedEvent[];
}

export interface ProfileChange {
  messageId?: string;
  timestamp?: string;
  /** Names of the traits that changed. Values stay in MongoDB: histories carry ids, not personal data. */
  traits: string[];
}

export interface StageChange {
  stage: string;
  from: string | null;
  at: number;
  cause: StageCause;
}

export type Deadline =
  | { kind: 'timer'; key: string; timerId: string; summary: string; at: number; anchorAt: number; occurrence?: number }
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
      /** Which step of a series (0 for a single message). */
      step: number;
      /** Times the delivery asked to wait for a better local time. */
      deferrals: number;
      deferredBecause?: string;
    };

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
  variant?: string;
  /** The customer's local time when it went out, ISO 8601 with offset. */
  localTime?: string;
  /** The channel it went on, when its campaign names fallbacks (else its campaign's channel). */
  channel?: ChannelId;
  /** The channels the campaign names before it that were not used, and why. */
  passedOver?: PassedOver[];
  /** Set once a goal event within the window was attributed to this message. */
  convertedAt?: number;
  /** While pending: the step it came from, so a "wait for a better local time" answer can reschedule it. */
  pendingStep?: Extract<Deadline, { kind: 'campaign' }>;
  /** What SendGrid reported about the email, each the first time it was reported (src/core/email-events.ts). */
  deliveredAt?: number;
  bouncedAt?: number;
  /** hard: the address does not exist (email is suppressed); soft: blocked this time. */
  bounce?: 'hard' | 'soft';
  droppedAt?: number;
  openedAt?: number;
  clickedAt?: number;
  /** Reported as spam. */
  complainedAt?: number;
  unsubscribedAt?: number;
}

/** Why email is no longer sent to this customer: SendGrid said the address bounced, dropped it, or the customer reported spam. */
export interface EmailSuppression {
  reason: 'bounce' | 'dropped' | 'spamreport';
  at: number;
  /** The message it happened to. */
  campaignId: string;
  key: string;
}

/** The customer's opens and clicks (not a mail client's machine opens), for engagement and send-time optimisation. */
export interface Engagement {
  /** Messages opened and clicked (each message counted once). */
  opens: number;
  clicks: number;
  lastAt: number;
  /** Per local hour 0-23: engagements that began in that hour of the customer's day (halved as they grow, so habits can change). */
  hours: number[];
  /** Per local hour: when the last of them was (0 for never), to break ties towards the recent habit. */
  hourAt: number[];
}

/** A value the journey computes and keeps on the customer's profile under `computed.<id>`. */
export type ComputedValue = boolean | number | string | null;

export interface ComputedTraitsState {
  /** The values last written to the profile. */
  values: Record<string, ComputedValue>;
  /** Per event-count trait: [UTC day number, events that day], oldest first, only days still inside its window. */
  days: Record<string, Array<[number, number]>>;
  /** Per most-frequent trait: property value -> [count, last time seen] (bounded). */
  tallies: Record<string, Record<string, [number, number]>>;
  /** The next moment a value changes without any new input (a window ends): the journey wakes up then. */
  due?: { at: number; summary: string };
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
  /** The definition's counters (workouts, renewals, payments). */
  counters: Record<string, number>;
  /** Experiment assignments: campaign id -> variant id or 'holdout'. */
  assignments: Record<string, string>;
  /** When each offer was last sent, for cooldowns. */
  offers: Record<string, number>;
  /** How often each campaign started, and in which stage entry it last did, for campaign limits. */
  campaignStarts: Record<string, { count: number; stageEnteredAt: number; delivered?: number }>;
  marketingOptOut: boolean;
  /** Support paused marketing for this customer (transactional still goes). */
  marketingPaused?: boolean;
  /** Support actions, newest last (bounded). */
  audit?: AuditEntry[];
  stats: { events: number; duplicates: number; runs: number; reactivations: number; everLoyal: boolean };
  /** Sequence of read-model facts and snapshots written so far. */
  factSeq: number;
  /** Set once SendGrid reports a hard bounce, a drop or a spam report: later email is skipped (other channels still go). */
  emailSuppressed?: EmailSuppression;
  /** The same for another channel (a provider reported the address failed for good, or a complaint): later messages on it are skipped. */
  channelSuppressed?: Partial<Record<ChannelId, EmailSuppression>>;
  engagement?: Engagement;
  /** Only when the definition declares computed traits. */
  computed?: ComputedTraitsState;
  /** The customer's preferences as the journey was last told (changePreferences); the profile holds the truth. */
  preferences?: Preferences;
  /** Each change of them that moved a switch, with its source, newest last (bounded). */
  preferenceChanges?: PreferenceChangeRecord[];
}

export interface PreferenceChangeRecord {
  at: number;
  source: PreferenceSource;
  changes: PreferenceDelta[];
}

export interface AuditEntry {
  at: number;
  actor: string;
  action: string;
  reason?: string;
}

/** What support staff may do to a journey; each is applied through a validated Temporal Update. */
export type SupportAction =
  | { kind: 'extendTimer'; timerId: string; byMs: number }
  | { kind: 'pauseMarketing' }
  | { kind: 'resumeMarketing' }
  | { kind: 'note'; action: string };

/** How it goes out (DeliveryRouting): absent channel means email (and requests recorded before there was a choice). */
export interface DeliveryRequest extends DeliveryRouting {
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
  variant?: string;
  /** What templates may say about the journey: stage, plan and counters (no personal data). */
  journey?: { stage: string; plan: string | null; counters: Record<string, number> };
  /** When in the customer's day it may go out; absent for "now". */
  timing?: Timing;
  /**
   * For timing that asks for optimisation: the local hour the customer usually opens or clicks, learned from
   * `samples` engagements; `hour` is absent while too few are known (the campaign's window applies).
   */
  learnedHour?: { hour?: number; samples: number };
  /** The channels to try, in order, when the customer cannot be reached on the one named first (absent: none). */
  fallback?: FallbackRouting[];
  /** Channels the campaign names that the journey already passed over (suppressed, capped), with why. */
  passedOver?: PassedOver[];
}

/** Who took a message, as its channel names its provider: 'sendgrid', 'outbox' (no SendGrid key), 'webhook', ... */
export type DeliveryProvider = string;

export type DeliveryOutcome =
  | {
      status: 'sent';
      providerMessageId?: string;
      provider: DeliveryProvider;
      duplicate?: boolean;
      localTime?: string;
      /** Why it went at this time, when send-time optimisation chose it ("learned hour 19:00 ..."). */
      reason?: string;
      /** For a request with fallbacks: the channel it went on, and the ones passed over before it with why. */
      channel?: ChannelId;
      passedOver?: PassedOver[];
    }
  | { status: 'deferred'; until: number; reason: string }
  | { status: 'skipped'; reason: string }
  | { status: 'failed'; reason: string };

export type JourneyInput =
  | { type: 'event'; now: number; event: TrackedEvent }
  | { type: 'profile'; now: number; change: ProfileChange }
  | { type: 'join'; now: number; join: AnonymousJoin }
  | { type: 'tick'; now: number }
  | { type: 'delivery'; now: number; key: string; outcome: DeliveryOutcome }
  | { type: 'segments'; now: number; segments: string[] }
  | { type: 'broadcast'; now: number; broadcast: BroadcastDelivery }
  | { type: 'support'; now: number; action: SupportAction; actor: string; reason?: string }
  | { type: 'emailEvent'; now: number; event: EmailEvent }
  | { type: 'channelFeedback'; now: number; feedback: ChannelFeedback }
  | { type: 'preferences'; now: number; change: PreferenceChange };

/** What SendGrid's Event Webhook reports about one message, as the API hands it to the journey. */
export type EmailEventType =
  | 'processed'
  | 'delivered'
  | 'deferred'
  /** a hard bounce (SendGrid event "bounce" with type "bounce") */
  | 'bounce'
  /** a soft bounce (SendGrid event "bounce" with type "blocked") */
  | 'blocked'
  | 'dropped'
  | 'spamreport'
  | 'unsubscribe'
  | 'group_unsubscribe'
  | 'open'
  | 'click';

/**
 * One SendGrid delivery event for a message this journey sent, matched by the delivery key we put in the
 * message's `custom_args`. Ids and types only: no address, URL, user agent or bounce text (personal data
 * stays out of histories).
 */
export interface EmailEvent {
  /** SendGrid's `sg_event_id`: the journey applies each event once. */
  id: string;
  type: EmailEventType;
  /** Our delivery key (`custom_args.delivery_key`): the exact message, campaign and occurrence. */
  deliveryKey: string;
  /** When it happened at SendGrid (ms since the epoch). */
  at: number;
  /** For open and click: the hour (0-23) in the customer's own time zone, worked out by the API from the profile. */
  localHour?: number;
  /** An open by a mail client's privacy proxy (`sg_machine_open`), not by the customer: not engagement. */
  machine?: boolean;
}

/** A scheduled broadcast reaching this customer: the journey decides whether and when to deliver it. */
export interface BroadcastDelivery {
  campaignId: string;
  /** Unique per broadcast run (its workflow id and first run id); the same broadcast is applied once. */
  broadcastId: string;
}

export type JourneyCommand =
  | { type: 'deliver'; request: DeliveryRequest }
  | { type: 'evaluateSegments' }
  /** Write the computed traits to the profile (all of them, as of `at`), then evaluate segments. */
  | { type: 'syncComputedTraits'; traits: Record<string, ComputedValue>; at: number }
  | { type: 'record'; batch: ReadModelBatch };

export interface StepResult {
  state: JourneyState;
  commands: JourneyCommand[];
}
