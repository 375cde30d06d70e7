import { executeChild, sleep } from '@temporalio/workflow';
import type { DefinitionRef } from '../../core/journey-definition.js';
import type { broadcastCampaign } from '../../../workflows/broadcast-campaign.js';

export interface BroadcastClockInput {
  campaignId: string;
  definition: DefinitionRef;
  /** When the broadcast's Temporal Schedule would start a run, worked out from its cron spec. */
  fireTimes: number[];
}

/**
 * Stands in for a broadcast's Temporal Schedule (the time-skipping test server has no schedules): at each
 * fire time it runs the real broadcastCampaign workflow, which reaches the audience's journeys.
 */
export async function broadcastClock(input: BroadcastClockInput): Promise<number> {
  let runs = 0;
  for (const [k, at] of input.fireTimes.entries()) {
    const wait = at - Date.now();
    if (wait > 0) await sleep(wait);
    await executeChild<typeof broadcastCampaign>('broadcastCampaign', {
      workflowId: `broadcast-${input.definition.id}-${input.campaignId}-run-${k}`,
      args: [{ campaignId: input.campaignId, definition: input.definition }],
    });
    runs += 1;
  }
  return runs;
}
