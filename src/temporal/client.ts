import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';

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
