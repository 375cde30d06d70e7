import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { WorkerOptions } from 'node:worker_threads';

/**
 * WORKER_REPLAY_WATCHDOG: whether workflow code replaying history runs under the SDK's deadlock watchdog.
 *
 * The Temporal SDK runs workflow code in a worker thread and enters the journeys' V8 context with
 * `script.runInContext(context, { timeout })` (5 s: its deadlock detection). Node enforces such a timeout by
 * starting a thread for every call and joining it after (nodejs/node#47739), about 0.13 ms on a quiet core and
 * much more on a busy one, and the SDK enters the context about seven times an activation: a journey woken out
 * of the worker's cache (each one a broadcast wakes, past the cache size) replays its history through some
 * 30 of them. In a profile of a broadcast that was about two fifths of the workflow thread
 * (docs/benchmarks.md, Broadcasts).
 *
 * `off` (the default) keeps the watchdog wherever workflow code does new work (a new activation, a query) and
 * drops it where the code replays history events: those ran, the same code on the same inputs, inside the
 * watchdog when the history was written (journey code changes go by code version, and every saved history
 * replays in CI). A deadlock a changed workflow brought into replay would hold the workflow thread instead of
 * failing the task every 5 s; either way no journey on it moves until the code is fixed.
 * `per-entry` is the SDK's own behaviour.
 */
export const REPLAY_WATCHDOG_MODES = ['off', 'per-entry'] as const;
export type ReplayWatchdog = (typeof REPLAY_WATCHDOG_MODES)[number];

const require = createRequire(import.meta.url);
/** The SDK's workflow thread file (an internal path: if a release moves it, every thread is the SDK's and test/workflows/replay-watchdog.test.ts fails). */
const SDK_THREAD_ENTRY = (() => {
  try {
    return require.resolve('@temporalio/worker/lib/workflow/workflow-worker-thread');
  } catch {
    return undefined;
  }
})();
const THREAD_ENTRY = fileURLToPath(new URL('./workflow-thread.cjs', import.meta.url));

let mode: ReplayWatchdog = 'per-entry';
let installed = false;

/**
 * Set how workflow threads created from now on in this process treat replay (each Worker.create makes its thread
 * then). The SDK creates its workflow thread with `new Worker(<its thread file>)` from node:worker_threads; with
 * `off`, that one constructor call starts ./workflow-thread.cjs instead, which patches the thread's `node:vm` and
 * then loads the SDK's thread file unchanged. Every other worker thread is left as it is.
 */
export function setReplayWatchdog(next: ReplayWatchdog): void {
  mode = next;
  if (installed || next === 'per-entry' || SDK_THREAD_ENTRY === undefined) return;
  const threads = require('node:worker_threads') as typeof import('node:worker_threads');
  const Base = threads.Worker;
  class WorkflowThread extends Base {
    constructor(filename: string | URL, options?: WorkerOptions) {
      const ours = mode === 'off' && filename === SDK_THREAD_ENTRY;
      super(ours ? THREAD_ENTRY : filename, ours ? { ...options, workerData: { sdkEntry: SDK_THREAD_ENTRY } } : options);
    }
  }
  threads.Worker = WorkflowThread;
  installed = true;
}

/** What a workflow thread's code is asked, in a reused V8 context (see workflow-thread.cjs). */
export interface ContextLike {
  __temporal_args?: unknown;
  __TEMPORAL_BAG_HOLDER__?: unknown;
  __TEMPORAL_ACTIVATOR__?: unknown;
}

/** The workflow thread's side, in workflow-thread.cjs (plain CommonJS: a thread's entry is loaded without the TypeScript loader). */
const thread = require('./workflow-thread.cjs') as {
  REPLAY_WATCHDOG_CHANNEL: string;
  replayingHistory(context: ContextLike): boolean;
  skipWatchdogWhile(replaying: (context: ContextLike) => boolean, onFirstSkip?: () => void): () => void;
};

/** The workflow thread announces here that it skips the watchdog in replay, and when it first did (tests listen). */
export const REPLAY_WATCHDOG_CHANNEL = thread.REPLAY_WATCHDOG_CHANNEL;
export type ReplayWatchdogNews = { event: 'installed' } | { event: 'first-skip' };
/** Whether the SDK's next call into a reused V8 context is for a workflow replaying history events. */
export const replayingHistory = thread.replayingHistory;
/** In a workflow thread: `runInContext` drops its timeout where `replaying` says so; returns the undo. */
export const skipWatchdogWhile = thread.skipWatchdogWhile;
