import { gentleKeepalive } from '../temporal/time-skipping.js';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker as Thread } from 'node:worker_threads';
import { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import { Cron } from 'croner';
import type { LoadedDefinition } from '../definition-store/load-definition.js';
import { BIN } from '../servers/local-servers.js';
import { DELIVERY_KINDS, deliveryTaskQueue } from '../temporal/contract.js';
import { ensureSearchAttributes } from '../temporal/search-attributes.js';
import { JourneyWorkers } from '../worker/journey-workers.js';
import type { BehaviourModel } from './behaviour-model.js';
import { runEventEngine } from './event-engine.js';
import { MemoryBackend } from './memory-backend.js';
import { mergeSummaries, SimStore, type SimStoreDump, type SimSummary } from './memory-store.js';
import type { EventThreadMessage, EventThreadRequest } from './event-thread.js';
import { drawCustomer } from './population.js';
import { buildReport, type SimulationReport, type SimulationSpeed } from './report.js';
import { createSimActivities } from './sim-activities.js';
import { broadcastOffsetMs, DAY } from './time-grid.js';
import type { SimulatedCustomerInput } from './workflows/simulated-customer.js';
import { simulatedCustomerId } from './workflows/sim-messages.js';
import { silentLogger } from '../worker/silent-logger.js';

export const SIM_WORKFLOWS_PATH = fileURLToPath(new URL('./workflows/index.ts', import.meta.url));

/** 1 December 2039, 00:00 UTC: a fixed calendar (the same seed gives the same result on any day), with New Year inside the first year. */
export const DEFAULT_START = Date.UTC(2039, 11, 1);

/** Test servers side by side: time skipping serialises each server's work, so a few overlap better than one. */
export const DEFAULT_SHARDS = 4;

/** The simulation ends 30 seconds before midnight: no action, deadline or send falls within a minute of it. */
const END_MARGIN_MS = 30_000;

/**
 * How a simulation runs: `fast` drives the pure journey core on a discrete-event clock in this process
 * (event-engine.ts); `workflow` runs the real journey workflow on the Temporal time-skipping test server.
 * The two give the same stage histories and messages (test/workflows/simulator-engines.test.ts).
 */
export type SimulationEngine = 'fast' | 'workflow';
export const SIMULATION_ENGINES: readonly SimulationEngine[] = ['fast', 'workflow'];

export interface SimulationOptions {
  /** Default `fast`. */
  engine?: SimulationEngine;
  definition: LoadedDefinition;
  definitionFile: string;
  model: BehaviourModel;
  modelName: string;
  customers: number;
  days: number;
  seed: number;
  /** 00:00 UTC of the first simulated day; DEFAULT_START unless given. */
  start?: number;
  /** Leave out the broadcasts (their schedules stood in for by a workflow). */
  broadcasts?: boolean;
  /** With the fast engine: worker threads, each with a share of the customers (the result does not depend on it). */
  threads?: number;
  /** Test servers run side by side, each with a share of the customers (the result does not depend on it). */
  shards?: number;
  /** Worker processes side by side, each running its share of the shards (1: all in this process). */
  processes?: number;
  /** Simulate only customers whose index modulo `of` is `index` (one process's share). */
  part?: { index: number; of: number };
  /** A workflow bundle to reuse (a compare run, tests). */
  bundle?: WorkflowBundle;
  onProgress?: (progress: SimulationProgress) => void;
  signal?: AbortSignal;
}

export interface SimulationProgress {
  day: number;
  days: number;
  signedUp: number;
  customers: number;
  done: boolean;
}

export interface SimulationRun {
  report: SimulationReport;
  speed: SimulationSpeed;
  summary: SimSummary;
  /** The in-memory read model, profiles and deliveries (when the run was in this process), for tests and analysis. */
  store?: SimStore;
}

/** The workflows the simulator runs: the real journey and broadcast workflows, and the simulation's own. */
export async function bundleSimulationWorkflows(): Promise<WorkflowBundle> {
  return bundleWorkflowCode({
    workflowsPath: SIM_WORKFLOWS_PATH,
    logger: silentLogger,
  });
}

/** Only errors from the Temporal runtime (a simulation makes many expected retries and cancellations). */
export function installQuietRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [], telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } } });
  } catch {
    // Installed already (a test process): keep that one.
  }
}

/** When a broadcast's schedule would fire between `start` and `end`, offset a little per run (time-grid.ts). */
export function broadcastFireTimes(cron: string, timezone: string, start: number, end: number): number[] {
  const job = new Cron(cron, { timezone, paused: true });
  const times: number[] = [];
  let from = new Date(start - 1);
  for (;;) {
    const next = job.nextRun(from);
    if (!next || next.getTime() >= end) break;
    const at = next.getTime() + broadcastOffsetMs(times.length);
    if (at < end) times.push(at);
    from = next;
  }
  return times;
}

/**
 * Simulate synthetic customers with a journey definition and a behaviour model, and report the KPIs at the
 * end: the programmatic entry point (the CLI, the compare run and a publish gate call it). The same
 * definition, model, seed and size give the same report with either engine.
 */
export async function runSimulation(opts: SimulationOptions): Promise<SimulationRun> {
  const start = opts.start ?? DEFAULT_START;
  const end = start + opts.days * DAY - END_MARGIN_MS;
  if (!Number.isInteger(opts.customers) || opts.customers < 1) throw new Error('--customers must be a whole number from 1');
  if (!Number.isInteger(opts.days) || opts.days < 1) throw new Error('--days must be a whole number from 1');
  const engine = opts.engine ?? 'fast';
  switch (engine) {
    case 'fast':
      return runFast(opts, start, end);
    case 'workflow':
      return runWorkflows(opts, start, end);
    default:
      throw new Error(`unknown engine ${String(engine satisfies never)}: fast or workflow`);
  }
}

function broadcastsOf(opts: SimulationOptions, start: number, end: number): Array<{ campaignId: string; fireTimes: number[] }> {
  if (opts.broadcasts === false) return [];
  return opts.definition.plan.campaigns.flatMap((campaign) =>
    campaign.trigger.flatMap((trigger) =>
      trigger.kind === 'broadcast' ? [{ campaignId: campaign.id, fireTimes: broadcastFireTimes(trigger.broadcast.cron, trigger.broadcast.timezone, start, end) }] : [],
    ),
  );
}

/** A worker thread does not inherit tsx's loader: it registers it, then loads the engine's thread in TypeScript. */
const EVENT_THREAD_BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./event-thread.ts', import.meta.url).href)}); });`;

/** Threads of the fast engine by default: one per core, at most 4 (customers are independent, so any split gives the same result). */
export const DEFAULT_THREADS = Math.max(1, Math.min(4, availableParallelism()));

/**
 * The event engine: the customers split over worker threads (or all in this process with one thread), each
 * on a discrete-event clock of its own; their stores are added up.
 */
async function runFast(opts: SimulationOptions, start: number, end: number): Promise<SimulationRun> {
  const wallStart = performance.now();
  const store = new SimStore();
  const threads = Math.max(1, Math.min(opts.threads ?? DEFAULT_THREADS, opts.customers));
  const run = { customers: opts.customers, days: opts.days, seed: opts.seed, start, end, broadcasts: broadcastsOf(opts, start, end) };
  const progress = (day: number, signedUp: number) => opts.onProgress?.({ day, days: opts.days, signedUp, customers: opts.customers, done: day === opts.days });
  if (threads === 1) {
    await runEventEngine(new MemoryBackend(store, opts.definition), opts.model, { ...run, onDay: progress, ...(opts.signal ? { signal: opts.signal } : {}) });
  } else {
    const days = new Array<number>(threads).fill(0);
    const signedUp = new Array<number>(threads).fill(0);
    const workers: Thread[] = [];
    const stop = () => workers.forEach((w) => void w.terminate());
    opts.signal?.addEventListener('abort', stop, { once: true });
    try {
      const dumps = await Promise.all(
        Array.from({ length: threads }, (_, index) => {
          const request: EventThreadRequest = { definitionRaw: opts.definition.raw, definitionFile: opts.definitionFile, model: opts.model, run: { ...run, part: { index, of: threads } } };
          const worker = new Thread(EVENT_THREAD_BOOTSTRAP, { eval: true, workerData: request });
          workers.push(worker);
          return new Promise<SimStoreDump>((resolve, reject) => {
            worker.on('message', (message: EventThreadMessage) => {
              switch (message.type) {
                case 'day':
                  days[index] = message.day;
                  signedUp[index] = message.signedUp;
                  if (Math.min(...days) === message.day) progress(message.day, signedUp.reduce((a, b) => a + b, 0));
                  break;
                case 'done':
                  resolve(message.store);
                  break;
                case 'failed':
                  reject(new Error(message.error));
                  break;
              }
            });
            worker.on('error', reject);
            worker.on('exit', (code) => reject(new Error(opts.signal?.aborted ? 'aborted' : `a simulation thread ended early (exit code ${code})`)));
          });
        }),
      );
      for (const dump of dumps) store.absorb(dump);
    } finally {
      opts.signal?.removeEventListener('abort', stop);
      stop();
    }
  }
  const summary = store.summary();
  const report = reportOf(summary, opts, start, end);
  const wallMs = performance.now() - wallStart;
  const customerYears = (opts.customers * opts.days) / 365;
  return { report, store, summary, speed: { engine: 'fast', wallMs, simulatingMs: wallMs, customerYears, customerYearsPerMinute: customerYears / (wallMs / 60_000) } };
}

/**
 * Run synthetic customers through the real journey workflow on the time-skipping test server, with the
 * journey's activities in memory. Everything it starts is stopped before it returns (or throws, or is aborted).
 */
async function runWorkflows(opts: SimulationOptions, start: number, end: number): Promise<SimulationRun> {
  const wallStart = performance.now();
  if ((opts.processes ?? 1) > 1 && !opts.part) return runInProcesses(opts, start, end, wallStart);
  const shards = Math.max(1, Math.min(opts.shards ?? DEFAULT_SHARDS, opts.customers));
  installQuietRuntime();

  const envs = new Set<TestWorkflowEnvironment>();
  let aborted = false;
  const stopAll = async () => {
    const all = [...envs];
    envs.clear();
    await Promise.all(all.map((e) => e.teardown().catch(() => undefined)));
  };
  const workers = new Set<Worker>();
  // Stop the workers first: a test server torn down under a running worker leaves its calls failing.
  const onAbort = () => {
    aborted = true;
    for (const worker of workers) {
      try {
        worker.shutdown();
      } catch {
        // not running yet, or stopping already
      }
    }
    if (workers.size === 0) void stopAll();
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const bundle = opts.bundle ?? (await bundleSimulationWorkflows());
    const store = new SimStore();
    const daysDone = new Array<number>(shards).fill(0);
    const broadcasts = broadcastsOf(opts, start, end);
    let simulatingStart = Infinity;

    // Customers are independent: each shard runs every n-th of them on a test server of its own, so the
    // servers' time skipping proceeds side by side. A shard's broadcasts reach that shard's customers.
    const runShard = async (shard: number) => {
      const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: BIN.temporalTestServer } }, plugins: [gentleKeepalive] });
      envs.add(env);
      if (aborted) throw new Error('aborted');
      const namespace = env.namespace ?? 'default';
      await ensureSearchAttributes(env.connection, namespace, opts.definition.plan);
      const now = await env.currentTimeMs();
      if (start <= now) throw new Error(`the simulation must start in the future of the test server's clock (${new Date(now).toISOString()})`);
      await env.sleep(start - now);

      // A plain client: the test environment's own would lock and unlock time skipping around results.
      const client = new Client({ connection: env.connection, namespace });
      const taskQueue = 'simulation';
      const part = opts.part ?? { index: 0, of: 1 };
      const mine = Array.from({ length: opts.customers }, (_, i) => i).filter((i) => i % part.of === part.index);
      const indexes = mine.filter((_, k) => k % shards === shard);
      const drawn = indexes.map((i) => drawCustomer(opts.model, opts.seed, i, start));
      const activities = createSimActivities({ store, definition: opts.definition, client, taskQueue, customers: new Set(drawn.map((d) => d.customer.userId)) });
      const worker = await Worker.create({
        connection: env.nativeConnection,
        namespace,
        taskQueue,
        workflowBundle: bundle,
        activities,
        maxCachedWorkflows: drawn.length * 2 + 100,
        maxConcurrentWorkflowTaskExecutions: 100,
        maxConcurrentActivityTaskExecutions: 200,
        maxConcurrentLocalActivityExecutions: 200,
        reuseV8Context: true,
      });
      // Journeys of code version 9 on send on a delivery queue per kind (as createJourneyWorker polls them).
      const deliveryWorkers = await Promise.all(
        DELIVERY_KINDS.map((kind) =>
          Worker.create({ connection: env.nativeConnection, namespace, taskQueue: deliveryTaskQueue(taskQueue, kind), activities: { deliverMessage: activities.deliverMessage }, maxConcurrentActivityTaskExecutions: 200 }),
        ),
      );
      const shardWorkers = [worker, ...deliveryWorkers];
      simulatingStart = Math.min(simulatingStart, performance.now());
      for (const w of shardWorkers) workers.add(w);
      try {
        await new JourneyWorkers(shardWorkers).runUntil(async () => {
          if (aborted) return; // let the worker start and stop cleanly
          for (const { campaignId, fireTimes } of broadcasts) {
            await client.workflow.start('broadcastClock', {
              workflowId: `broadcast-clock-${campaignId}`,
              taskQueue,
              args: [{ campaignId, definition: { id: opts.definition.plan.id }, fireTimes }],
            });
          }
          for (let i = 0; i < drawn.length; i += 50) {
            await Promise.all(
              drawn.slice(i, i + 50).map(({ customer, profile }) => {
                const input: SimulatedCustomerInput = { customer, profile, model: opts.model, start, end };
                return client.workflow.start('simulatedCustomer', { workflowId: simulatedCustomerId(customer.userId), taskQueue, args: [input] });
              }),
            );
          }
          for (let day = 1; day <= opts.days; day++) {
            if (aborted) throw new Error('aborted');
            const target = day === opts.days ? end : start + day * DAY - END_MARGIN_MS;
            const current = await env.currentTimeMs();
            if (target > current) await env.sleep(target - current);
            daysDone[shard] = day;
            const slowest = Math.min(...daysDone);
            opts.onProgress?.({ day: slowest, days: opts.days, signedUp: store.profiles.size, customers: opts.customers, done: slowest === opts.days });
          }
        });
      } finally {
        // The connection can close only once the workers have let go of it.
        for (const w of shardWorkers) {
          workers.delete(w);
          while (!['STOPPED', 'FAILED'].includes(w.getState())) await new Promise((r) => setTimeout(r, 50));
        }
        envs.delete(env);
        await env.teardown().catch(() => undefined);
      }
    };
    // Every shard settles (and cleans up) before the first failure, if any, is thrown.
    const settled = await Promise.allSettled(Array.from({ length: shards }, (_, shard) => runShard(shard)));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw aborted ? new Error('aborted') : failed.reason;
    const simulatingMs = performance.now() - Math.min(simulatingStart, performance.now());
    const summary = store.summary();
    const report = reportOf(summary, opts, start, end);
    await stopAll();
    const wallMs = performance.now() - wallStart;
    const customerYears = (opts.customers * opts.days) / 365;
    return { report, store, summary, speed: { engine: 'workflow', wallMs, simulatingMs, customerYears, customerYearsPerMinute: customerYears / (wallMs / 60_000) } };
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await stopAll();
  }
}

export const SHARD_PROCESS_PATH = fileURLToPath(new URL('./shard-process.ts', import.meta.url));

/** What a shard process is asked to run, and what it answers (over the IPC channel). */
export interface ShardRequest {
  definitionRaw: unknown;
  definitionFile: string;
  model: BehaviourModel;
  modelName: string;
  customers: number;
  days: number;
  seed: number;
  start: number;
  broadcasts: boolean;
  shards: number;
  part: { index: number; of: number };
}
export type ShardMessage =
  | { type: 'progress'; progress: SimulationProgress }
  | { type: 'done'; summary: SimSummary; simulatingMs: number }
  | { type: 'failed'; error: string };

/** The report of a run, however its customers were split over servers and processes. */
function reportOf(summary: Parameters<typeof buildReport>[0], opts: SimulationOptions, start: number, end: number): SimulationReport {
  return buildReport(summary, {
    definition: opts.definition,
    definitionFile: opts.definitionFile,
    model: opts.modelName,
    seed: opts.seed,
    customers: opts.customers,
    days: opts.days,
    start,
    end,
    broadcastCampaigns: opts.broadcasts === false ? [] : opts.definition.plan.campaigns.filter((c) => c.trigger.some((t) => t.kind === 'broadcast')).map((c) => c.id),
  });
}

/** Run the customers split over child processes (each with its own test servers and worker), and add up their results. */
async function runInProcesses(opts: SimulationOptions, start: number, end: number, wallStart: number): Promise<SimulationRun> {
  const { fork } = await import('node:child_process');
  const n = Math.min(opts.processes ?? 1, opts.customers);
  const shardsEach = Math.max(1, Math.ceil((opts.shards ?? DEFAULT_SHARDS) / n));
  const progress = new Array<SimulationProgress | undefined>(n).fill(undefined);
  const children = Array.from({ length: n }, () => fork(SHARD_PROCESS_PATH, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }));
  const stop = () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  };
  opts.signal?.addEventListener('abort', stop, { once: true });
  try {
    const results = await Promise.all(
      children.map(
        (child, index) =>
          new Promise<{ summary: SimSummary; simulatingMs: number }>((resolve, reject) => {
            child.on('message', (message: ShardMessage) => {
              if (message.type === 'progress') {
                progress[index] = message.progress;
                if (progress.every(Boolean)) {
                  const day = Math.min(...progress.map((p) => p!.day));
                  opts.onProgress?.({ day, days: opts.days, signedUp: progress.reduce((sum, p) => sum + p!.signedUp, 0), customers: opts.customers, done: day === opts.days });
                }
              } else if (message.type === 'done') resolve(message);
              else reject(new Error(message.error));
            });
            child.on('exit', (code, signal) => reject(new Error(opts.signal?.aborted ? 'aborted' : `a simulation process ended early (${signal ?? `exit code ${code}`})`)));
            const request: ShardRequest = {
              definitionRaw: opts.definition.raw,
              definitionFile: opts.definitionFile,
              model: opts.model,
              modelName: opts.modelName,
              customers: opts.customers,
              days: opts.days,
              seed: opts.seed,
              start,
              broadcasts: opts.broadcasts !== false,
              shards: shardsEach,
              part: { index, of: n },
            };
            child.send(request);
          }),
      ),
    );
    const summary = mergeSummaries(results.map((r) => r.summary));
    const report = reportOf(summary, opts, start, end);
    const wallMs = performance.now() - wallStart;
    const customerYears = (opts.customers * opts.days) / 365;
    const simulatingMs = Math.max(...results.map((r) => r.simulatingMs));
    return { report, summary, speed: { engine: 'workflow', wallMs, simulatingMs, customerYears, customerYearsPerMinute: customerYears / (wallMs / 60_000) } };
  } finally {
    opts.signal?.removeEventListener('abort', stop);
    stop();
  }
}
