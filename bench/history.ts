import proto from '@temporalio/proto';
import type { customerJourney } from '../workflows/customer-journey.js';
import { newRunInput, getJourneyQuery, trackEventSignal, type TrackedEvent } from '../src/temporal/contract.js';
import { DAY, HOUR, JourneyHarness } from '../test/support/journey-harness.js';
import { say, writeResult } from './support.js';

export interface HistoryOptions {
  days: number;
  workoutsPerDay: number;
  /** Every this many events, the same event is sent again (a retrying backend): it must be applied once. */
  duplicateEvery: number;
}

const LIMITS = { events: 4_096, bytes: 4 * 2 ** 20 };

/**
 * The busiest realistic customer on the time-skipping server with the real workflow and activities: signs
 * up, trials, subscribes, works out several times a day, renews monthly, buys add-ons, for `days` days.
 * Every run of the journey stays under Temporal's limits because of continue-as-new, and no event is lost
 * or applied twice across the runs.
 */
export async function history(opts: HistoryOptions): Promise<Record<string, unknown>> {
  const h = await JourneyHarness.start('bench_history');
  const started = performance.now();
  try {
    return await h.withWorker(async (taskQueue) => {
      const userId = 'busiest';
      const workflowId = `customer-${userId}`;
      await h.profile(userId, { timezone: 'Europe/Berlin', locale: 'de-DE' });
      await h.alignTo(6);
      let seq = 0;
      let sent = 0;
      let duplicates = 0;
      let workouts = 0;
      const send = async (event: string, properties?: Record<string, unknown>) => {
        const signal: TrackedEvent = { messageId: `${userId}-${++seq}`, event, ...(properties ? { properties } : {}) };
        const times = seq % opts.duplicateEvery === 0 ? 2 : 1;
        for (let k = 0; k < times; k++) {
          await h.env.client.workflow.signalWithStart<typeof customerJourney, [TrackedEvent]>('customerJourney', {
            workflowId,
            taskQueue,
            args: [newRunInput(userId, h.definition.definition.id)],
            signal: trackEventSignal,
            signalArgs: [signal],
          });
        }
        sent += 1;
        duplicates += times - 1;
        if (event === 'Workout Logged') workouts += 1;
      };
      h.started.add(workflowId);

      await send('Signed Up');
      await send('Trial Started');
      let lastReport = performance.now();
      for (let day = 0; day < opts.days; day++) {
        if (day === 10) await send('Subscription Started', { plan: 'light' });
        if (day > 10 && (day - 10) % 30 === 0) await send('Subscription Renewed');
        if (day === 100) await send('Plan Changed', { plan: 'full' });
        if (day % 90 === 45) await send('Add-on Purchased', { addon: 'live' });
        for (let w = 0; w < opts.workoutsPerDay; w++) {
          await send('Workout Logged', { programme: w % 2 === 0 ? 'strength' : 'yoga' });
          await h.env.sleep((16 * HOUR) / opts.workoutsPerDay);
        }
        await h.env.sleep(DAY - 16 * HOUR);
        if (performance.now() - lastReport > 15_000) {
          say(`  day ${day + 1}/${opts.days}: ${sent} events sent`);
          lastReport = performance.now();
        }
      }

      const view = await h.env.client.workflow.getHandle(workflowId).query(getJourneyQuery);

      // Walk every run of the journey from the latest back to the first, measuring each one's history.
      const runs: Array<{ runId: string; events: number; bytes: number }> = [];
      let runId: string | undefined = (await h.env.client.workflow.getHandle(workflowId).describe()).runId;
      while (runId) {
        const hist: proto.temporal.api.history.v1.IHistory = await h.env.client.workflow.getHandle(workflowId, runId).fetchHistory();
        const bytes = proto.temporal.api.history.v1.History.encode(proto.temporal.api.history.v1.History.create(hist)).finish().length;
        const events: proto.temporal.api.history.v1.IHistoryEvent[] = hist.events ?? [];
        runs.unshift({ runId, events: events.length, bytes });
        runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
      }
      const maxEvents = Math.max(...runs.map((r) => r.events));
      const maxBytes = Math.max(...runs.map((r) => r.bytes));
      const checks = {
        eventsApplied: view.stats.events,
        eventsSent: sent,
        duplicatesSent: duplicates,
        duplicatesRefused: view.stats.duplicates,
        workoutsCounted: view.counters.workouts ?? 0,
        workoutsSent: workouts,
      };
      const exact = checks.eventsApplied === checks.eventsSent && checks.workoutsCounted === checks.workoutsSent && checks.duplicatesRefused === duplicates;
      const wallMinutes = (performance.now() - started) / 60_000;
      say('');
      say(`history of the busiest customer (${opts.days} days, ${opts.workoutsPerDay} workouts a day; ${sent} events + ${duplicates} repeats)`);
      say(`  runs ${runs.length} (stats.runs ${view.stats.runs}); max per run: ${maxEvents} events (limit ${LIMITS.events}), ${(maxBytes / 1024).toFixed(0)} KiB (limit ${LIMITS.bytes / 1024} KiB)`);
      say(`  max/limit: events ${(maxEvents / LIMITS.events).toFixed(2)}x, bytes ${(maxBytes / LIMITS.bytes).toFixed(3)}x`);
      say(`  applied ${checks.eventsApplied}/${checks.eventsSent} events, workouts ${checks.workoutsCounted}/${checks.workoutsSent}, repeats refused ${checks.duplicatesRefused}/${duplicates}: ${exact ? 'exact' : 'MISMATCH'}`);
      say(`  final stage ${view.stage}, ${view.messages.filter((m) => m.status === 'sent').length} messages sent in the last run's view; wall ${wallMinutes.toFixed(1)} min`);
      const result = {
        options: opts,
        runs: runs.length,
        maxEventsPerRun: maxEvents,
        maxBytesPerRun: maxBytes,
        eventsRatioToLimit: Math.round((maxEvents / LIMITS.events) * 1000) / 1000,
        bytesRatioToLimit: Math.round((maxBytes / LIMITS.bytes) * 1000) / 1000,
        perRun: runs,
        checks,
        exact,
        withinLimits: maxEvents <= LIMITS.events && maxBytes <= LIMITS.bytes,
        wallMinutes: Math.round(wallMinutes * 10) / 10,
      };
      say(`  result: ${writeResult('history', result)}`);
      if (!exact || !result.withinLimits) process.exitCode = 1;
      return result;
    });
  } finally {
    await h.teardown();
  }
}
