import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { Logger } from 'pino';
import type { DefinitionRef } from '../src/core/journey-definition.js';
import type { Models } from '../src/db/models.js';
import type { DefinitionStore } from '../src/definition-store/definition-store.js';
import { deliverBroadcastSignal, deliveryTaskQueue, workflowIdFor } from '../src/temporal/contract.js';

export interface BroadcastDeps {
  models: Models;
  definitions: DefinitionStore;
  /** Signals journeys; the worker hands in its own client. */
  client: Client;
  logger: Logger;
  /** The journeys' task queue (the marketing deliveries' queue is named after it). */
  journeyTaskQueue?: string;
  /**
   * Signal the next journeys only while fewer marketing deliveries than this wait on their queue (a bounded
   * backlog: the fan-out keeps pace with the send rate). Absent: as fast as the signals go.
   */
  maxBacklog?: number | undefined;
  /**
   * The marketing queue's send rate, when it has one: the fan-out signals no faster, so the journeys it wakes
   * are about as many as the sends can take, not a flood of workflow tasks ahead of everyone else's.
   */
  marketingPerSecond?: number | undefined;
}

/** Signals a fan-out sends at once; between two such chunks it checks the backlog and keeps its pace. */
const SIGNAL_CHUNK = 8;
/** A page returns what it reached after this long (waiting on the backlog), well inside the activity's 5 minutes. */
const PAGE_BUDGET_MS = 120_000;

export interface FanOutPage {
  campaignId: string;
  broadcastId: string;
  definition: DefinitionRef;
  /** Resume after this customer id (pages go in _id order). */
  after?: string;
  pageSize?: number;
}

export interface FanOutResult {
  /** Where the next page starts; absent when every candidate was reached. */
  next?: string;
  candidates: number;
  signalled: number;
  /** Candidates without a running journey (a broadcast reaches journeys; it does not start them). */
  withoutJourney: number;
}

/**
 * Tell each customer's journey that a broadcast page reached them, 32 signals at a time; a customer without
 * a journey is counted, not an error. Shared with the simulator's in-memory fan-out.
 */
export async function signalBroadcast(client: Client, userIds: readonly string[], campaignId: string, broadcastId: string): Promise<{ signalled: number; withoutJourney: number }> {
  let signalled = 0;
  let withoutJourney = 0;
  for (let i = 0; i < userIds.length; i += 32) {
    const results = await Promise.all(
      userIds.slice(i, i + 32).map(async (userId) => {
        try {
          await client.workflow.getHandle(workflowIdFor(userId)).signal(deliverBroadcastSignal, { campaignId, broadcastId });
          return true;
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) return false;
          throw err;
        }
      }),
    );
    signalled += results.filter(Boolean).length;
    withoutJourney += results.filter((r) => !r).length;
  }
  return { signalled, withoutJourney };
}

/**
 * Reaching a broadcast's audience, a page at a time. Candidates come from the read model (stage, when the
 * campaign names stages) and the profiles (segments); each journey then decides for itself (it re-checks
 * stage, consent, caps and timing), so a customer who no longer matches is skipped there, with the reason.
 */
export function createBroadcastActivities(deps: BroadcastDeps) {
  const { models, definitions, client, logger } = deps;
  const marketingQueue = deps.journeyTaskQueue === undefined ? undefined : deliveryTaskQueue(deps.journeyTaskQueue, 'marketing');
  /** Marketing deliveries waiting on their queue (Temporal's approximate backlog count); undefined when the server cannot tell. */
  const marketingBacklog = async (): Promise<number | undefined> => {
    if (!marketingQueue) return undefined;
    try {
      const res = await client.workflowService.describeTaskQueue({
        namespace: client.options.namespace,
        taskQueue: { name: marketingQueue, kind: proto.temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        reportStats: true,
      });
      return Number(res.stats?.approximateBacklogCount ?? 0);
    } catch (err) {
      logger.warn({ err: String(err) }, 'cannot read the marketing backlog; the fan-out goes on unpaced');
      return undefined;
    }
  };
  /** Wait while the marketing queue holds maxBacklog deliveries or more: the journeys' own queue stays responsive. */
  const roomInBacklog = async (): Promise<void> => {
    if (deps.maxBacklog === undefined) return;
    for (;;) {
      const backlog = await marketingBacklog();
      if (backlog === undefined || backlog < deps.maxBacklog) return;
      Context.current().heartbeat();
      await Context.current().sleep(250);
    }
  };
  return {
    async fanOutBroadcast(page: FanOutPage): Promise<FanOutResult> {
      const plan = await definitions.plan(page.definition);
      const campaign = plan.campaigns.find((c) => c.id === page.campaignId);
      if (!campaign) throw ApplicationFailure.nonRetryable(`campaign ${page.campaignId} is not in ${plan.id}@${plan.version}`, 'UnknownCampaign');
      const size = Math.min(Math.max(page.pageSize ?? 500, 1), 2_000);
      const after = page.after === undefined ? {} : { _id: { $gt: page.after } };
      const segmentFilters = (campaign.audience.segments ?? []).map((id) => plan.segments.find((s) => s.id === id)!.filter);

      let ids: string[];
      let next: string | undefined;
      if (campaign.audience.stages) {
        const rows = await models.JourneyRecord.find({ ...after, stage: { $in: campaign.audience.stages } }, { _id: 1 })
          .sort({ _id: 1 })
          .limit(size)
          .lean();
        const stageIds = rows.map((r) => String(r._id));
        next = stageIds.length === size ? stageIds[stageIds.length - 1] : undefined;
        ids =
          segmentFilters.length === 0 || stageIds.length === 0
            ? stageIds
            : (await models.Customer.find({ $and: [{ _id: { $in: stageIds } }, ...segmentFilters] }, { _id: 1 }).lean()).map((c) => String(c._id));
      } else {
        const rows = await models.Customer.find({ $and: [after, ...segmentFilters] }, { _id: 1 })
          .sort({ _id: 1 })
          .limit(size)
          .lean();
        ids = rows.map((r) => String(r._id));
        next = ids.length === size ? ids[ids.length - 1] : undefined;
      }

      let signalled = 0;
      let withoutJourney = 0;
      const began = Date.now();
      const gapMs = deps.marketingPerSecond ? (SIGNAL_CHUNK / deps.marketingPerSecond) * 1000 : 0;
      for (let i = 0; i < ids.length; i += SIGNAL_CHUNK) {
        const due = began + (i / SIGNAL_CHUNK) * gapMs;
        if (due > Date.now()) await Context.current().sleep(due - Date.now());
        if (i > 0 && Date.now() - began > PAGE_BUDGET_MS) {
          // Out of time for this page: the next one starts after the last customer reached.
          next = ids[i - 1];
          ids = ids.slice(0, i);
          break;
        }
        await roomInBacklog();
        const chunk = await signalBroadcast(client, ids.slice(i, i + SIGNAL_CHUNK), campaign.id, page.broadcastId);
        signalled += chunk.signalled;
        withoutJourney += chunk.withoutJourney;
      }
      logger.info({ campaignId: campaign.id, broadcastId: page.broadcastId, signalled, withoutJourney }, 'broadcast page');
      return { ...(next ? { next } : {}), candidates: ids.length, signalled, withoutJourney };
    },
  };
}

export type BroadcastActivities = ReturnType<typeof createBroadcastActivities>;
