import { Context, log } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { DefinitionRef, JourneyPlan } from '../core/journey-definition.js';
import type { ReadModelBatch } from '../core/journey-facts.js';
import type { ComputedValue, DeliveryOutcome, DeliveryRequest } from '../core/journey-state.js';
import type { LoadedDefinition } from '../definition-store/load-definition.js';
import type { AudienceCheck, JourneyActivities } from '../../activities/journey-activities.js';
import { signalBroadcast, type FanOutPage, type FanOutResult, type BroadcastActivities } from '../../activities/broadcast-activities.js';
import type { ReadModelActivities } from '../../activities/read-model-activities.js';
import { createOpeningActivities } from '../../activities/opening-activities.js';
import { newRunInput, trackEventSignal, identifyCustomerSignal, workflowIdFor, type CustomerJourneyInput } from '../temporal/contract.js';
import { MemoryBackend } from './memory-backend.js';
import type { SimStore } from './memory-store.js';
import type { SimTrackInput } from './track-input.js';
import { receiveMessageSignal, simulatedCustomerId } from './workflows/sim-messages.js';

export interface SimActivityDeps {
  store: SimStore;
  definition: LoadedDefinition;
  client: Client;
  taskQueue: string;
  /** The customers this worker's test server runs (broadcasts reach only them); all when absent. */
  customers?: Set<string>;
}

function activityNow(): number {
  try {
    return Math.max(Date.now(), Context.current().info.currentAttemptScheduledTimestampMs);
  } catch {
    return Date.now();
  }
}

/**
 * The journey's activities with MongoDB and SendGrid replaced by memory: the same names and signatures as
 * activities/*.ts, each carried out by the MemoryBackend the event engine uses too (so both engines keep
 * the same rules). A delivered message reaches the customer's behaviour workflow as a signal.
 */
export function createSimActivities(deps: SimActivityDeps) {
  const { store, definition, client, taskQueue, customers } = deps;
  const backend = new MemoryBackend(store, definition);

  const journey = {
    async loadJourneyPlan(ref: DefinitionRef): Promise<JourneyPlan> {
      return backend.planFor(ref);
    },
    async correctProfile(input: { userId: string; timezone?: string; locale?: string }): Promise<void> {
      backend.correctProfile(input);
    },
    async evaluateSegments(input: { userId: string; definition: Required<DefinitionRef> }): Promise<string[]> {
      return backend.evaluateSegments(input);
    },
    async syncComputedTraits(input: { userId: string; traits: Record<string, ComputedValue>; at: number }): Promise<void> {
      backend.syncComputedTraits(input);
    },
    async syncProfile(input: { userId: string; definition: Required<DefinitionRef>; traits?: Record<string, ComputedValue>; at?: number }): Promise<string[]> {
      if (input.traits && input.at !== undefined) backend.syncComputedTraits({ userId: input.userId, traits: input.traits, at: input.at });
      return backend.evaluateSegments({ userId: input.userId, definition: input.definition });
    },
    async checkAudience(input: AudienceCheck): Promise<{ inAudience: boolean; reason?: string }> {
      return backend.checkAudience(input);
    },
    async deliverMessage(request: DeliveryRequest): Promise<DeliveryOutcome> {
      const { outcome, notice } = await backend.deliver(request, activityNow());
      if (notice) {
        try {
          await client.workflow.getHandle(simulatedCustomerId(request.userId)).signal(receiveMessageSignal, notice);
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
      }
      return outcome;
    },
  } satisfies Omit<JourneyActivities, never>;

  const readModel = {
    async recordJourney(batch: ReadModelBatch): Promise<void> {
      backend.recordJourney(batch);
    },
  } satisfies ReadModelActivities;

  const broadcast = {
    async fanOutBroadcast(page: FanOutPage): Promise<FanOutResult> {
      const { ids, next } = backend.broadcastAudience(page, customers);
      const { signalled, withoutJourney } = await signalBroadcast(client, ids, page.campaignId, page.broadcastId);
      backend.countBroadcast(page.broadcastId, signalled, withoutJourney);
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
      backend.identify(input.userId, input.at, input.profile, input.profileChange);
      if (input.profileChange) {
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

  const all = { ...journey, ...readModel, ...createOpeningActivities({ ...journey, ...readModel }, { warn: (attributes, message) => log.warn(message, { ...attributes }) }), ...broadcast, ...sim };
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
