import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connectDatabase } from '../src/db/models.js';
import { waitFor } from '../test/support/processes.js';
import { ADMIN_KEY, closedLoop, postJson, ratio, rssMiB, say, settledCounter, startBenchStack, summarize, WRITE_KEY, writeResult } from './support.js';

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

/**
 * A population of live journeys on one machine: each customer signs up through POST /v1/batch ("Workout
 * Logged" as a first event: the journey starts in prospect with its nudge series pending as timers), and
 * at checkpoints the benchmark records the start rate since the last one, the worker's and API's resident
 * memory, the database sizes, and how long GET /v1/customers/:id (a workflow query) takes for random
 * customers. The baseline is the first checkpoint: memory and query time must not grow with the population.
 */
export async function population(opts: PopulationOptions): Promise<Record<string, unknown>> {
  const stack = await startBenchStack('population');
  const db = await connectDatabase(stack.env.MONGODB_URI!);
  try {
    const checkpoints: Checkpoint[] = [];
    const settledAtLeast = settledCounter(db.models, (k) => `pop-${k}`);
    const perCheckpoint = Math.ceil(opts.customers / opts.checkpoints);
    let live = 0;
    const started = performance.now();
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
        const batch = [];
        for (let i = from + c * opts.batchSize; i < Math.min(target, from + (c + 1) * opts.batchSize); i++) {
          batch.push({ type: 'track', userId: `pop-${i}`, event: 'Workout Logged', messageId: `pop-${i}-1` });
        }
        const res = await postJson(`${stack.base}/v1/batch`, { authorization: `Bearer ${WRITE_KEY}` }, { batch });
        const body = JSON.parse(res.text) as { accepted: number };
        if (res.status !== 200 || body.accepted !== batch.length) throw new Error(`batch answered ${res.status}, accepted ${body.accepted}/${batch.length}`);
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
        const res = await stack.call('GET', `/v1/customers/pop-${i}`, { key: ADMIN_KEY });
        samples.push(performance.now() - t);
        if (res.status !== 200 || res.body.journey?.stage !== 'prospect') throw new Error(`customer pop-${i}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
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
        `  ${String(live).padStart(7)} live: ${checkpoint.acceptedPerSecond} accepted/s, ${checkpoint.startsPerSecond} settled/s, worker ${checkpoint.workerRssMiB} MiB, api ${checkpoint.apiRssMiB} MiB, ` +
          `temporal db ${checkpoint.temporalDbMiB} MiB, mongo ${checkpoint.mongoMiB} MiB, query p50 ${checkpoint.queryMs.p50} ms p99 ${checkpoint.queryMs.p99} ms`,
      );
    }
    const wallS = (performance.now() - started) / 1000;
    const first = checkpoints[0]!;
    const last = checkpoints[checkpoints.length - 1]!;
    // Pending timers: every journey should be waiting on its nudge series (a visibility count would be exact
    // on a server with advanced visibility; here each sampled query checks the stage and a pending deadline).
    const sample = await stack.call('GET', `/v1/customers/pop-${opts.customers - 1}`, { key: ADMIN_KEY });
    const pendingTimers = (sample.body.journey?.pending ?? []).length;
    const result = {
      options: opts,
      wallSeconds: Math.round(wallS),
      overallStartsPerSecond: Math.round(opts.customers / wallS),
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
    say(`  result: ${writeResult('population', result)}`);
    return result;
  } finally {
    await db.close();
    await stack.stop();
  }
}
