import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { FanOutResult } from '../../activities/broadcast-activities.js';
import type { BroadcastInput } from '../../src/temporal/contract.js';
import { JourneyWorkers } from '../../src/worker/create-worker.js';
import type { broadcastCampaign } from '../../workflows/broadcast-campaign.js';

/**
 * A broadcast on a real worker whose fan-out has not answered yet: the `__stack_trace` query then (the Temporal
 * UI's Stack Trace tab: each pending promise's stack, from the SDK's promise hook), and the run's result once
 * the fan-out answers. `maxCachedWorkflows: 0` makes each activation replay the ones before.
 */
export async function pendingBroadcast(
  env: TestWorkflowEnvironment,
  bundle: WorkflowBundleWithSourceMap,
  taskQueue: string,
  maxCachedWorkflows?: number,
): Promise<{ stacks: string; result: unknown }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let asked!: () => void;
  const fanOutAsked = new Promise<void>((resolve) => (asked = resolve));
  const fanOutBroadcast = async (): Promise<FanOutResult> => {
    asked();
    await released;
    return { candidates: 0, signalled: 0, withoutJourney: 0 };
  };
  const workers = new JourneyWorkers([
    await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue,
      workflowBundle: bundle,
      activities: { fanOutBroadcast },
      ...(maxCachedWorkflows === undefined ? {} : { maxCachedWorkflows }),
    }),
  ]);
  return workers.runUntil(async () => {
    const handle = await env.client.workflow.start<typeof broadcastCampaign>('broadcastCampaign', {
      workflowId: `${taskQueue}-run`,
      taskQueue,
      args: [{ campaignId: 'daily_brief', definition: { id: 'coachinglive' }, broadcastId: 'b1' } satisfies BroadcastInput],
    });
    await fanOutAsked;
    const stacks = await handle.query<string>('__stack_trace');
    release();
    return { stacks, result: await handle.result() };
  });
}
