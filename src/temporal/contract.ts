import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ChannelFeedback } from '../core/channel-feedback.js';
import type { DefinitionRef } from '../core/journey-definition.js';
import { journeyIdOf } from '../core/ids.js';
import type { AnonymousJoin, BroadcastDelivery, EmailEvent, JourneyState, ProfileChange, TrackedEvent } from '../core/journey-state.js';
import type { JourneyView } from '../core/journey-view.js';
import type { PreferenceChange } from '../core/preferences.js';
import type { SupportUpdateTaken } from '../core/support-rules.js';

export type { AnonymousJoin, BroadcastDelivery, EmailEvent, ProfileChange, TrackedEvent } from '../core/journey-state.js';
export type { ChannelFeedback } from '../core/channel-feedback.js';
export type { JourneyView } from '../core/journey-view.js';
export type { PreferenceChange } from '../core/preferences.js';

/**
 * The Temporal contract: what clients (API, worker, simulator, CLI) and the workflows agree on. Task queue,
 * workflow types and ids, search attributes, message definitions and run inputs live here and nowhere
 * else. Workflow code imports it too, so it imports only @temporalio/workflow, @temporalio/common and the
 * pure core. Search attributes are declared in ./search-attribute-keys.ts (and registered by
 * ./search-attributes.ts); a client is built in ./client.ts.
 */

/** The task queue journeys and broadcasts run on, unless TASK_QUEUE says otherwise. */
export const TASK_QUEUE_DEFAULT = 'lifecycle';

/** What a delivery is: its kind picks its task queue (from code version 9), so marketing never queues ahead of transactional. */
export type DeliveryKind = 'transactional' | 'marketing';
export const DELIVERY_KINDS: readonly DeliveryKind[] = ['transactional', 'marketing'];

/**
 * The task queue a journey on `journeyTaskQueue` schedules its deliveries of `kind` on (from code version 9):
 * `lifecycle-transactional` and `lifecycle-marketing` beside `lifecycle`. Each has its own worker slots and
 * its share of the provider account's send rate (Temporal's server-side task queue rate limit).
 */
export function deliveryTaskQueue(journeyTaskQueue: string, kind: DeliveryKind): string {
  return `${journeyTaskQueue}-${kind}`;
}

/** Workflow type names, as clients start them and visibility queries filter on them. */
export const WORKFLOW_TYPES = { customerJourney: 'customerJourney', broadcastCampaign: 'broadcastCampaign', anonymousHistory: 'anonymousHistory' } as const;

/** A customer's journey workflow: its id is the journey's own id, so starting it twice is idempotent. */
export function workflowIdFor(userId: string): string {
  return journeyIdOf(userId);
}

/** The customer a journey workflow id belongs to; undefined for any other workflow. */
export function userIdOfWorkflow(workflowId: string): string | undefined {
  const prefix = journeyIdOf('');
  return workflowId.startsWith(prefix) ? workflowId.slice(prefix.length) : undefined;
}

/** The Temporal Schedule of a broadcast campaign; its runs are `${scheduleIdFor(...)}-run-<time>`. */
export function scheduleIdFor(definitionId: string, campaignId: string): string {
  return `broadcast-${definitionId}-${campaignId}`;
}
/** Every schedule of a definition's broadcasts starts with this. */
export function schedulePrefixOf(definitionId: string): string {
  return `broadcast-${definitionId}-`;
}

/** A customer event (Segment "track"); deduplicated by messageId, also across continue-as-new. */
export const trackEventSignal = defineSignal<[TrackedEvent]>('trackEvent');
/** The customer's profile changed in MongoDB (Segment "identify"); carries trait names, never values. */
export const identifyCustomerSignal = defineSignal<[ProfileChange]>('identifyCustomer');
/** A visitor's history joins the customer (sent by the visitor's anonymousHistory workflow, signal-with-start). */
export const joinAnonymousSignal = defineSignal<[AnonymousJoin]>('joinAnonymous');
/** A call of a visitor not yet identified, kept by their anonymousHistory workflow; deduplicated by messageId. */
export const keepAnonymousCallSignal = defineSignal<[TrackedEvent]>('keepAnonymousCall');
/** identify or alias linked the visitor to a customer: their history (and later calls) go to that journey. */
export const linkAnonymousSignal = defineSignal<[AnonymousLink]>('linkAnonymous');
export interface AnonymousLink {
  userId: string;
  via: 'identify' | 'alias';
}

/** The input of a visitor's anonymousHistory workflow (workflow id anonymous-<anonymousId>). */
export interface AnonymousHistoryInput {
  anonymousId: string;
  /** The journey definition a customer's journey is started with when the hand-over starts it. */
  definitionId: string;
  /** Carried through continue-as-new. */
  kept?: TrackedEvent[];
  link?: AnonymousLink;
}

export function anonymousWorkflowId(anonymousId: string): string {
  return `anonymous-${anonymousId}`;
}

/** A scheduled broadcast reached this customer; the journey checks its audience, consent and caps. */
export const deliverBroadcastSignal = defineSignal<[BroadcastDelivery]>('deliverBroadcast');
/**
 * The same as deliverBroadcastSignal, answered once the journey has taken the broadcast in (the pass that applied
 * it ran): a fan-out waits on a bounded number of these at a time (activities/fan-out-window.ts), so it never wakes
 * journeys faster than their workers handle them. A run without its handler (a worker from before it) refuses it,
 * and the fan-out signals instead.
 */
export const acceptBroadcastUpdate = defineUpdate<void, [BroadcastDelivery]>('acceptBroadcast');
/** SendGrid reported on a message this journey sent (Event Webhook); applied once per `id`. */
export const emailEventSignal = defineSignal<[EmailEvent]>('emailEvent');
/** Another channel's provider reported on a message this journey sent (src/channels/feedback.ts); applied once per channel and `id`. */
export const channelFeedbackSignal = defineSignal<[ChannelFeedback]>('channelFeedback');
/**
 * The customer's preferences changed (API, one-click unsubscribe, preference page, SMS STOP): carries them as
 * they are now and the source; the journey's timeline tells what moved. Runs from code version 5 on.
 */
export const changePreferencesSignal = defineSignal<[PreferenceChange]>('changePreferences');
/** A support action, validated before it touches history; answered with the journey as it is after it. */
export const supportActionUpdate = defineUpdate<JourneyView, [SupportRequest]>('supportAction');
export type SupportRequest = { actor: string; reason?: string } & (
  | { action: 'extendTrial'; days: number }
  | { action: 'pauseMarketing' }
  | { action: 'resumeMarketing' }
  | { action: 'correctProfile'; timezone?: string; locale?: string }
);
/** The journey as support staff and the API see it. */
export const getJourneyQuery = defineQuery<JourneyView>('getJourney');
/**
 * What getJourney answers while a run is still loading its plan (a busy worker can stretch a first workflow
 * task so that a query lands in it): ask again in a moment.
 */
export function journeyStartingMessage(userId: string): string {
  return `the journey of ${userId} ${STARTING}: ask again in a moment`;
}
const STARTING = 'is starting (loading its plan)';
/** Whether a query failed because the journey was still loading its plan (see journeyStartingMessage). */
export function isJourneyStarting(err: unknown): boolean {
  for (let e = err as { cause?: unknown; details?: unknown; message?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if ([e.details, e.message].some((text) => typeof text === 'string' && text.includes(STARTING))) return true;
  }
  return false;
}

/** The input of every run of a customer's journey. Versioned: a running journey may be handed an older shape. */
export interface CustomerJourneyInput {
  schemaVersion: 1;
  userId: string;
  /** Which journey definition; the version is resolved by the workers when a run starts. */
  definition: DefinitionRef;
  /** The state carried over from the previous run by continue-as-new. */
  carried?: JourneyState;
  /** Continue-as-new after this many inputs in one run, besides the server's own suggestion (tests lower it). */
  maxInputsPerRun?: number;
  /**
   * Which behaviours this run has (JOURNEY_CODE_VERSION when it was started). A behaviour change that would
   * make histories already recorded replay differently is switched on from a new code version: the input is
   * in the history, so a run replays as it first ran. Absent = 1.
   */
  codeVersion?: number;
  /**
   * Support updates earlier runs took, by their update id (an Idempotency-Key names it: supportUpdateId), each with
   * when it was taken: a retry of one after a continue-as-new is answered with the journey, not taken again.
   * The last day's, SUPPORT_UPDATES_KEPT at most (src/core/support-rules.ts); code version 12.
   */
  supportUpdates?: SupportUpdateTaken[];
}

/**
 * 12: a run remembers the ids of the support updates it took and hands the last day's on at continue-as-new
 *    (supportUpdates): Temporal takes an update id once per run, so before this an Idempotency-Key's retry
 *    that came after the journey continued as new was taken again (a second pause refused with 422, a trial
 *    extended twice). Now it is answered with the journey as it is. Older runs neither keep nor check them.
 * 11: a new journey's plan and its opening pass (the start and the inputs it was started with) in one local
 *    activity, openJourney: it loads the plan, computes the pass as the workflow will (src/core/opening-pass.ts)
 *    and sends the pass's profile work and read-model write ahead; the workflow takes what matches its own
 *    pass. Two activations for a new journey where there were four (start, the plan's answer, the profile's,
 *    the record's). Older runs load the plan alone.
 * 10: a run's local activities go one at a time, in the order they were asked for. Run side by side (v8, v9),
 *    they complete in wall-clock order when a run first executes but are resolved in sequence order on replay
 *    (the SDK's known behaviour), so a run whose syncProfile answered before an earlier checkAudience sent its
 *    commands in another order than its replay does: that run's queries and its next workflow task after a worker restart failed
 *    with a nondeterminism error (seen when workers were killed under load: test/reliability/worker-kills).
 * 9: a delivery runs on the task queue of its kind (deliveryTaskQueue): transactional and marketing messages
 *    have their own worker slots and send rates. Older runs schedule it on the journey's own task queue.
 * 8: lean passes: read-model writes, audience checks and a pass's profile work (computed traits, then
 *    segments, as one syncProfile) run as local activities (one marker each, answered in the same workflow
 *    task), and a pass whose profile work is in flight sends its record and search attributes once that work
 *    has answered. Older runs keep regular activities (their histories hold them).
 * 4: campaigns' channel fallbacks (message.fallback) and per-channel frequency caps (frequencyCap.channels)
 *    apply; older runs see the plan without them (withoutChannelChoices).
 * 5: the journey takes changePreferences signals: each change of the customer's preferences is kept in its
 *    state and told in its timeline with its source. Older runs ignore the signal (the delivery rules read
 *    the preferences from the profile, so they apply all the same; only the timeline entry is missing).
 * 7: a campaign with `exitOn.engaged` stops its series once the customer opened or clicked one of its
 *    messages (an in-app message seen or clicked included); older runs see the plan without it
 *    (withoutEngagementExits). No behaviour switches on at 6.
 * 3: a visitor's joined history (joinAnonymous) is applied as one input that the timeline tells; runs of
 *    older versions apply the same events one by one (dropping them would lose them), without that entry.
 * 2: a run continues as new at 3,000 history events or 3 MiB (not only after maxInputsPerRun inputs), and a
 * run's first pass takes the event it was started with, with a pass's profile work sent once.
 */
export const JOURNEY_CODE_VERSION = 12;

/** The code version each behaviour is switched on from (see JOURNEY_CODE_VERSION above). */
const BEHAVIOUR_SINCE = { coalescedPasses: 2, historyBoundedRuns: 2, joinAsOneInput: 3, channelFallback: 4, preferenceChanges: 5, engagementExit: 7, leanPasses: 8, deliveryQueues: 9, serialLocalActivities: 10, openingPass: 11, supportUpdatesCarried: 12 } as const;
export type JourneyBehaviour = keyof typeof BEHAVIOUR_SINCE;

/** Whether a run started with this input has the behaviour: a run replays as it first ran. */
export function runHas(input: Pick<CustomerJourneyInput, 'codeVersion'>, behaviour: JourneyBehaviour): boolean {
  return (input.codeVersion ?? 1) >= BEHAVIOUR_SINCE[behaviour];
}

/** The input of a new run of a journey: the first, as clients start it (signal-with-start), or the next one after continue-as-new (with what it carries). */
export function newRunInput(userId: string, definitionId: string, extra: Partial<CustomerJourneyInput> = {}): CustomerJourneyInput {
  return { schemaVersion: 1, userId, definition: { id: definitionId }, codeVersion: JOURNEY_CODE_VERSION, ...extra };
}

/** The input of a scheduled broadcast run. */
export interface BroadcastInput {
  campaignId: string;
  definition: DefinitionRef;
  /** Fixed by the first run; carried through continue-as-new so every page is the same broadcast. */
  broadcastId?: string;
  after?: string;
  /** The task queue of the worker keeping the audience's cursor open after `after` (see FanOutResult). */
  resumeOn?: string;
  pageSize?: number;
  signalled?: number;
  withoutJourney?: number;
}
