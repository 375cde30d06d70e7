import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { Models } from '../src/db/models.js';
import { IdentityStore } from '../src/ingest/identity-store.js';
import { joinAnonymousSignal, newRunInput, WORKFLOW_TYPES, workflowIdFor, type AnonymousJoin, type AnonymousLink } from '../src/temporal/contract.js';

export interface IdentityDeps {
  models: Models;
  /** Signals journeys (signal-with-start); the worker hands in its own client. */
  client: Client;
}

export function createIdentityActivities(deps: IdentityDeps) {
  const identities = new IdentityStore(deps.models.Customer.db);
  return {
    /** The customer an anonymousId was linked to (identify or alias), if it was. */
    async lookupAnonymousLink(args: { anonymousId: string }): Promise<AnonymousLink | undefined> {
      const link = await identities.linkOf(args.anonymousId);
      return link ? { userId: link.userId, via: link.via === 'alias' ? 'alias' : 'identify' } : undefined;
    },

    /** Hand a visitor's history to the customer's journey, starting it if it does not run (signal-with-start). */
    async handOverAnonymousHistory(args: { anonymousId: string; definitionId: string; userId: string; join: AnonymousJoin }): Promise<void> {
      await deps.client.workflow.signalWithStart(WORKFLOW_TYPES.customerJourney, {
        workflowId: workflowIdFor(args.userId),
        taskQueue: Context.current().info.taskQueue,
        args: [newRunInput(args.userId, args.definitionId)],
        signal: joinAnonymousSignal,
        signalArgs: [args.join],
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        staticSummary: `Lifecycle journey of customer ${args.userId}`,
      });
    },
  };
}

export type IdentityActivities = ReturnType<typeof createIdentityActivities>;
