import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import webPush from 'web-push';
import { SCOPES } from '../../src/config/config.js';
import { connectDatabase, type Database } from '../../src/db/models.js';
import { freePort } from '../../src/servers/local-servers.js';
import { runEntry, waitFor, type AppProcess } from '../support/processes.js';
import { publicKeyBase64 } from '../support/sendgrid-event-webhook.js';
import { startLocalServers, type LocalServers } from '../support/stack.js';

/** A key holding every scope, so every operation gets past authentication and its input is what is tested. */
export const FUZZ_KEY = 'fuzz-all-scopes-key-0123456789';
const SENDGRID_KEY = 'SG.fuzz-key';

export interface FuzzStack {
  base: string;
  key: string;
  servers: LocalServers;
  api: AppProcess;
  worker: AppProcess | undefined;
  client: Client;
  database: Database;
  env: Record<string, string>;
  /** Signs as SendGrid's Event Webhook does; the API trusts its public key (SENDGRID_WEBHOOK_PUBLIC_KEY). */
  sendgridWebhookKey: KeyObject;
  stop(): Promise<void>;
}

/**
 * The stack the fuzzers run against: Temporal dev server, FerretDB, the local SendGrid-compatible server,
 * our API and (unless told not to) our worker, as their own processes. Without a worker the API is the
 * only writer, so a snapshot taken between two requests changes only by what the request wrote.
 */
export async function startFuzzStack(name: string, opts: { worker: boolean; env?: Record<string, string> }): Promise<FuzzStack> {
  const servers = await startLocalServers(`lifecycle-${name}-`, SENDGRID_KEY);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const database = `lifecycle_${name.replace(/\W/g, '_')}`;
  const sendgridWebhook = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const env = {
    TEMPORAL_ADDRESS: servers.temporal.address,
    MONGODB_URI: servers.ferret.uri(database),
    TASK_QUEUE: `lifecycle-${name}`,
    API_PORT: String(port),
    API_KEYS: `${FUZZ_KEY}=${SCOPES.join('|')}`,
    SENDGRID_API_KEY: SENDGRID_KEY,
    SENDGRID_BASE_URL: servers.sendgrid.url,
    UPSTREAM_TIMEOUT_MS: '5000',
    TEMPORAL_UI_URL: servers.temporal.uiUrl,
    // Payloads encrypted as in production; the rate limits off, or most generated requests would meet a 429.
    PAYLOAD_KEYS: `fuzz:${randomBytes(32).toString('base64')}`,
    RATE_LIMIT_PER_KEY: '0',
    CUSTOMER_EVENTS_PER_SECOND: '0',
    SENDGRID_WEBHOOK_PUBLIC_KEY: publicKeyBase64(sendgridWebhook.publicKey),
    // Every route configured, so what is fuzzed is each route's own checks, not its 404 not_configured:
    // Twilio's callbacks verify X-Twilio-Signature with this token, web push hands out this public key.
    TWILIO_AUTH_TOKEN: randomBytes(16).toString('hex'),
    PUBLIC_URL: base,
    VAPID_PUBLIC_KEY: webPush.generateVAPIDKeys().publicKey,
    ...opts.env,
  };
  const worker = opts.worker ? runEntry('src/worker/main.ts', env) : undefined;
  const api = runEntry('src/api/main.ts', env);
  const ready = async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200;
  await waitFor('the API to be ready', ready, 90_000).catch((err) => {
    throw new Error(`${(err as Error).message}\nAPI output:\n${api.output()}\nworker output:\n${worker?.output() ?? ''}`);
  });
  const client = new Client({ connection: await Connection.connect({ address: servers.temporal.address }) });
  const mongo = await connectDatabase(servers.ferret.uri(database));
  return {
    base,
    key: FUZZ_KEY,
    servers,
    api,
    worker,
    client,
    database: mongo,
    env,
    sendgridWebhookKey: sendgridWebhook.privateKey,
    async stop() {
      await client.connection.close().catch(() => undefined);
      await mongo.close().catch(() => undefined);
      await Promise.all([api.stop(), worker?.stop()]);
      await servers.stop();
    },
  };
}

/** Every collection the API or the worker writes, and every journey run with its history length. */
export interface StackSnapshot {
  collections: Record<string, { count: number; hash: string }>;
  workflows: Record<string, number>;
}

/**
 * Every collection the application keeps: each model's, and the two written without one (identity links and
 * rejected calls), so a new model is watched without being listed here.
 */
function writtenCollections(stack: FuzzStack): string[] {
  const modelled = Object.values(stack.database.models).map((model) => model.collection.collectionName);
  return [...new Set([...modelled, 'identity_links', 'rejected_calls'])].sort();
}

/** Documents in _id order, hashed as JSON text: any change to any field of any document shows. */
export async function snapshot(stack: FuzzStack): Promise<StackSnapshot> {
  const hashes = await Promise.all(
    writtenCollections(stack).map(async (name) => {
      const docs = await stack.database.connection.collection(name).find({}).sort({ _id: 1 }).toArray();
      return [name, { count: docs.length, hash: createHash('sha256').update(JSON.stringify(docs)).digest('hex').slice(0, 16) }] as const;
    }),
  );
  const runs: Array<{ workflowId: string; runId: string }> = [];
  for await (const wf of stack.client.workflow.list({ query: '' })) runs.push({ workflowId: wf.workflowId, runId: wf.runId });
  const lengths = await Promise.all(runs.map((r) => historyLength(stack, r.workflowId, r.runId)));
  return {
    collections: Object.fromEntries(hashes),
    workflows: Object.fromEntries(runs.map((r, i) => [`${r.workflowId}/${r.runId}`, lengths[i]!]).sort(([a], [b]) => String(a).localeCompare(String(b)))),
  };
}

/** The number of events in a run's history (the latest run without a runId); 0 when there is no such workflow. */
export async function historyLength(stack: FuzzStack, workflowId: string, runId?: string): Promise<number> {
  try {
    const info = await stack.client.workflowService.describeWorkflowExecution({
      namespace: stack.client.options.namespace,
      execution: { workflowId, ...(runId ? { runId } : {}) },
    });
    return Number(info.workflowExecutionInfo?.historyLength ?? -1);
  } catch (err) {
    if ((err as { code?: number }).code === 5) return 0; // gRPC NOT_FOUND
    throw err;
  }
}
