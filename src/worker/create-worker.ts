import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, type WorkflowBundleOption } from '@temporalio/worker';
import { createJourneyActivities, type ActivityDeps } from '../../activities/journey-activities.js';
import { createBroadcastActivities } from '../../activities/broadcast-activities.js';
import { createReadModelActivities } from '../../activities/read-model-activities.js';
import { createIdentityActivities } from '../../activities/identity-activities.js';
import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { instrumentDelivery, type DeliveryMetrics } from '../metrics/delivery-metrics.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

export interface JourneyWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** A prebuilt bundle (tests build one per suite); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkflowBundleOption;
  maxCachedWorkflows?: number;
  /** Cache size and concurrency from configuration (WORKER_MAX_*); unset fields keep the SDK's defaults. */
  tuning?: { maxCachedWorkflows?: number | undefined; maxConcurrentWorkflowTaskExecutions?: number | undefined; maxConcurrentActivityTaskExecutions?: number | undefined };
  /** A client for activities that signal other workflows (broadcast fan-out). */
  client: Client;
  /** Count deliveries by outcome (the worker's /metrics); tests leave it out. */
  deliveryMetrics?: DeliveryMetrics;
  /**
   * The payload codec and failure converter (journeyDataConverter): the same as every client's. A prebuilt
   * workflowBundle must be bundled with its failureConverterPath.
   */
  dataConverter?: DataConverter;
}

export async function createJourneyWorker(opts: JourneyWorkerOptions): Promise<Worker> {
  const journeyActivities = createJourneyActivities(opts.deps);
  if (opts.deliveryMetrics) journeyActivities.deliverMessage = instrumentDelivery(journeyActivities.deliverMessage, opts.deliveryMetrics);
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: {
      ...journeyActivities,
      ...createReadModelActivities(opts.deps),
      ...createBroadcastActivities({ ...opts.deps, client: opts.client }),
      ...createIdentityActivities({ models: opts.deps.models, client: opts.client }),
    },
    ...Object.fromEntries(Object.entries(opts.tuning ?? {}).filter(([, v]) => v !== undefined)),
    ...(opts.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: opts.maxCachedWorkflows } : {}),
    ...(opts.dataConverter ? { dataConverter: opts.dataConverter } : {}),
  });
}
