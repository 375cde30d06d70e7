import type { Client } from '@temporalio/client';
import type { TrackedEvent } from '../core/journey-state.js';
import type { anonymousHistory } from '../../workflows/anonymous-history.js';
import { anonymousWorkflowId, WORKFLOW_TYPES, keepAnonymousCallSignal, linkAnonymousSignal, type AnonymousHistoryInput, type AnonymousLink } from '../temporal/contract.js';
import { UpstreamUnavailable } from '../http/errors.js';

export interface AnonymousHistoriesDeps {
  client: Client;
  taskQueue: string;
  definitionId: string;
  upstreamTimeoutMs: number;
}

/**
 * A visitor's calls before they are identified live in their own workflow (anonymous-<anonymousId>), so
 * they are encrypted, durable and joined to the customer by Temporal, not by this process: every call here
 * is a signal-with-start, answered once Temporal has it.
 */
export class AnonymousHistories {
  constructor(private readonly deps: AnonymousHistoriesDeps) {}

  private options(anonymousId: string) {
    const input: AnonymousHistoryInput = { anonymousId, definitionId: this.deps.definitionId };
    return {
      workflowId: anonymousWorkflowId(anonymousId),
      taskQueue: this.deps.taskQueue,
      args: [input] as [AnonymousHistoryInput],
      workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
      staticSummary: `Calls of anonymous visitor ${anonymousId}`,
    };
  }

  private async viaTemporal(workflowId: string, fn: () => Promise<unknown>): Promise<string> {
    try {
      await this.deps.client.connection.withDeadline(Date.now() + this.deps.upstreamTimeoutMs, fn);
    } catch (err) {
      throw new UpstreamUnavailable('temporal', err);
    }
    return workflowId;
  }

  /** Keep a visitor's event until identify or alias says whose it is. */
  keep(anonymousId: string, event: TrackedEvent): Promise<string> {
    const options = this.options(anonymousId);
    return this.viaTemporal(options.workflowId, () =>
      this.deps.client.workflow.signalWithStart<typeof anonymousHistory, [TrackedEvent]>(WORKFLOW_TYPES.anonymousHistory, { ...options, signal: keepAnonymousCallSignal, signalArgs: [event] }),
    );
  }

  /** The visitor is this customer: their history (and calls still in flight) join the customer's journey. */
  link(anonymousId: string, link: AnonymousLink): Promise<string> {
    const options = this.options(anonymousId);
    return this.viaTemporal(options.workflowId, () =>
      this.deps.client.workflow.signalWithStart<typeof anonymousHistory, [AnonymousLink]>(WORKFLOW_TYPES.anonymousHistory, { ...options, signal: linkAnonymousSignal, signalArgs: [link] }),
    );
  }
}
