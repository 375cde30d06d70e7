import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../src/codec/data-converter.js';
import { WORKFLOWS_PATH } from '../src/worker/create-worker.js';
import { replayingHistory, skipWatchdogWhile } from '../src/worker/replay-watchdog.js';
import { DEFAULT_WORKFLOW_STACK_FRAMES, workflowStackFramesHook } from '../src/worker/workflow-stacks.js';
import { testDataConverter } from '../test/support/codec.js';
import { History, SAVED_HISTORIES } from '../test/support/histories.js';
import { median, ratio, say, writeResult } from './support.js';
import { silentLogger } from '../src/worker/silent-logger.js';

export interface ReplayOptions {
  /** Replays of the chosen histories per round and mode. */
  replays: number;
  /** Rounds, each running both modes one after the other (alternating which goes first). */
  rounds: number;
  /** Saved histories (file names under test/replay/histories without .history.pb). */
  histories?: string[] | undefined;
}

const MODES = ['per-entry', 'off'] as const;
/** A sign-up and a trial start: what a broadcast wakes in most journeys of a population (bench broadcast's). */
const DEFAULT_HISTORIES = ['lean-sign-up'];

/**
 * A journey woken out of the worker's cache (as a broadcast wakes most of them) is replayed from its history:
 * the worker's CPU per replay, with the SDK's per-call deadlock watchdog (`per-entry`) and without it in replay
 * (`off`, WORKER_REPLAY_WATCHDOG's default), on the saved journey histories, in one process, the two modes
 * alternating round by round. The SDK's replayer runs workflow code in this process's main thread, where
 * `off` patches `node:vm` the way the worker's workflow thread does (src/worker/workflow-thread.cjs).
 */
export async function replay(opts: ReplayOptions): Promise<void> {
  const saved = readdirSync(SAVED_HISTORIES).filter((f) => f.endsWith('.history.pb')).map((f) => f.replace(/\.history\.pb$/, ''));
  const names = opts.histories ?? DEFAULT_HISTORIES;
  const unknown = names.filter((n) => !saved.includes(n));
  if (unknown.length > 0) throw new Error(`no saved history ${unknown.join(', ')} (saved: ${saved.join(', ')})`);
  const histories = names.map((name) => ({ name, history: History.decode(readFileSync(join(SAVED_HISTORIES, `${name}.history.pb`))) }));
  // The replayer's workers log each state change at INFO: five lines a replay round.
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
  const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, failureConverterPath: FAILURE_CONVERTER_PATH, webpackConfigHook: workflowStackFramesHook(DEFAULT_WORKFLOW_STACK_FRAMES), logger: silentLogger });
  const events = histories.reduce((n, h) => n + h.history.events.length, 0) / histories.length;
  say(`replay: ${histories.length} saved histories (${events.toFixed(0)} events on average), ${opts.replays} replays per round and mode, ${opts.rounds} rounds`);

  await runReplays(bundle, histories, Math.min(50, opts.replays), 'warm-up');
  const cpu: Record<(typeof MODES)[number], number[]> = { 'per-entry': [], off: [] };
  // Entries into workflow code with the SDK's watchdog asked for, and of those, the ones `off` runs without it.
  const entries = { watched: 0, skipped: 0 };
  const counted = (context: Parameters<typeof replayingHistory>[0]) => {
    const skip = replayingHistory(context);
    entries.watched++;
    if (skip) entries.skipped++;
    return skip;
  };
  for (let round = 0; round < opts.rounds; round++) {
    for (const mode of round % 2 === 0 ? MODES : [...MODES].reverse()) {
      const restore = mode === 'off' ? skipWatchdogWhile(counted) : () => {};
      try {
        const ms = await runReplays(bundle, histories, opts.replays, `round ${round + 1}`);
        cpu[mode].push(ms);
        say(`  round ${round + 1}, ${mode}: ${ms.toFixed(2)} ms of CPU per replay`);
      } finally {
        restore();
      }
    }
  }
  const perEntry = median(cpu['per-entry']);
  const off = median(cpu.off);
  say(`replay CPU per journey: per-entry ${perEntry.toFixed(2)} ms, off ${off.toFixed(2)} ms (medians of ${opts.rounds} rounds)`);
  const offReplays = opts.replays * opts.rounds;
  say(`  entries into workflow code per replay: ${(entries.watched / offReplays).toFixed(1)}, of which off runs ${(entries.skipped / offReplays).toFixed(1)} without a watchdog thread`);
  say(`replay CPU per journey, watchdog off / per-entry: ${ratio(off, perEntry).toFixed(2)}x`);
  say(`  result: ${writeResult('replay', { histories: names, replays: opts.replays, rounds: opts.rounds, cpuMsPerReplay: cpu, medianMs: { perEntry, off }, entriesPerReplay: entries.watched / offReplays, skippedPerReplay: entries.skipped / offReplays, ratio: ratio(off, perEntry) })}`);
}

/** Replays `count` histories (cycling through the given ones) and returns the process's CPU per replay, in ms. */
async function runReplays(bundle: WorkflowBundleWithSourceMap, histories: { name: string; history: ReturnType<typeof History.decode> }[], count: number, tag: string): Promise<number> {
  const batch = Array.from({ length: count }, (_, i) => {
    const { name, history } = histories[i % histories.length]!;
    return { workflowId: `${tag}-${name}-${i}`, history };
  });
  const before = process.cpuUsage();
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle, dataConverter: testDataConverter() }, batch)) {
    if (result.error) throw new Error(`${result.workflowId} did not replay: ${result.error.message}`);
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / count;
}
