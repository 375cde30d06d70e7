import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connectDatabase } from '../src/db/models.js';
import { JOURNEY_CODE_VERSION, newRunInput, trackEventSignal, workflowIdFor, type TrackedEvent } from '../src/temporal/contract.js';
import { runEntry, waitFor } from '../test/support/processes.js';
import type { customerJourney } from '../workflows/customer-journey.js';
import { ADMIN_KEY, closedLoop, cpuMsPer, loadAverage, postJson, ratio, rssMiB, say, settle, settledCounter, stackCpu, startBenchStack, summarize, WRITE_KEY, writeResult, type BenchStack, type StackCpu } from './support.js';

export interface PopulationOptions {
  customers: number;
  /** Customers per POST /v1/batch call. */
  batchSize: number;
  /** Batch calls in flight. */
  concurrency: number;
  /** Checkpoints along the way (memory, sizes, a query of one customer). */
  checkpoints: number;
  queriesPerCheckpoint: number;
  /** Journeys started but not yet settled, at most (the benchmark waits before sending more). */
  maxUnsettled: number;
  /**
   * A first population of the same size pinned to this journey code version (started by the bench's own
   * client with the API's signal-with-start, as the current one then is too), for before/after in one run.
   */
  baselineVersion?: number;
  /**
   * Variables the baseline population's worker runs with beside the stack's own (e.g. `WORKER_WORKFLOW_STACK_FRAMES=10`,
   * a worker setting as it was before a change): the bench starts that worker for the baseline, then the stack's own for
   * the current population, each ready and quiet before its phase is measured.
   */
  baselineWorkerEnv?: Record<string, string>;
  /** Journeys started by raw signal-with-start (not waiting for them to settle) for the ceiling of this run. */
  rawStarts: number;
}

function sizeOf(path: string): number {
  try {
    const st = statSync(path);
    if (!st.isDirectory()) return st.size;
    return readdirSync(path).reduce((sum, entry) => sum + sizeOf(join(path, entry)), 0);
  } catch {
    return 0;
  }
}

interface Checkpoint {
  live: number;
  /** Journeys started and settled (first pass recorded) per second since the last checkpoint. */
  startsPerSecond: number;
  /** Events acknowledged (202) per second since the last checkpoint. */
  acceptedPerSecond: number;
  workerRssMiB: number | null;
  apiRssMiB: number | null;
  temporalDbMiB: number;
  mongoMiB: number;
  queryMs: ReturnType<typeof summarize>;
}

interface HistorySample {
  journeys: number;
  /** History events per journey; each journey here had one input (its first event). */
  events: number;
  workflowTasks: number;
  activities: number;
  localActivities: number;
}

interface Phase {
  name: string;
  codeVersion: number;
  checkpoints: Checkpoint[];
  wallSeconds: number;
  settledPerSecond: number;
  /** CPU (ms) each process of the stack used per journey in the phase. */
  cpuMsPerJourney: StackCpu;
  history: HistorySample;
  /** /proc/loadavg (1, 5, 15 minutes) when the phase began and ended. */
  loadAverage: { start: number[]; end: number[] };
}

/** What the histories of a few journeys hold (each journey one input): events, workflow tasks, activities. */
async function sampleHistories(stack: BenchStack, userIds: string[]): Promise<HistorySample> {
  const sums = { events: 0, workflowTasks: 0, activities: 0, localActivities: 0 };
  for (const userId of userIds) {
    const events = (await stack.client.workflow.getHandle(workflowIdFor(userId)).fetchHistory()).events ?? [];
    sums.events += events.length;
    sums.workflowTasks += events.filter((e) => e.workflowTaskCompletedEventAttributes).length;
    sums.activities += events.filter((e) => e.activityTaskScheduledEventAttributes).length;
    sums.localActivities += events.filter((e) => e.markerRecordedEventAttributes).length;
  }
  const mean = (v: number) => Math.round((v / Math.max(1, userIds.length)) * 10) / 10;
  return { journeys: userIds.length, events: mean(sums.events), workflowTasks: mean(sums.workflowTasks), activities: mean(sums.activities), localActivities: mean(sums.localActivities) };
}

/**
 * A population of live journeys on one machine: each customer's first event is "Workout Logged" (the
 * journey starts in prospect with its nudge series pending as timers), and at checkpoints the benchmark
 * records the start rate since the last one, the worker's and API's resident memory, the database sizes,
 * and how long GET /v1/customers/:id (a workflow query) takes for random customers. The baseline is the
 * first checkpoint: memory and query time must not grow with the population. Before the population, the
 * raw signal-with-start rate of new journeys is measured in the same run (the ceiling the settle rate is
 * compared with); with `baselineVersion`, a first population pinned to that journey code version runs
 * before the current one, and CPU and history events per journey are compared between the two.
 */
export async function population(opts: PopulationOptions): Promise<Record<string, unknown>> {
  const stack = await startBenchStack('population');
  const db = await connectDatabase(stack.env.MONGODB_URI!);
  try {
    // Customers as the API starts them: signal-with-start of the journey with the event (the API's own call).
    const signalWithStart = (userId: string, codeVersion: number) =>
      stack.client.workflow.signalWithStart<typeof customerJourney, [TrackedEvent]>('customerJourney', {
        workflowId: workflowIdFor(userId),
        taskQueue: stack.taskQueue,
        args: [newRunInput(userId, 'coachinglive', { codeVersion })],
        signal: trackEventSignal,
        signalArgs: [{ messageId: `${userId}-1`, event: 'Workout Logged' }],
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        staticSummary: `Lifecycle journey of customer ${userId}`,
      });

    // The ceiling of this run: raw signal-with-start of new journeys at 32 in flight, not waiting for them to settle.
    const rawLoad = loadAverage();
    const raw = await closedLoop(opts.rawStarts, 32, async (i) => {
      await signalWithStart(`raw-${i}`, JOURNEY_CODE_VERSION);
    });
    if (raw.errors > 0) throw new Error(`${raw.errors} raw starts failed: ${raw.firstErrors.join('; ')}`);
    const rawPerSecond = (raw.latencies.length / raw.wallMs) * 1000;
    say(`  raw signalWithStart: ${rawPerSecond.toFixed(0)} new journeys/s (${opts.rawStarts}, 32 in flight; load ${rawLoad.join(' ')})`);
    await settle(stack, 0.15, 900_000);

    const grow = async (name: string, prefix: string, codeVersion: number | undefined): Promise<Phase> => {
      const checkpoints: Checkpoint[] = [];
      const settledAtLeast = settledCounter(db.models, (k) => `${prefix}-${k}`);
      // Without a pinned version the population comes in through POST /v1/batch; pinned, through the client's
      // signal-with-start, 16 at a time per batch (as the API applies a batch).
      const send = async (from: number, to: number) => {
        if (codeVersion === undefined) {
          const batch = [];
          for (let i = from; i < to; i++) batch.push({ type: 'track', userId: `${prefix}-${i}`, event: 'Workout Logged', messageId: `${prefix}-${i}-1` });
          const res = await postJson(`${stack.base}/v1/batch`, { authorization: `Bearer ${WRITE_KEY}` }, { batch });
          const body = JSON.parse(res.text) as { accepted: number };
          if (res.status !== 200 || body.accepted !== batch.length) throw new Error(`batch answered ${res.status}, accepted ${body.accepted}/${batch.length}`);
          return;
        }
        const r = await closedLoop(to - from, 16, async (k) => {
          await signalWithStart(`${prefix}-${from + k}`, codeVersion);
        });
        if (r.errors > 0) throw new Error(`${r.errors} starts failed: ${r.firstErrors.join('; ')}`);
      };
      const perCheckpoint = Math.ceil(opts.customers / opts.checkpoints);
      let live = 0;
      const started = performance.now();
      const cpuBefore = stackCpu(stack);
      const loadStart = loadAverage();
      while (live < opts.customers) {
        const target = Math.min(opts.customers, live + perCheckpoint);
        const calls = Math.ceil((target - live) / opts.batchSize);
        const from = live;
        const t0 = performance.now();
        const r = await closedLoop(calls, opts.concurrency, async (c) => {
          // Keep at most maxUnsettled journeys started but not yet through their first pass: a deeper backlog of
          // workflow tasks is dispatched by the dev server at about one a second (seen at 1,474 waiting).
          const upTo = from + c * opts.batchSize;
          await waitFor('the backlog to shrink', async () => upTo - (await settledAtLeast(upTo - opts.maxUnsettled + 1)) < opts.maxUnsettled, 3_600_000, 250);
          await send(from + c * opts.batchSize, Math.min(target, from + (c + 1) * opts.batchSize));
        });
        if (r.errors > 0) throw new Error(`${r.errors} batch calls failed: ${r.firstErrors.join('; ')}`);
        live = target;
        const acceptedPerSecond = ((target - from) / (performance.now() - t0)) * 1000;
        // Started means started and settled: its first pass recorded in the read model (the last thing it does).
        await waitFor(`${live} journeys to settle`, async () => (await settledAtLeast(live)) >= live, 3_600_000, 250);
        const startsPerSecond = ((target - from) / (performance.now() - t0)) * 1000;

        const samples: number[] = [];
        for (let q = 0; q < opts.queriesPerCheckpoint; q++) {
          const i = Math.floor(((q * 7919 + live) % live) || 0);
          const t = performance.now();
          const res = await stack.call('GET', `/v1/customers/${prefix}-${i}`, { key: ADMIN_KEY });
          samples.push(performance.now() - t);
          if (res.status !== 200 || res.body.journey?.stage !== 'prospect') throw new Error(`customer ${prefix}-${i}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        }
        const checkpoint: Checkpoint = {
          live,
          startsPerSecond: Math.round(startsPerSecond),
          acceptedPerSecond: Math.round(acceptedPerSecond),
          workerRssMiB: await rssMiB(stack.worker.process.pid),
          apiRssMiB: await rssMiB(stack.api.process.pid),
          temporalDbMiB: Math.round(sizeOf(join(stack.servers.dataDir, 'temporal.db')) / 2 ** 20 + sizeOf(join(stack.servers.dataDir, 'temporal.db-wal')) / 2 ** 20),
          mongoMiB: Math.round(sizeOf(join(stack.servers.dataDir, 'ferretdb')) / 2 ** 20),
          queryMs: summarize(samples),
        };
        checkpoints.push(checkpoint);
        say(
          `  ${name} ${String(live).padStart(7)} live: ${checkpoint.acceptedPerSecond} accepted/s, ${checkpoint.startsPerSecond} settled/s, worker ${checkpoint.workerRssMiB} MiB, api ${checkpoint.apiRssMiB} MiB, ` +
            `temporal db ${checkpoint.temporalDbMiB} MiB, mongo ${checkpoint.mongoMiB} MiB, query p50 ${checkpoint.queryMs.p50} ms p99 ${checkpoint.queryMs.p99} ms`,
        );
      }
      const wallSeconds = (performance.now() - started) / 1000;
      // The CPU of the queries above is in it too: a few per checkpoint against thousands of journeys.
      const cpuMsPerJourney = cpuMsPer(cpuBefore, stackCpu(stack), opts.customers);
      const sampled = Array.from({ length: Math.min(10, opts.customers) }, (_, k) => `${prefix}-${Math.floor((k * opts.customers) / Math.min(10, opts.customers))}`);
      const phase: Phase = {
        name,
        codeVersion: codeVersion ?? JOURNEY_CODE_VERSION,
        checkpoints,
        wallSeconds: Math.round(wallSeconds),
        settledPerSecond: Math.round((opts.customers / wallSeconds) * 10) / 10,
        cpuMsPerJourney,
        history: await sampleHistories(stack, sampled),
        loadAverage: { start: loadStart, end: loadAverage() },
      };
      say(
        `  ${name} (code version ${phase.codeVersion}): ${phase.settledPerSecond} settled/s over ${phase.wallSeconds} s; CPU per journey: Temporal ${cpuMsPerJourney.temporal} ms, ` +
          `worker ${cpuMsPerJourney.worker} ms, FerretDB ${cpuMsPerJourney.ferretdb} ms, API ${cpuMsPerJourney.api} ms; history per journey (one input): ${phase.history.events} events, ` +
          `${phase.history.workflowTasks} workflow tasks, ${phase.history.activities} activities, ${phase.history.localActivities} local activities; load ${phase.loadAverage.start.join(' ')} -> ${phase.loadAverage.end.join(' ')}`,
      );
      return phase;
    };

    /** Start the stack's worker again with `extra` beside its own variables; ready once it has settled a journey of its own, then quiet. */
    let restarts = 0;
    const restartWorker = async (extra: Record<string, string>) => {
      await stack.worker.stop();
      stack.worker = runEntry('src/worker/main.ts', { ...stack.env, ...extra });
      const probe = `restart-${++restarts}`;
      await signalWithStart(probe, JOURNEY_CODE_VERSION);
      await waitFor(`the restarted worker to settle ${probe}`, async () => (await db.models.JourneyRecord.exists({ _id: probe })) !== null, 300_000);
      await settle(stack, 0.15, 900_000);
    };
    const baselineEnv = opts.baselineVersion === undefined ? undefined : opts.baselineWorkerEnv;
    if (baselineEnv) {
      say(`  baseline worker: ${Object.entries(baselineEnv).map(([k, v]) => `${k}=${v}`).join(' ')}`);
      await restartWorker(baselineEnv);
    }
    const baseline = opts.baselineVersion === undefined ? undefined : await grow('baseline', 'base', opts.baselineVersion);
    if (baseline) await settle(stack, 0.15, 900_000);
    if (baselineEnv) await restartWorker({});
    const current = await grow('current', 'pop', opts.baselineVersion === undefined ? undefined : JOURNEY_CODE_VERSION);
    const { checkpoints } = current;
    const first = checkpoints[0]!;
    const last = checkpoints[checkpoints.length - 1]!;
    // Pending timers: every journey should be waiting on its nudge series (a visibility count would be exact
    // on a server with advanced visibility; here each sampled query checks the stage and a pending deadline).
    const sample = await stack.call('GET', `/v1/customers/pop-${opts.customers - 1}`, { key: ADMIN_KEY });
    const pendingTimers = (sample.body.journey?.pending ?? []).length;
    const versus = (now: number, before: number) => (before > 0 ? ratio(now, before) : null);
    const result = {
      options: opts,
      raw: { startsPerSecond: Math.round(rawPerSecond), latencyMs: summarize(raw.latencies), loadAverage: rawLoad },
      settledPerRaw: ratio(current.settledPerSecond, rawPerSecond),
      baseline,
      current,
      currentToBaseline: baseline
        ? {
            settledPerSecond: versus(current.settledPerSecond, baseline.settledPerSecond),
            temporalCpu: versus(current.cpuMsPerJourney.temporal, baseline.cpuMsPerJourney.temporal),
            workerCpu: versus(current.cpuMsPerJourney.worker, baseline.cpuMsPerJourney.worker),
            historyEvents: versus(current.history.events, baseline.history.events),
          }
        : undefined,
      wallSeconds: current.wallSeconds,
      overallStartsPerSecond: Math.round(current.settledPerSecond),
      checkpoints,
      perJourney: {
        temporalKiB: Math.round(((last.temporalDbMiB * 1024) / opts.customers) * 10) / 10,
        mongoKiB: Math.round(((last.mongoMiB * 1024) / opts.customers) * 10) / 10,
      },
      ratiosLastToFirst: {
        population: ratio(last.live, first.live),
        startRate: ratio(last.startsPerSecond, first.startsPerSecond),
        workerRss: first.workerRssMiB && last.workerRssMiB ? ratio(last.workerRssMiB, first.workerRssMiB) : null,
        queryP50: ratio(last.queryMs.p50, first.queryMs.p50),
      },
      sampleCustomerPending: pendingTimers,
    };
    say('');
    say(`population (${opts.customers} live journeys, each in prospect with its nudge series pending; batches of ${opts.batchSize}, ${opts.concurrency} in flight)`);
    say(`  overall ${result.overallStartsPerSecond} starts/s over ${result.wallSeconds} s; last/first checkpoint (${result.ratiosLastToFirst.population}x the population):`);
    say(`  start rate ${result.ratiosLastToFirst.startRate}x, worker memory ${result.ratiosLastToFirst.workerRss}x (${first.workerRssMiB} -> ${last.workerRssMiB} MiB), query p50 ${result.ratiosLastToFirst.queryP50}x`);
    say(`  per journey: Temporal ${result.perJourney.temporalKiB} KiB, MongoDB ${result.perJourney.mongoKiB} KiB; a sampled journey has ${pendingTimers} pending deadlines`);
    say(`  raw signalWithStart ${result.raw.startsPerSecond}/s, settled ${current.settledPerSecond}/s (code version ${current.codeVersion})`);
    say(`settled / raw signalWithStart: ${result.settledPerRaw.toFixed(2)}x`);
    if (baseline && result.currentToBaseline) {
      const c = result.currentToBaseline;
      say(`  baseline (code version ${baseline.codeVersion}): settled / raw ${ratio(baseline.settledPerSecond, rawPerSecond).toFixed(2)}x`);
      say(
        `  current/baseline: settled ${c.settledPerSecond}x; Temporal CPU per journey ${current.cpuMsPerJourney.temporal} vs ${baseline.cpuMsPerJourney.temporal} ms (${c.temporalCpu}x); ` +
          `worker CPU ${current.cpuMsPerJourney.worker} vs ${baseline.cpuMsPerJourney.worker} ms (${c.workerCpu}x); history events per input ${current.history.events} vs ${baseline.history.events} (${c.historyEvents}x)`,
      );
    }
    say(`  result: ${writeResult('population', result)}`);
    return result;
  } finally {
    await db.close();
    await stack.stop();
  }
}
