import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { connectDatabase, type Database } from '../../src/db/models.js';
import { freeClusterPorts, portsFromBase, startCluster, type Cluster } from '../../src/servers/cluster.js';
import { TEST_PAYLOAD_KEYS, testDataConverter } from '../support/codec.js';
import { startSendgridServer, type SendgridServer } from '../support/sendgrid-server.js';
import { apiCaller } from '../support/stack.js';

/** Skipped only when asked to (LIFECYCLE_SKIP_CLUSTER=1, as for the install); a missing part otherwise fails. */
export const skipCluster = process.env.LIFECYCLE_SKIP_CLUSTER === '1' ? 'LIFECYCLE_SKIP_CLUSTER=1' : false;

export const WRITE_KEY = 'cluster-writer-key-0123456789';
export const READ_KEY = 'cluster-reader-key-0123456789';
export const ADMIN_KEY = 'cluster-admin-key-0123456789';
const SENDGRID_KEY = 'SG.cluster-key';

/**
 * The cluster of `npm run start:cluster` (src/servers/cluster.ts) in a fresh temporary folder, with the
 * SendGrid-compatible server our workers deliver to. CLUSTER_TEST_PORT_BASE=n puts every port at n + offset
 * (for a machine shared with other stacks); free ports otherwise.
 */
export interface ClusterStack {
  cluster: Cluster;
  sendgrid: SendgridServer;
  client: Client;
  database: Database;
  taskQueue: string;
  /** Calls through the front address (HAProxy). */
  call: ReturnType<typeof apiCaller>;
  /** The tail of one process's log, for a failure message. */
  log(name: string): string;
  stop(): Promise<void>;
}

export async function startClusterStack(name: string, opts: { definition?: unknown; env?: Record<string, string> } = {}): Promise<ClusterStack> {
  const dataDir = mkdtempSync(join(tmpdir(), `lifecycle-cluster-${name}-`));
  const sendgrid = await startSendgridServer({ apiKey: SENDGRID_KEY });
  const base = process.env.CLUSTER_TEST_PORT_BASE ? Number(process.env.CLUSTER_TEST_PORT_BASE) : undefined;
  const ports = base ? portsFromBase(base) : await freeClusterPorts();
  const taskQueue = `lifecycle-cluster-${name}`;
  const env: Record<string, string> = {
    TASK_QUEUE: taskQueue,
    API_KEYS: `${WRITE_KEY}=events:write,${READ_KEY}=customers:read,${ADMIN_KEY}=events:write|customers:read|customers:write|codec:decode`,
    PAYLOAD_KEYS: TEST_PAYLOAD_KEYS,
    SENDGRID_API_KEY: SENDGRID_KEY,
    SENDGRID_BASE_URL: sendgrid.url,
    UPSTREAM_TIMEOUT_MS: '5000',
    RATE_LIMIT_PER_KEY: '0',
    CUSTOMER_EVENTS_PER_SECOND: '0',
    LOG_LEVEL: 'info',
    ...opts.env,
  };
  if (opts.definition) {
    const file = join(dataDir, 'definition.json');
    writeFileSync(file, JSON.stringify(opts.definition));
    env.DEFINITION_FILE = file;
  }
  let cluster: Cluster;
  try {
    cluster = await startCluster({ dataDir, ports, appEnv: env });
  } catch (err) {
    await sendgrid.close();
    // Each log on its own: a process that never started has none, and the others still tell why.
    const tail = (n: string) => {
      try {
        return readFileSync(join(dataDir, 'logs', `${n}.log`), 'utf8').slice(-1_500);
      } catch {
        return '(no log)';
      }
    };
    const logs = ['postgresql', 'temporal-history', 'temporal-matching', 'temporal-frontend', 'temporal-worker', 'worker-1', 'api-1'].map((n) => `--- ${n}\n${tail(n)}`).join('\n');
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${logs}`, { cause: err });
  }
  const client = new Client({ connection: await Connection.connect({ address: cluster.temporalAddress }), namespace: cluster.namespace, dataConverter: testDataConverter() });
  const database = await connectDatabase(cluster.mongoUri);
  return {
    cluster,
    sendgrid,
    client,
    database,
    taskQueue,
    call: apiCaller(() => cluster.frontUrl),
    log: (n) => {
      try {
        return readFileSync(join(dataDir, 'logs', `${n}.log`), 'utf8').slice(-3_000);
      } catch {
        return '(no log)';
      }
    },
    async stop() {
      await client.connection.close().catch(() => undefined);
      await database.close().catch(() => undefined);
      await cluster.stop();
      await sendgrid.close();
      if (process.env.CLUSTER_TEST_KEEP !== '1') rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
