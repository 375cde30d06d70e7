import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { connectDatabase, type Database } from '../../src/db/models.js';
import { parseDefinition } from '../../src/definition-store/load-definition.js';
import { freePort, startFerretDb, startTemporalDevServer, type RunningServer } from '../../src/servers/local-servers.js';
import { journeySearchAttributeKeys } from '../../src/temporal/search-attribute-keys.js';
import { testDataConverter } from '../support/codec.js';
import { runEntry, waitFor, type AppProcess } from '../support/processes.js';
import { startSendgridServer, type SendgridServer } from '../support/sendgrid-server.js';
import { apiCaller } from '../support/stack.js';

/** RELIABILITY_FULL=1 (npm run test:reliability) runs the long version: more customers, kills, restarts. */
export const FULL = process.env.RELIABILITY_FULL === '1';
export const KEY = 'reliability-all-scopes-0123456789';
const SENDGRID_KEY = 'SG.reliability-key';

/**
 * The journey the fault suites run: a welcome on "Signed Up" and a trial message on "Trial Started" (both
 * transactional, so consent never skips them), and a trial that ends after `trial` (short in the suites
 * that watch a timer fire across an outage).
 */
export function reliabilityDefinition(trial: string) {
  return {
    id: 'reliability',
    name: 'Reliability (test)',
    initialStage: 'prospect',
    stages: [
      { id: 'prospect', label: 'Prospect' },
      { id: 'trial', label: 'In trial' },
      { id: 'churned', label: 'Churned' },
    ],
    timers: [{ id: 'trial_end', summary: 'trial ends', after: trial, anchor: 'stageEntry', whileIn: ['trial'] }],
    transitions: [
      { from: ['prospect'], on: { event: 'Trial Started' }, to: 'trial' },
      { from: ['trial'], on: { timer: 'trial_end' }, to: 'churned' },
    ],
    segments: [{ id: 'reachable_by_email', filter: { email: { $exists: true } } }],
    campaigns: [
      { id: 'welcome', name: 'Welcome', kind: 'transactional', trigger: { event: 'Signed Up' }, audience: { segments: ['reachable_by_email'] }, message: { template: 'welcome' } },
      { id: 'trial_tips', name: 'Trial tips', kind: 'transactional', trigger: { event: 'Trial Started' }, message: { template: 'trial_tips' } },
    ],
    templates: [
      { id: 'welcome', locales: { en: { subject: 'Welcome, {{ profile.firstName }}', html: '<p>Welcome</p>', text: 'Welcome' } } },
      { id: 'trial_tips', locales: { en: { subject: 'Your trial', html: '<p>Tips</p>', text: 'Tips' } } },
    ],
  };
}

export interface FaultStack {
  base: string;
  env: Record<string, string>;
  sendgrid: SendgridServer;
  temporal: RunningServer;
  ferret: RunningServer & { uri: (db: string) => string };
  api: AppProcess;
  /** Worker processes currently running (the kill suite runs more than one). */
  workers: AppProcess[];
  client: Client;
  database: Database;
  call: ReturnType<typeof apiCaller>;
  /** Start one more worker; resolves once it polls (its "worker running" line). */
  startWorker(): Promise<AppProcess>;
  /** SIGKILL a worker: no shutdown, no cleanup, whatever it was doing is cut off. */
  killWorker(worker: AppProcess): Promise<void>;
  stopTemporal(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** The dev server again, on the same SQLite file, address and UI port. */
  startTemporal(): Promise<void>;
  stopFerret(): Promise<void>;
  startFerret(): Promise<void>;
  stop(): Promise<void>;
}

export async function startFaultStack(name: string, opts: { trial: string; workers?: number; env?: Record<string, string> }): Promise<FaultStack> {
  const dir = mkdtempSync(join(tmpdir(), `lifecycle-${name}-`));
  const definition = reliabilityDefinition(opts.trial);
  const { plan } = parseDefinition(definition, 'reliability definition');
  const searchAttributes = journeySearchAttributeKeys(plan);
  writeFileSync(join(dir, 'reliability.json'), JSON.stringify(definition));
  const dbFile = join(dir, 'temporal.db');
  const temporalPort = await freePort();
  const uiPort = await freePort();
  const [temporal, ferret, sendgrid] = await Promise.all([
    startTemporalDevServer({ dbFile, port: temporalPort, uiPort, searchAttributes }),
    startFerretDb({ dataDir: join(dir, 'ferretdb') }),
    startSendgridServer({ apiKey: SENDGRID_KEY }),
  ]);
  const port = await freePort();
  const dbName = `lifecycle_${name.replace(/\W/g, '_')}`;
  const env: Record<string, string> = {
    TEMPORAL_ADDRESS: temporal.address,
    MONGODB_URI: ferret.uri(dbName),
    TASK_QUEUE: `lifecycle-${name}`,
    API_PORT: String(port),
    API_KEYS: `${KEY}=events:write|customers:read|customers:write`,
    SENDGRID_API_KEY: SENDGRID_KEY,
    SENDGRID_BASE_URL: sendgrid.url,
    DEFINITION_FILE: join(dir, 'reliability.json'),
    UPSTREAM_TIMEOUT_MS: '15000',
    RATE_LIMIT_PER_KEY: '0',
    CUSTOMER_EVENTS_PER_SECOND: '0',
    LOG_LEVEL: 'info',
    ...opts.env,
  };
  const base = `http://127.0.0.1:${port}`;
  const stack: FaultStack = {
    base,
    env,
    sendgrid,
    temporal,
    ferret,
    api: runEntry('src/api/main.ts', env),
    workers: [],
    client: undefined as unknown as Client,
    database: undefined as unknown as Database,
    call: apiCaller(() => base),
    async startWorker() {
      const worker = runEntry('src/worker/main.ts', env);
      stack.workers.push(worker);
      await waitFor('a worker to run', async () => worker.output().includes('"worker running"') || (worker.process.exitCode !== null ? Promise.reject(new Error(worker.output())) : false), 120_000, 50);
      return worker;
    },
    async killWorker(worker) {
      const exited = new Promise<void>((r) => (worker.process.exitCode !== null || worker.process.signalCode !== null ? r() : worker.process.once('exit', () => r())));
      worker.process.kill('SIGKILL');
      await exited;
      stack.workers = stack.workers.filter((w) => w !== worker);
    },
    async stopTemporal(signal = 'SIGTERM') {
      const child = stack.temporal.process;
      const exited = new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));
      if (signal === 'SIGKILL') child.kill('SIGKILL');
      else await stack.temporal.stop();
      await exited;
    },
    async startTemporal() {
      stack.temporal = await startTemporalDevServer({ dbFile, port: temporalPort, uiPort, searchAttributes });
    },
    async stopFerret() {
      await stack.ferret.stop();
    },
    async startFerret() {
      stack.ferret = await startFerretDb({ dataDir: join(dir, 'ferretdb'), port: Number(stack.ferret.address.split(':')[1]) });
    },
    async stop() {
      await stack.client?.connection.close().catch(() => undefined);
      await stack.database?.close().catch(() => undefined);
      await Promise.all([stack.api.stop(), ...stack.workers.map((w) => w.stop())]);
      await Promise.all([stack.temporal.stop(), stack.ferret.stop(), sendgrid.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (let i = 0; i < (opts.workers ?? 1); i++) await stack.startWorker();
    await waitFor('the API to be ready', async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200, 90_000);
  } catch (err) {
    const out = `API output:\n${stack.api.output().slice(-3000)}\nworker output:\n${stack.workers.map((w) => w.output().slice(-3000)).join('\n')}`;
    await stack.stop();
    throw new Error(`${(err as Error).message}\n${out}`, { cause: err });
  }
  stack.client = new Client({ connection: await Connection.connect({ address: temporal.address }), dataConverter: testDataConverter() });
  stack.database = await connectDatabase(ferret.uri(dbName));
  return stack;
}

export interface JourneyMessage {
  key: string;
  campaignId: string;
  status: string;
  reason?: string;
}

/** GET /v1/customers/:userId's journey, or undefined while it cannot answer. */
export async function journeyOf(stack: FaultStack, userId: string) {
  const res = await stack.call('GET', `/v1/customers/${encodeURIComponent(userId)}`, { key: KEY });
  return res.status === 200 ? (res.body.journey as { stage: string; stages: Array<{ stage: string; at: string }>; messages: JourneyMessage[]; stats: { events: number; duplicates: number; runs: number } } | undefined) : undefined;
}

/** Run `fn` over items, at most `limit` at a time. */
export async function inParallel<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!, i);
      }
    }),
  );
  return results;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
