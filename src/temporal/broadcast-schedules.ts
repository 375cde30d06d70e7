import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client, type ScheduleOptionsAction } from '@temporalio/client';
import type { JourneyPlan } from '../core/journey-definition.js';
import { schedulePrefixOf, scheduleIdFor, WORKFLOW_TYPES, type BroadcastInput } from './contract.js';

/**
 * Make the Temporal Schedules match the definition's broadcast campaigns: create what is missing, update
 * what changed, delete schedules of broadcasts the definition no longer has. Idempotent; run at worker start.
 */
export async function syncBroadcastSchedules(client: Client, plan: JourneyPlan, taskQueue: string): Promise<{ created: string[]; updated: string[]; deleted: string[] }> {
  const wanted = new Map<string, { cron: string; timezone: string; campaignId: string }>();
  for (const campaign of plan.campaigns) {
    for (const trigger of campaign.trigger) {
      if (trigger.kind === 'broadcast') wanted.set(scheduleIdFor(plan.id, campaign.id), { ...trigger.broadcast, campaignId: campaign.id });
    }
  }
  const created: string[] = [];
  const updated: string[] = [];
  const deleted: string[] = [];
  for (const [scheduleId, want] of wanted) {
    const args: [BroadcastInput] = [{ campaignId: want.campaignId, definition: { id: plan.id } }];
    const action: ScheduleOptionsAction = {
      type: 'startWorkflow',
      workflowType: WORKFLOW_TYPES.broadcastCampaign,
      args,
      taskQueue,
      workflowId: `${scheduleId}-run`,
      staticSummary: `Broadcast ${want.campaignId}`,
    };
    const spec = { cronExpressions: [want.cron], timezone: want.timezone };
    try {
      await client.schedule.create({ scheduleId, spec, action, policies: { overlap: 'SKIP', catchupWindow: '1 hour' }, memo: { campaignId: want.campaignId } });
      created.push(scheduleId);
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
      updated.push(scheduleId);
    }
  }
  for await (const schedule of client.schedule.list()) {
    if (schedule.scheduleId.startsWith(schedulePrefixOf(plan.id)) && !wanted.has(schedule.scheduleId)) {
      await client.schedule
        .getHandle(schedule.scheduleId)
        .delete()
        .catch((err) => {
          if (!(err instanceof ScheduleNotFoundError)) throw err;
        });
      deleted.push(schedule.scheduleId);
    }
  }
  return { created, updated, deleted };
}
