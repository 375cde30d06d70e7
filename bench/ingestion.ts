import type { customerJourney } from '../workflows/customer-journey.js';
import { newRunInput, trackEventSignal, type CustomerJourneyInput, type TrackedEvent } from '../src/temporal/contract.js';
import { closedLoop, cpuSeconds, median, postJson, ratio, say, settle, startBenchStack, summarize, WRITE_KEY, writeResult, type LatencySummary } from './support.js';

export interface IngestionOptions {
  events: number;
  concurrency: number;
  customers: number;
  batchSize: number;
  rounds: number;
}

interface Phase {
  name: 'raw' | 'track' | 'batch';
  eventsPerSecond: number;
  /** Per call: one signal-with-start, one POST /v1/track, or one POST /v1/batch of batchSize events. */
  latencyMs: LatencySummary;
  errors: number;
  /** CPU the API process used per event in this phase (ms): what the HTTP edge costs on top of the engine. */
  apiCpuMsPerEvent?: number;
}

/**
 * Ingestion against the engine's own ceiling: the raw Temporal client doing signal-with-start (exactly the
 * call the API makes) at the same concurrency, then POST /v1/track, then POST /v1/batch. Phases alternate
 * over several rounds (this machine is noisy) and the median of each is reported.
 */
export async function ingestion(opts: IngestionOptions): Promise<Record<string, unknown>> {
  const stack = await startBenchStack('ingestion');
  try {
    const definition = { id: 'coachinglive' };
    const perCustomer = Math.max(1, Math.round(opts.events / opts.customers));
    let runId = 0;
    const eventFor = (prefix: string, i: number): { userId: string; messageId: string } => ({
      userId: `${prefix}-${Math.floor(i / perCustomer)}`,
      messageId: `${prefix}-e${i}`,
    });

    const raw = async (): Promise<Phase> => {
      const prefix = `raw${++runId}`;
      const r = await closedLoop(opts.events, opts.concurrency, async (i) => {
        const { userId, messageId } = eventFor(prefix, i);
        const input: CustomerJourneyInput = newRunInput(userId, definition.id);
        await stack.client.workflow.signalWithStart<typeof customerJourney, [TrackedEvent]>('customerJourney', {
          workflowId: `customer-${userId}`,
          taskQueue: stack.taskQueue,
          args: [input],
          signal: trackEventSignal,
          signalArgs: [{ messageId, event: 'Workout Logged' }],
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          staticSummary: `Lifecycle journey of customer ${userId}`,
        });
      });
      return { name: 'raw', eventsPerSecond: (r.latencies.length / r.wallMs) * 1000, latencyMs: summarize(r.latencies), errors: r.errors };
    };

    const post = async (path: string, body: unknown) => {
      const res = await postJson(`${stack.base}${path}`, { authorization: `Bearer ${WRITE_KEY}` }, body);
      if (res.status !== 202 && res.status !== 200) throw new Error(`${path} answered ${res.status}: ${res.text.slice(0, 200)}`);
      return res.text;
    };

    const track = async (): Promise<Phase> => {
      const prefix = `track${++runId}`;
      const r = await closedLoop(opts.events, opts.concurrency, async (i) => {
        const { userId, messageId } = eventFor(prefix, i);
        await post('/v1/track', { userId, event: 'Workout Logged', messageId });
      });
      return { name: 'track', eventsPerSecond: (r.latencies.length / r.wallMs) * 1000, latencyMs: summarize(r.latencies), errors: r.errors };
    };

    const batch = async (): Promise<Phase> => {
      const prefix = `batch${++runId}`;
      const calls = Math.ceil(opts.events / opts.batchSize);
      // The API applies a batch's customers 16 at a time: this many batch calls keep as many signals in flight as the other phases.
      const r = await closedLoop(calls, Math.max(1, Math.round(opts.concurrency / 16)), async (c) => {
        const items = [];
        for (let i = c * opts.batchSize; i < Math.min(opts.events, (c + 1) * opts.batchSize); i++) {
          const { userId, messageId } = eventFor(prefix, i);
          items.push({ type: 'track', userId, event: 'Workout Logged', messageId });
        }
        const answer = JSON.parse(await post('/v1/batch', { batch: items })) as { accepted: number };
        if (answer.accepted !== items.length) throw new Error(`batch accepted ${answer.accepted} of ${items.length}`);
      });
      return {
        name: 'batch',
        eventsPerSecond: ((r.latencies.length * opts.batchSize) / r.wallMs) * 1000,
        latencyMs: summarize(r.latencies),
        errors: r.errors,
      };
    };

    // Warm both paths (connections, the worker's workflow bundle) before measuring.
    await closedLoop(50, 10, async (i) => {
      await post('/v1/track', { userId: `warm-${i % 10}`, event: 'Workout Logged', messageId: `warm-${i}` });
    });

    const rounds: Phase[][] = [];
    for (let round = 0; round < opts.rounds; round++) {
      const order = [raw, track, batch];
      // Rotate the order each round so no phase always runs while the worker digests the previous one.
      const phases: Phase[] = [];
      for (let k = 0; k < order.length; k++) {
        // Each phase starts on a stack that has worked off the previous one's backlog.
        await settle(stack);
        const apiCpu = cpuSeconds(stack.api.process.pid);
        const phase = await order[(k + round) % order.length]!();
        const events = phase.name === 'raw' ? 0 : opts.events;
        phases.push(events ? { ...phase, apiCpuMsPerEvent: Math.round(((cpuSeconds(stack.api.process.pid) - apiCpu) * 1000 * 100) / events) / 100 } : phase);
      }
      rounds.push(phases);
      for (const p of phases) {
        const cpu = p.apiCpuMsPerEvent !== undefined ? `  API CPU ${p.apiCpuMsPerEvent} ms/event` : '';
        say(`  round ${round + 1} ${p.name.padEnd(5)} ${p.eventsPerSecond.toFixed(0).padStart(6)} events/s  p50 ${p.latencyMs.p50} ms  p99 ${p.latencyMs.p99} ms  errors ${p.errors}${cpu}`);
      }
    }
    const of = (name: Phase['name']) => rounds.map((r) => r.find((p) => p.name === name)!);
    const med = (name: Phase['name']) => ({
      eventsPerSecond: Math.round(median(of(name).map((p) => p.eventsPerSecond))),
      p50: median(of(name).map((p) => p.latencyMs.p50)),
      p99: median(of(name).map((p) => p.latencyMs.p99)),
      errors: of(name).reduce((a, p) => a + p.errors, 0),
    });
    const summary = { raw: med('raw'), track: med('track'), batch: med('batch') };
    const ratios = {
      trackRateVsRaw: ratio(summary.track.eventsPerSecond, summary.raw.eventsPerSecond),
      trackP99VsRaw: ratio(summary.track.p99, summary.raw.p99),
      batchRateVsRaw: ratio(summary.batch.eventsPerSecond, summary.raw.eventsPerSecond),
    };
    say('');
    say(`ingestion (${opts.events} events over ${opts.customers} customers, concurrency ${opts.concurrency}, batches of ${opts.batchSize}, median of ${opts.rounds} rounds)`);
    say(`  raw signalWithStart  ${summary.raw.eventsPerSecond} events/s  p50 ${summary.raw.p50} ms  p99 ${summary.raw.p99} ms`);
    say(`  POST /v1/track       ${summary.track.eventsPerSecond} events/s  p50 ${summary.track.p50} ms  p99 ${summary.track.p99} ms`);
    say(`  POST /v1/batch       ${summary.batch.eventsPerSecond} events/s  p50 ${summary.batch.p50} ms  p99 ${summary.batch.p99} ms (per batch call)`);
    say(`  track/raw rate ${ratios.trackRateVsRaw}x (goal >= 0.9), track/raw p99 ${ratios.trackP99VsRaw}x (goal <= 2), batch/raw rate ${ratios.batchRateVsRaw}x`);
    const result = { options: opts, summary, ratios, rounds, goalsMet: ratios.trackRateVsRaw >= 0.9 && ratios.trackP99VsRaw <= 2 };
    say(`  result: ${writeResult('ingestion', result)}`);
    return result;
  } finally {
    await stack.stop();
  }
}
