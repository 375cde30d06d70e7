import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { getJourneyQuery, isJourneyStarting, type JourneyView } from './contract.js';

export interface TemporalClientOptions {
  address: string;
  namespace: string;
  /** The payload codec and failure converter every client and worker of these journeys shares (journeyDataConverter). */
  dataConverter?: DataConverter;
  /**
   * Connect on first use rather than now: the API starts before Temporal is up and answers 503 meanwhile.
   * Otherwise the connection is made here (wrap the call in retryUntilUp to wait for the server).
   */
  lazy?: boolean;
}

/** The one way a process of ours makes its Temporal client; close it with `client.connection.close()`. */
export async function createTemporalClient(opts: TemporalClientOptions): Promise<Client> {
  const connection = opts.lazy ? Connection.lazy({ address: opts.address }) : await Connection.connect({ address: opts.address });
  return new Client({ connection, namespace: opts.namespace, ...(opts.dataConverter ? { dataConverter: opts.dataConverter } : {}) });
}

/**
 * A customer's journey as the getJourney query shows it. A journey still loading its plan refuses the query for a
 * moment (journeyStartingMessage): it is asked again every 100 ms until `deadline` (epoch ms), then the refusal
 * is thrown. Any other failure is thrown at once.
 */
export async function queryJourney(handle: WorkflowHandle, deadline: number): Promise<JourneyView> {
  for (;;) {
    try {
      return await handle.query(getJourneyQuery);
    } catch (err) {
      if (!isJourneyStarting(err) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
