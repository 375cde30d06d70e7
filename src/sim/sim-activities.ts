import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { DefinitionRef, JourneyPlan } from '../core/definition.js';
import type { JourneyFact, ReadModelBatch } from '../core/journey-facts.js';
import type { ComputedValue, DeliveryOutcome, DeliveryRequest } from '../core/journey-state.js';
import type { LoadedDefinition } from '../definitions/load-definition.js';
import { renderMessage } from '../delivery/render-message.js';
import { decideDelivery } from '../delivery/delivery-rules.js';
import type { AudienceCheck, JourneyActivities } from '../../activities/journey-activities.js';
import { signalBroadcast, type FanOutPage, type FanOutResult, type BroadcastActivities } from '../../activities/broadcast-activities.js';
import type { ReadModelActivities } from '../../activities/read-model-activities.js';
import { newRunInput, trackEventSignal, identifyCustomerSignal, workflowIdFor, type CustomerJourneyInput, type TrackedEvent } from '../temporal/contract.js';
import type { SimStore } from './memory-store.js';
import type { SimProfile } from './population.js';
import { receiveMessageSignal, simulatedCustomerId, type MessageNotice } from './workflows/sim-messages.js';

/** Same threshold as the real delivery: a send time less than this ahead is "now". */

export interface SimActivityDeps {
  store: SimStore;
  definition: LoadedDefinition;
  client: Client;
  taskQueue: string;
  /** The customers this worker's test server runs (broadcasts reach only them); all when absent. */
  customers?: Set<string>;
}

/** What one wake of a simulated customer sends: an identify (at sign-up, or a profile change) and events. */
export interface SimTrackInput {
  userId: string;
  profile?: SimProfile;
  at: number;
  profileChange?: Record<string, unknown>;
  events: TrackedEvent[];
}

function activityNow(): number {
  try {
    return Math.max(Date.now(), Context.current().info.currentAttemptScheduledTimestampMs);
  } catch {
    return Date.now();
  }
}

function assertId(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) {
    throw ApplicationFailure.nonRetryable(`${what} must be a non-empty string, got ${JSON.stringify(value)}`, 'InvalidInput');
  }
}

/**
 * The journey's activities with MongoDB and SendGrid replaced by memory: the same names and signatures as
 * activities/*.ts, and the same rules where they decide an outcome (audience by segment filter, consent,
 * send time, the delivery key claimed once, facts by id, snapshots by seq). Messages are rendered with
 * the real templates; a delivered message reaches the customer's behaviour workflow as a signal.
 */
export function createSimActivities(deps: SimActivityDeps) {
  const { store, definition, client, taskQueue, customers } = deps;

  function planFor(ref: DefinitionRef): JourneyPlan {
    if (ref.id !== definition.definition.id || (ref.version !== undefined && ref.version !== definition.version)) {
      throw ApplicationFailure.nonRetryable(`the simulator runs ${definition.definition.id}@${definition.version}, not ${ref.id}@${ref.version ?? 'current'}`, 'UnknownDefinition');
    }
    return definition.plan;
  }

  const journey = {
    async loadJourneyPlan(ref: DefinitionRef): Promise<JourneyPlan> {
      return planFor(ref);
    },

    async correctProfile(input: { userId: string; timezone?: string; locale?: string }): Promise<void> {
      const profile = store.profiles.get(input.userId);
      if (profile) Object.assign(profile, input.timezone ? { timezone: input.timezone } : {}, input.locale ? { locale: input.locale } : {});
    },

    async evaluateSegments(input: { userId: string; definition: Required<DefinitionRef> }): Promise<string[]> {
      const plan = planFor(input.definition);
      return plan.segments.filter((s) => store.inSegment(plan, s.id, input.userId)).map((s) => s.id);
    },

    async syncComputedTraits(input: { userId: string; traits: Record<string, ComputedValue>; at: number }): Promise<void> {
      const profile = store.profiles.get(input.userId);
      if (profile && (profile.computedAt === undefined || profile.computedAt.getTime() <= input.at)) {
        Object.assign(profile, { computed: { ...input.traits }, computedAt: new Date(input.at) });
      }
    },

    async checkAudience(input: AudienceCheck): Promise<{ inAudience: boolean; reason?: string }> {
      if (!store.profiles.has(input.userId)) return { inAudience: false, reason: 'no profile for this customer (identify was never called)' };
      const plan = planFor(input.definition);
      for (const segment of input.segments) {
        if (!plan.segments.some((s) => s.id === segment)) throw ApplicationFailure.nonRetryable(`segment "${segment}" is not in ${plan.id}@${plan.version}`, 'UnknownSegment');
        if (!store.inSegment(plan, segment, input.userId)) return { inAudience: false, reason: `not in segment ${segment}` };
      }
      return { inAudience: true };
    },

    async deliverMessage(request: DeliveryRequest): Promise<DeliveryOutcome> {
      assertId(request.key, 'key');
      assertId(request.userId, 'userId');
      const existing = store.deliveries.get(request.key);
      if (existing?.status === 'sent') return { status: 'sent', provider: 'outbox', providerMessageId: request.key, duplicate: true };
      if (existing?.status === 'skipped') return { status: 'skipped', reason: existing.error ?? 'skipped' };
      if (existing?.status === 'failed') throw ApplicationFailure.nonRetryable(existing.error ?? 'delivery failed', 'DeliveryRejected');

      const plan = planFor(request.definition);
      const profile = store.profiles.get(request.userId);
      const base = { userId: request.userId, campaignId: request.campaignId, kind: request.kind, template: request.template };
      const skip = (reason: string): DeliveryOutcome => {
        store.deliveries.set(request.key, { ...base, status: 'skipped', error: reason });
        return { status: 'skipped', reason };
      };
      const decision = decideDelivery(request, profile, activityNow());
      if (decision.kind === 'skip') return skip(decision.reason);
      if (decision.kind === 'defer') return decision.outcome;
      const { localTime, reason: sendTimeReason, profile: addressee } = decision;
      const rendered = await renderMessage(definition.definition, request.template, addressee, request.eventProperties, request.journey);
      store.deliveries.set(request.key, { ...base, status: 'sent', locale: rendered.locale, subject: rendered.subject });

      const campaign = plan.campaigns.find((c) => c.id === request.campaignId);
      const notice: MessageNotice = {
        key: request.key,
        campaignId: request.campaignId,
        kind: request.kind,
        ...(request.variant ? { variant: request.variant } : {}),
        ...(campaign?.goal ? { goal: campaign.goal.event, withinHours: Math.floor(campaign.goal.within / 3_600_000) } : {}),
      };
      try {
        await client.workflow.getHandle(simulatedCustomerId(request.userId)).signal(receiveMessageSignal, notice);
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
      return { status: 'sent', provider: 'outbox', providerMessageId: request.key, ...(localTime ? { localTime } : {}), ...(sendTimeReason ? { reason: sendTimeReason } : {}) };
    },
  } satisfies Omit<JourneyActivities, never>;

  const readModel = {
    async recordJourney(batch: ReadModelBatch): Promise<void> {
      if (!batch?.snapshot?.userId) throw ApplicationFailure.nonRetryable('read model batch: snapshot.userId must be a non-empty string', 'InvalidInput');
      store.addFacts(batch.facts as JourneyFact[]);
      store.writeSnapshot(batch.snapshot);
    },
  } satisfies ReadModelActivities;

  const broadcast = {
    async fanOutBroadcast(page: FanOutPage): Promise<FanOutResult> {
      const plan = planFor(page.definition);
      const campaign = plan.campaigns.find((c) => c.id === page.campaignId);
      if (!campaign) throw ApplicationFailure.nonRetryable(`campaign ${page.campaignId} is not in ${plan.id}@${plan.version}`, 'UnknownCampaign');
      const size = Math.min(Math.max(page.pageSize ?? 500, 1), 2_000);
      const segments = campaign.audience.segments ?? [];
      const inSegments = (userId: string) => (!customers || customers.has(userId)) && segments.every((s) => store.inSegment(plan, s, userId));
      const after = (id: string) => (page.after === undefined || id > page.after) && (!customers || customers.has(id));

      let ids: string[];
      let next: string | undefined;
      if (campaign.audience.stages) {
        const stages = campaign.audience.stages;
        const stageIds = [...store.journeys.values()]
          .filter((j) => after(j.userId) && stages.includes(j.stage))
          .map((j) => j.userId)
          .sort()
          .slice(0, size);
        next = stageIds.length === size ? stageIds[stageIds.length - 1] : undefined;
        ids = stageIds.filter(inSegments);
      } else {
        ids = [...store.profiles.keys()].filter((id) => after(id) && inSegments(id)).sort().slice(0, size);
        next = ids.length === size ? ids[ids.length - 1] : undefined;
      }
      const { signalled, withoutJourney } = await signalBroadcast(client, ids, campaign.id, page.broadcastId);
      store.broadcasts.runs.add(page.broadcastId.split('/')[0]!);
      store.broadcasts.signalled += signalled;
      store.broadcasts.withoutJourney += withoutJourney;
      return { ...(next ? { next } : {}), candidates: ids.length, signalled, withoutJourney };
    },
  } satisfies BroadcastActivities;

  const sim = {
    /**
     * A simulated customer's calls, the way a backend makes them through the API: identify writes the
     * profile (and tells a running journey which traits changed), each event is a signal-with-start of
     * the customer's journey, in order.
     */
    async simTrack(input: SimTrackInput): Promise<void> {
      if (input.profile) {
        store.profiles.set(input.userId, { _id: input.userId, ...input.profile, traits: { ...input.profile.traits }, createdAt: new Date(input.at), updatedAt: new Date(input.at) } as never);
      }
      if (input.profileChange) {
        const profile = store.profiles.get(input.userId);
        if (profile && input.profileChange.unsubscribed === true) profile.unsubscribedAt = new Date(input.at);
        try {
          await client.workflow.getHandle(workflowIdFor(input.userId)).signal(identifyCustomerSignal, { traits: Object.keys(input.profileChange) });
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
      }
      for (const event of input.events) {
        const journeyInput: CustomerJourneyInput = newRunInput(input.userId, definition.definition.id);
        await client.workflow.signalWithStart('customerJourney', {
          workflowId: workflowIdFor(input.userId),
          taskQueue,
          args: [journeyInput],
          signal: trackEventSignal,
          signalArgs: [event],
        });
        store.countEvent(event.event);
      }
    },
  };

  const all = { ...journey, ...readModel, ...broadcast, ...sim };
  // Count the calls (what the simulation cost in activities), keeping each function's own signature.
  for (const [name, fn] of Object.entries(all) as Array<[string, (...args: unknown[]) => Promise<unknown>]>) {
    (all as Record<string, unknown>)[name] = (...args: unknown[]) => {
      store.calls.set(name, (store.calls.get(name) ?? 0) + 1);
      return fn(...args);
    };
  }
  return all;
}

export type SimActivities = ReturnType<typeof createSimActivities>;
