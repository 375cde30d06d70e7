import { ActivityFailure, continueAsNew, proxyActivities, setCurrentDetails, TimeoutFailure, workflowInfo } from '@temporalio/workflow';
import type { BroadcastActivities, FanOutResult } from '../activities/broadcast-activities.js';
import type { BroadcastInput } from '../src/temporal/contract.js';

const { fanOutBroadcast } = proxyActivities<BroadcastActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * How long a page waits for the worker that keeps its audience's cursor (on that worker's own queue) before any
 * worker takes it: a worker that is gone or restarted never polls its old queue again.
 */
const RESUME_WAIT = '10 seconds';

function notTakenInTime(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof TimeoutFailure && err.cause.timeoutType === 'SCHEDULE_TO_START';
}

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
  let resumeOn = input.resumeOn;
  let signalled = input.signalled ?? 0;
  let withoutJourney = input.withoutJourney ?? 0;
  for (let page = 0; page < 100; page++) {
    const summary = `reach ${input.campaignId} audience${after ? ` after ${after}` : ''}`;
    const args = { campaignId: input.campaignId, broadcastId, definition: input.definition, ...(after ? { after } : {}), ...(input.pageSize ? { pageSize: input.pageSize } : {}) };
    let result: FanOutResult;
    try {
      // The next page goes to the worker that keeps the audience's cursor (a new query elsewhere: on FerretDB a full
      // read); a result without one (any page before workers named their queue) runs on the shared queue, as it did.
      result = await fanOutBroadcast.executeWithOptions(resumeOn ? { summary, taskQueue: resumeOn, scheduleToStartTimeout: RESUME_WAIT } : { summary }, [args]);
    } catch (err) {
      if (!resumeOn || !notTakenInTime(err)) throw err;
      result = await fanOutBroadcast.executeWithOptions({ summary: `${summary} (its worker did not take it)` }, [args]);
    }
    signalled += result.signalled;
    withoutJourney += result.withoutJourney;
    setCurrentDetails(`Broadcast ${input.campaignId} (${broadcastId}): ${signalled} journeys reached, ${withoutJourney} without a journey`);
    if (!result.next) return { signalled, withoutJourney };
    after = result.next;
    resumeOn = result.resumeOn;
  }
  return continueAsNew<typeof broadcastCampaign>({ ...input, broadcastId, after, resumeOn, signalled, withoutJourney });
}
