import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { WorkerOptions } from 'node:worker_threads';

/**
 * The journeys' workflow thread: the SDK's, or ./workflow-thread.cjs in front of it, for two settings.
 *
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
 *
 * WORKER_PROMISE_HOOK: the SDK's promise hook runs for every promise the workflow thread makes and compiles a
 * function from source to find the promise's workflow (and one more, for a workflow's promise, to reach its
 * realm's Error). `cached` (the default) compiles each once per realm and keeps it (workflow-thread.cjs says how,
 * exactly); what the hook finds is the same. `npm run bench -- replay --compare promise-hook`: a journey replayed
 * out of the cache costs about a fifth less CPU (docs/benchmarks.md). `sdk` is the
 * SDK's own code.
 */
export const REPLAY_WATCHDOG_MODES = ['off', 'per-entry'] as const;
export type ReplayWatchdog = (typeof REPLAY_WATCHDOG_MODES)[number];
export const PROMISE_HOOK_MODES = ['cached', 'sdk'] as const;
export type PromiseHook = (typeof PROMISE_HOOK_MODES)[number];
export interface WorkflowThreadSettings {
  replayWatchdog: ReplayWatchdog;
  promiseHook: PromiseHook;
}
/** The SDK's own thread. */
export const SDK_WORKFLOW_THREAD: WorkflowThreadSettings = { replayWatchdog: 'per-entry', promiseHook: 'sdk' };
/** The worker's thread unless configured otherwise (WORKER_REPLAY_WATCHDOG, WORKER_PROMISE_HOOK). */
export const DEFAULT_WORKFLOW_THREAD: WorkflowThreadSettings = { replayWatchdog: 'off', promiseHook: 'cached' };

const require = createRequire(import.meta.url);
/** The SDK's workflow thread file (an internal path: if a release moves it, every thread is the SDK's and test/workflows/workflow-thread.test.ts fails). */
const SDK_THREAD_ENTRY = (() => {
  try {
    return require.resolve('@temporalio/worker/lib/workflow/workflow-worker-thread');
  } catch {
    return undefined;
  }
})();
const THREAD_ENTRY = fileURLToPath(new URL('./workflow-thread.cjs', import.meta.url));

let settings: WorkflowThreadSettings = SDK_WORKFLOW_THREAD;
let installed = false;

/**
 * Set what workflow threads created from now on in this process run (each Worker.create makes its thread then).
 * The SDK creates its workflow thread with `new Worker(<its thread file>)` from node:worker_threads; unless both
 * settings are the SDK's, that one constructor call starts ./workflow-thread.cjs instead, which makes its changes
 * and then loads the SDK's thread file unchanged. Every other worker thread is left as it is.
 */
export function setWorkflowThread(next: WorkflowThreadSettings): void {
  settings = next;
  if (installed || SDK_THREAD_ENTRY === undefined || isSdkThread(next)) return;
  const threads = require('node:worker_threads') as typeof import('node:worker_threads');
  const Base = threads.Worker;
  class WorkflowThread extends Base {
    constructor(filename: string | URL, options?: WorkerOptions) {
      const ours = filename === SDK_THREAD_ENTRY && !isSdkThread(settings);
      super(ours ? THREAD_ENTRY : filename, ours ? { ...options, workerData: { sdkEntry: SDK_THREAD_ENTRY, ...settings } } : options);
    }
  }
  threads.Worker = WorkflowThread;
  installed = true;
}

const isSdkThread = (s: WorkflowThreadSettings) => s.replayWatchdog === SDK_WORKFLOW_THREAD.replayWatchdog && s.promiseHook === SDK_WORKFLOW_THREAD.promiseHook;

/** What a workflow thread's code is asked, in a reused V8 context (see workflow-thread.cjs). */
export interface ContextLike {
  __temporal_args?: unknown;
  __TEMPORAL_BAG_HOLDER__?: unknown;
  __TEMPORAL_ACTIVATOR__?: unknown;
}

/** The workflow thread's side, in workflow-thread.cjs (plain CommonJS: a thread's entry is loaded without the TypeScript loader). */
const thread = require('./workflow-thread.cjs') as {
  REPLAY_WATCHDOG_CHANNEL: string;
  cachePromiseHookLookups(): boolean;
  replayingHistory(context: ContextLike): boolean;
  skipWatchdogWhile(replaying: (context: ContextLike) => boolean, onFirstSkip?: () => void): () => void;
  withCachedPromiseHookLookups(source: string): string | undefined;
};

/** The workflow thread announces here what it changed, and when it first skipped the watchdog (tests listen). */
export const REPLAY_WATCHDOG_CHANNEL = thread.REPLAY_WATCHDOG_CHANNEL;
export type WorkflowThreadNews = { event: 'installed'; replayWatchdog: ReplayWatchdog; promiseHookCached: boolean } | { event: 'first-skip' };
/** Whether the SDK's next call into a reused V8 context is for a workflow replaying history events. */
export const replayingHistory = thread.replayingHistory;
/** In a workflow thread: `runInContext` drops its timeout where `replaying` says so; returns the undo. */
export const skipWatchdogWhile = thread.skipWatchdogWhile;
/**
 * In a process (or thread) that has not loaded @temporalio/worker yet: its vm-shared.js will load with the
 * promise hook's readers kept. Whether the SDK's source was as expected (false: it loads as shipped).
 */
export const cachePromiseHookLookups = thread.cachePromiseHookLookups;
/** vm-shared.js's source with the promise hook's readers kept, or undefined where it is not as expected. */
export const withCachedPromiseHookLookups = thread.withCachedPromiseHookLookups;
