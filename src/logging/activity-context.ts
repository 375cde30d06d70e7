import { Context } from '@temporalio/activity';
import type { LogFields } from './logger.js';

/** Journeys run as workflow `customer-<userId>`; other workflows (broadcasts) name no customer. */
export function userIdOfWorkflow(workflowId: string | undefined): string | undefined {
  return workflowId?.startsWith('customer-') ? workflowId.slice('customer-'.length) : undefined;
}

/**
 * The activity being executed now, for log lines written by our own code inside it: which workflow run
 * asked, which activity and attempt, and whose journey it is. Undefined outside an activity.
 */
export function activityLogFields(): LogFields | undefined {
  let info: Context['info'];
  try {
    info = Context.current().info;
  } catch {
    return undefined;
  }
  const workflowId = info.workflowExecution?.workflowId;
  return {
    workflowId,
    runId: info.workflowExecution?.runId,
    activityType: info.activityType,
    activityId: info.activityId,
    attempt: info.attempt,
    userId: userIdOfWorkflow(workflowId),
  };
}
