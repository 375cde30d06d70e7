import { continueAsNew, proxyActivities, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import type { BroadcastActivities } from '../activities/broadcast-activities.js';
import type { BroadcastInput } from '../src/temporal/contract.js';

const { fanOutBroadcast } = proxyActivities<BroadcastActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * One run of a scheduled broadcast (started by its Temporal Schedule): reach every journey in the
 * campaign's audience, a page at a time. Each journey delivers (or skips) on its own terms, so signalling
 * a customer twice after a retry is harmless: the journey applies one broadcast id once.
 */
export async function broadcastCampaign(input: BroadcastInput): Promise<{ signalled: number; withoutJourney: number }> {
  // One id per run, not per workflow id: the schedule names a run after its fire time to the second, so two
  // runs in the same second (a manual trigger beside a scheduled one, two triggers) share a workflow id, and
  // journeys would take the second broadcast for a repeat of the first. The first run id stays the same
  // through continue-as-new (and the id is carried anyway).
  const info = workflowInfo();
  const broadcastId = input.broadcastId ?? `${info.workflowId}/${info.firstExecutionRunId}`;
  let after = input.after;
  let signalled = input.signalled ?? 0;
  let withoutJourney = input.withoutJourney ?? 0;
  for (let page = 0; page < 100; page++) {
    const result = await fanOutBroadcast.executeWithOptions(
      { summary: `reach ${input.campaignId} audience${after ? ` after ${after}` : ''}` },
      [{ campaignId: input.campaignId, broadcastId, definition: input.definition, ...(after ? { after } : {}), ...(input.pageSize ? { pageSize: input.pageSize } : {}) }],
    );
    signalled += result.signalled;
    withoutJourney += result.withoutJourney;
    setCurrentDetails(`Broadcast ${input.campaignId} (${broadcastId}): ${signalled} journeys reached, ${withoutJourney} without a journey`);
    if (!result.next) return { signalled, withoutJourney };
    after = result.next;
  }
  return continueAsNew<typeof broadcastCampaign>({ ...input, broadcastId, after, signalled, withoutJourney });
}
