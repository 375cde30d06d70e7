import type proto from '@temporalio/proto';
import { waitFor } from '../test/support/processes.js';
import { ADMIN_KEY, ratio, say, startBenchStack, summarize, WRITE_KEY, writeResult } from './support.js';

type IEvent = proto.temporal.api.history.v1.IHistoryEvent;

export interface BusyOptions {
  rate: number;
  seconds: number;
  /** Every this many events, the same event is sent again: it must be applied once. */
  duplicateEvery: number;
  /** The overload phase: this many events per second for burstSeconds, to see the API push back. */
  burstRate: number;
  burstSeconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (t: IEvent['eventTime']) => Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);

/**
 * One customer sending `rate` events a second for `seconds`: every event acknowledged with 202 is applied
 * exactly once (across continue-as-new), and the latency from the server accepting the signal to the
 * workflow task that handled it completing is read from the journey's own history (no polling, no extra
 * load). Then an overload burst: the API answers 429 with Retry-After, never 5xx, and what it accepted is
 * applied.
 */
export async function busy(opts: BusyOptions): Promise<Record<string, unknown>> {
  // The API's default limits (per key, per customer) are on: the overload phase is about them.
  const stack = await startBenchStack('busy', { RATE_LIMIT_PER_KEY: '200', CUSTOMER_EVENTS_PER_SECOND: '20' });
  try {
    const userId = 'busy-1';
    const workflowId = `customer-${userId}`;
    const statuses = new Map<number, number>();
    const ackMs: number[] = [];
    let accepted = 0;
    let repeats = 0;
    let seq = 0;
    let retryAfterMissing = 0;
    let measuring = true;
    const send = async (messageId: string): Promise<number> => {
      const t0 = performance.now();
      const res = await fetch(`${stack.base}/v1/track`, {
        method: 'POST',
        headers: { authorization: `Bearer ${WRITE_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId, event: 'Workout Logged', messageId }),
      });
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 429 && !res.headers.get('retry-after')) retryAfterMissing += 1;
      if (res.status === 202 && measuring) ackMs.push(performance.now() - t0);
      return res.status;
    };

    // Steady phase: open loop at `rate`.
    const steady: Promise<void>[] = [];
    const total = opts.rate * opts.seconds;
    const begin = performance.now();
    let lastReport = begin;
    for (let i = 0; i < total; i++) {
      const wait = begin + (i * 1000) / opts.rate - performance.now();
      if (wait > 0) await sleep(wait);
      const messageId = `busy-${++seq}`;
      const again = seq % opts.duplicateEvery === 0;
      steady.push(
        send(messageId).then(async (status) => {
          if (status === 202) accepted += 1;
          if (again && status === 202 && (await send(messageId)) === 202) repeats += 1;
        }),
      );
      if (performance.now() - lastReport > 30_000) {
        say(`  ${Math.round((performance.now() - begin) / 1000)} s: ${accepted} accepted`);
        lastReport = performance.now();
      }
    }
    await Promise.all(steady);
    const steadyStatuses = Object.fromEntries(statuses);
    statuses.clear();
    measuring = false;

    // Overload phase: many times the rate, to see the API push back.
    const burst: Promise<void>[] = [];
    let burstAccepted = 0;
    const burstBegin = performance.now();
    for (let i = 0; i < opts.burstRate * opts.burstSeconds; i++) {
      const wait = burstBegin + (i * 1000) / opts.burstRate - performance.now();
      if (wait > 0) await sleep(wait);
      burst.push(
        send(`burst-${i}`).then((status) => {
          if (status === 202) burstAccepted += 1;
        }),
      );
    }
    await Promise.all(burst);
    const burstStatuses = Object.fromEntries(statuses);

    const expected = accepted + burstAccepted;
    const view = await waitFor(
      'every accepted event to be applied',
      async () => {
        const res = await stack.call('GET', `/v1/customers/${userId}`, { key: ADMIN_KEY });
        return res.body.journey?.stats?.events >= expected ? res.body.journey : undefined;
      },
      300_000,
      500,
    );

    // Latency from the server accepting each signal to the end of the workflow task that handled it, run by run.
    const handled: number[] = [];
    let runId: string | undefined = (await stack.client.workflow.getHandle(workflowId).describe()).runId;
    let runs = 0;
    while (runId) {
      runs += 1;
      const history = await stack.client.workflow.getHandle(workflowId, runId).fetchHistory();
      const events: IEvent[] = history.events ?? [];
      let waiting: number[] = [];
      let taskStartedAfterSignal = false;
      for (const e of events) {
        if (e.workflowExecutionSignaledEventAttributes) {
          waiting.push(ms(e.eventTime));
          taskStartedAfterSignal = false;
        } else if (e.workflowTaskStartedEventAttributes && waiting.length > 0) {
          taskStartedAfterSignal = true;
        } else if (e.workflowTaskCompletedEventAttributes && taskStartedAfterSignal) {
          for (const at of waiting) handled.push(ms(e.eventTime) - at);
          waiting = [];
          taskStartedAfterSignal = false;
        }
      }
      runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
    }

    const ack = summarize(ackMs);
    // The steady phase's signals come first in the history (the burst is sent after they were all acknowledged).
    const steadySignals = accepted + repeats;
    const handledSummary = summarize(handled.slice(0, steadySignals));
    const burstHandled = summarize(handled.slice(steadySignals));
    const exact = view.stats.events === expected && view.stats.duplicates >= repeats;
    const fiveHundreds = [...Object.entries(steadyStatuses), ...Object.entries(burstStatuses)].filter(([s]) => Number(s) >= 500).reduce((a, [, n]) => a + Number(n), 0);
    say('');
    say(`busy customer (${opts.rate} events/s for ${opts.seconds} s, then ${opts.burstRate}/s for ${opts.burstSeconds} s)`);
    say(`  steady: ${JSON.stringify(steadyStatuses)}; burst: ${JSON.stringify(burstStatuses)}; 5xx: ${fiveHundreds}; 429 without Retry-After: ${retryAfterMissing}`);
    say(`  applied ${view.stats.events}/${expected} accepted events, repeats refused ${view.stats.duplicates} (sent ${repeats}), over ${runs} runs: ${exact ? 'exact' : 'MISMATCH'}`);
    say(`  steady phase: 202 latency p50 ${ack.p50} ms p99 ${ack.p99} ms; signal -> handled p50 ${handledSummary.p50} ms p99 ${handledSummary.p99} ms (n=${handledSummary.n})`);
    say(`  burst phase: signal -> handled p50 ${burstHandled.p50} ms p99 ${burstHandled.p99} ms (n=${burstHandled.n})`);
    say(`  handled/202 p99 ${ratio(handledSummary.p99, ack.p99)}x`);
    const result = { options: opts, steadyStatuses, burstStatuses, fiveHundreds, retryAfterMissing, accepted, burstAccepted, repeats, stats: view.stats, runs, exact, ackMs: ack, handledMs: handledSummary, burstHandledMs: burstHandled };
    say(`  result: ${writeResult('busy', result)}`);
    if (!exact || fiveHundreds > 0 || retryAfterMissing > 0) process.exitCode = 1;
    return result;
  } finally {
    await stack.stop();
  }
}
