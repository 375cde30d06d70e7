import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createJourneyActivities, type ActivityDeps } from '../../activities/journey-activities.js';
import { createBroadcastActivities } from '../../activities/broadcast-activities.js';
import { DEFAULT_FAN_OUT_WINDOW, type FanOutWindowOptions } from '../../activities/fan-out-window.js';
import { createReadModelActivities } from '../../activities/read-model-activities.js';
import { createIdentityActivities } from '../../activities/identity-activities.js';
import { createOpeningActivities } from '../../activities/opening-activities.js';
import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { BroadcastMetrics } from '../metrics/broadcast-metrics.js';
import { instrumentDelivery, type DeliveryMetrics } from '../metrics/delivery-metrics.js';
import { deliveryTaskQueue, type DeliveryKind } from '../temporal/contract.js';
import type { Config } from '../config/config.js';
import { JourneyWorkers } from './journey-workers.js';
import { DEFAULT_WORKFLOW_THREAD, setWorkflowThread, type PromiseHook, type Watchdog } from './workflow-thread.js';
import { workflowStackFramesHook } from './workflow-stacks.js';

export { JourneyWorkers } from './journey-workers.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

export interface JourneyWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** A prebuilt bundle (tests build one per suite); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkflowBundleOption;
  /** Stack frames the journeys' context captures, when bundling at start (WORKER_WORKFLOW_STACK_FRAMES; see workflow-stacks.ts); V8's 10 unless given. */
  workflowStackFrames?: number;
  /** How workflow code is watched for deadlocks (WORKER_WATCHDOG; see workflow-thread.ts); `thread` unless given. */
  watchdog?: Watchdog;
  /** Whether the SDK's promise hook keeps its compiled readers (WORKER_PROMISE_HOOK; see workflow-thread.ts); `cached` unless given. */
  promiseHook?: PromiseHook;
  maxCachedWorkflows?: number;
  /** Cache size and concurrency from configuration (WORKER_MAX_*); unset fields keep the SDK's defaults. */
  tuning?: { maxCachedWorkflows?: number | undefined; maxConcurrentWorkflowTaskExecutions?: number | undefined; maxConcurrentActivityTaskExecutions?: number | undefined };
  /** A client for activities that signal other workflows (broadcast fan-out). */
  client: Client;
  /** Count deliveries by outcome (the worker's /metrics); tests leave it out. */
  deliveryMetrics?: DeliveryMetrics;
  /** The broadcast fan-out window's state (the worker's /metrics); tests leave it out. */
  broadcastMetrics?: BroadcastMetrics;
  /**
   * The payload codec and failure converter (journeyDataConverter): the same as every client's. A prebuilt
   * workflowBundle must be bundled with its failureConverterPath.
   */
  dataConverter?: DataConverter;
  /** Which queues this process polls: the journeys' own and each delivery queue (all by default). */
  polls?: { journeys: boolean } & Record<DeliveryKind, boolean>;
  /** Per delivery queue: slots in this worker, and the queue's send rate (enforced by the Temporal server across all its workers). */
  delivery?: Partial<Record<DeliveryKind, DeliveryQueueTuning>>;
  /** A broadcast's fan-out waits while this many marketing deliveries are queued (see BROADCAST_MAX_BACKLOG). */
  broadcastMaxBacklog?: number;
  /** A broadcast's fan-out waits while this many workflow tasks are queued on the journeys' queue (see BROADCAST_MAX_JOURNEY_BACKLOG). */
  broadcastMaxJourneyBacklog?: number;
  /** How many journeys a broadcast's fan-out waits on at once (see BROADCAST_MAX_IN_FLIGHT); DEFAULT_FAN_OUT_WINDOW unless given. */
  broadcastInFlight?: FanOutWindowOptions;
}

export interface DeliveryQueueTuning {
  slots?: number | undefined;
  perSecond?: number | undefined;
}

/**
 * Each delivery queue's slots and share of the SendGrid account's send rate: the transactional queue gets
 * SENDGRID_TRANSACTIONAL_SHARE of it, marketing the rest, so the two together stay under the plan's limit
 * and marketing cannot starve transactional.
 */
export function deliveryQueueTuning(
  config: Pick<Config, 'SENDGRID_RATE_PER_SECOND' | 'SENDGRID_TRANSACTIONAL_SHARE' | 'WORKER_TRANSACTIONAL_ACTIVITIES' | 'WORKER_MARKETING_ACTIVITIES'>,
): Record<DeliveryKind, DeliveryQueueTuning> {
  const rate = config.SENDGRID_RATE_PER_SECOND;
  const share = config.SENDGRID_TRANSACTIONAL_SHARE;
  return {
    transactional: { slots: config.WORKER_TRANSACTIONAL_ACTIVITIES, perSecond: rate === undefined ? undefined : rate * share },
    marketing: { slots: config.WORKER_MARKETING_ACTIVITIES, perSecond: rate === undefined ? undefined : rate * (1 - share) },
  };
}

export async function createJourneyWorker(opts: JourneyWorkerOptions): Promise<JourneyWorkers> {
  const journeyActivities = createJourneyActivities(opts.deps);
  if (opts.deliveryMetrics) journeyActivities.deliverMessage = instrumentDelivery(journeyActivities.deliverMessage, opts.deliveryMetrics);
  const readModelActivities = createReadModelActivities(opts.deps);
  const polls = opts.polls ?? { journeys: true, transactional: true, marketing: true };
  const common = {
    connection: opts.connection,
    namespace: opts.namespace,
    ...(opts.dataConverter ? { dataConverter: opts.dataConverter } : {}),
  };
  const workers: Worker[] = [];
  if (polls.journeys) {
    setWorkflowThread({ watchdog: opts.watchdog ?? DEFAULT_WORKFLOW_THREAD.watchdog, promiseHook: opts.promiseHook ?? DEFAULT_WORKFLOW_THREAD.promiseHook });
    // A broadcast's next page comes back to the worker that keeps its audience's cursor, on this process's own queue.
    const ownFanOutQueue = `${opts.taskQueue}-fan-out-${randomUUID()}`;
    const broadcastActivities = createBroadcastActivities({ ...opts.deps, client: opts.client, journeyTaskQueue: opts.taskQueue, maxBacklog: opts.broadcastMaxBacklog, maxJourneyBacklog: opts.broadcastMaxJourneyBacklog, marketingPerSecond: opts.delivery?.marketing?.perSecond, inFlight: opts.broadcastInFlight ?? DEFAULT_FAN_OUT_WINDOW, watchWindow: opts.broadcastMetrics?.watch, resumeOn: ownFanOutQueue });
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: opts.taskQueue,
        ...(opts.workflowBundle
          ? { workflowBundle: opts.workflowBundle }
          : {
              workflowsPath: WORKFLOWS_PATH,
              ...(opts.workflowStackFrames !== undefined ? { bundlerOptions: { webpackConfigHook: workflowStackFramesHook(opts.workflowStackFrames) } } : {}),
            }),
        // Runs from before code version 9 still schedule their deliveries here.
        activities: {
          ...journeyActivities,
          ...readModelActivities,
          ...createOpeningActivities({ ...journeyActivities, ...readModelActivities }, opts.deps.logger),
          ...broadcastActivities,
          ...createIdentityActivities({ models: opts.deps.models, client: opts.client }),
        },
        ...Object.fromEntries(Object.entries(opts.tuning ?? {}).filter(([, v]) => v !== undefined)),
        ...(opts.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: opts.maxCachedWorkflows } : {}),
      }),
      await Worker.create({ ...common, taskQueue: ownFanOutQueue, activities: { fanOutBroadcast: broadcastActivities.fanOutBroadcast } }),
    );
  }
  // The delivery queues: deliverMessage only, with their own slots and the server-side rate of the queue.
  for (const kind of ['transactional', 'marketing'] as const) {
    if (!polls[kind]) continue;
    const tuning = opts.delivery?.[kind];
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: deliveryTaskQueue(opts.taskQueue, kind),
        activities: { deliverMessage: journeyActivities.deliverMessage },
        ...(tuning?.slots !== undefined ? { maxConcurrentActivityTaskExecutions: tuning.slots } : {}),
        ...(tuning?.perSecond !== undefined ? { maxTaskQueueActivitiesPerSecond: tuning.perSecond } : {}),
      }),
    );
  }
  return new JourneyWorkers(workers);
}
