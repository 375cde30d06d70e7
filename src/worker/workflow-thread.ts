import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { WorkerOptions } from 'node:worker_threads';

/**
 * The journeys' workflow thread: the SDK's, or ./workflow-thread.cjs in front of it, for two settings.
 *
 * WORKER_WATCHDOG: how workflow code is watched for deadlocks (a call that does not yield within the SDK's
 * isolateExecutionTimeout, 5 s).
 *
 * The Temporal SDK runs workflow code in a worker thread and enters the journeys' V8 context with
 * `script.runInContext(context, { timeout })`. Node enforces such a timeout by starting a thread for every call
 * and joining it after (nodejs/node#47739): about 0.06 ms on a quiet core, much more on a loaded one, where the
 * workflow thread waits for its watchdog to be scheduled; the SDK enters the context three or more times an
 * activation, and a journey woken out of the worker's cache replays its history through some 30 of them. In a
 * profile of a broadcast the wait was the workflow thread's largest cost (docs/benchmarks.md, Broadcasts).
 *
 * `thread` (the default): one watchdog for each workflow thread, for every request that calls into workflow
 * code (a new journey, an activation, replayed or new, a query, an eviction): the thread marks the request's
 * start and end in memory both threads share, and the main thread (ThreadWatchdog, below) looks ten times a
 * second; a request past the timeout is ended where it runs with V8's TerminateExecution (the inspector's, the
 * only way one thread may stop another's code without ending the thread) and answered with the error Node's
 * timeout gives, so the SDK fails the workflow task as it does for a call that timed out. The calls inside the
 * request run without Node's per-call watchdog. The timeout now covers all of a request's calls together, and
 * is found within a tenth of a second after it passes. Where the inspector is missing (a Node built without it)
 * the thread falls back to `per-call`, with a warning.
 * `new-work`: Node's per-call watchdog on new work, none on replayed history (this worker's default before).
 * `per-call`: the SDK's own behaviour.
 *
 * WORKER_PROMISE_HOOK: the SDK's promise hook runs for every promise the workflow thread makes and compiles a
 * function from source to find the promise's workflow (and one more, for a workflow's promise, to reach its
 * realm's Error). `cached` (the default) compiles each once per realm and keeps it (workflow-thread.cjs says how,
 * exactly); what the hook finds is the same. `npm run bench -- replay --compare promise-hook`: a journey replayed
 * out of the cache costs about a fifth less CPU (docs/benchmarks.md). `sdk` is the
 * SDK's own code.
 */
export const WATCHDOG_MODES = ['thread', 'new-work', 'per-call'] as const;
export type Watchdog = (typeof WATCHDOG_MODES)[number];
export const PROMISE_HOOK_MODES = ['cached', 'sdk'] as const;
export type PromiseHook = (typeof PROMISE_HOOK_MODES)[number];
export interface WorkflowThreadSettings {
  watchdog: Watchdog;
  promiseHook: PromiseHook;
}
/** The SDK's own thread. */
export const SDK_WORKFLOW_THREAD: WorkflowThreadSettings = { watchdog: 'per-call', promiseHook: 'sdk' };
/** The worker's thread unless configured otherwise (WORKER_WATCHDOG, WORKER_PROMISE_HOOK). */
export const DEFAULT_WORKFLOW_THREAD: WorkflowThreadSettings = { watchdog: 'thread', promiseHook: 'cached' };

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
      if (filename !== SDK_THREAD_ENTRY || isSdkThread(settings)) {
        super(filename, options);
        return;
      }
      const inspector = settings.watchdog === 'thread' ? workerInspector() : undefined;
      const watchdog = settings.watchdog === 'thread' && inspector === undefined ? 'per-call' : settings.watchdog;
      const shared = inspector === undefined ? undefined : { inspector, state: new Int32Array(new SharedArrayBuffer(thread.WATCHDOG_STATE.LENGTH * Int32Array.BYTES_PER_ELEMENT)), channel: new threads.MessageChannel() };
      const workerData = { sdkEntry: SDK_THREAD_ENTRY, ...settings, watchdog, ...(shared ? { watchdogState: shared.state.buffer, watchdogPort: shared.channel.port2 } : {}) };
      super(THREAD_ENTRY, { ...options, name: WORKFLOW_THREAD_NAME, workerData, transferList: [...(options?.transferList ?? []), ...(shared ? [shared.channel.port2] : [])] });
      if (shared !== undefined) new ThreadWatchdog(this, shared.state, shared.channel.port1, shared.inspector);
    }
  }
  threads.Worker = WorkflowThread;
  installed = true;
}

const isSdkThread = (s: WorkflowThreadSettings) => s.watchdog === SDK_WORKFLOW_THREAD.watchdog && s.promiseHook === SDK_WORKFLOW_THREAD.promiseHook;

/**
 * The name a watched thread is started with (node:worker_threads' `name`, in its title): the inspector keeps its
 * session to such a thread as the thread starts, which can be before the thread's constructor has returned.
 */
export const WORKFLOW_THREAD_NAME = 'lifecycle-workflow-thread';

/** How often the thread watchdog looks at each workflow thread's request. */
export const WATCHDOG_INTERVAL_MS = 100;

/**
 * The inspector session of this process's main thread that reaches its workflow threads (NodeWorker: the session
 * is attached to each worker thread as it starts; the ones not named WORKFLOW_THREAD_NAME are detached again).
 */
interface WorkerInspector {
  /** Sends a command to a workflow thread's inspector; the callback hears whether it was sent. */
  send(threadId: number, method: string, done: (sent: boolean) => void): void;
  forget(threadId: number): void;
}
let inspectorOnce: { value: WorkerInspector | undefined } | undefined;

/** This process's inspector session for workflow threads, or undefined where Node has no inspector (with a warning, once). */
function workerInspector(): WorkerInspector | undefined {
  inspectorOnce ??= { value: connectWorkerInspector() };
  return inspectorOnce.value;
}

function connectWorkerInspector(): WorkerInspector | undefined {
  let session: import('node:inspector').Session;
  try {
    const inspector = require('node:inspector') as typeof import('node:inspector');
    session = new inspector.Session();
    session.connect();
  } catch (err) {
    process.emitWarning(`WORKER_WATCHDOG=thread needs node:inspector (${(err as Error).message}): workflow threads keep Node's watchdog per call`, { code: 'LIFECYCLE_WATCHDOG' });
    return undefined;
  }
  const sessions = new Map<number, string>();
  session.on('NodeWorker.attachedToWorker', ({ params }: { params: { sessionId: string; workerInfo: { title: string } } }) => {
    // The title is `[worker <threadId>] <name>` (the inspector's workerId is a count of its own).
    const title = /^\[worker (\d+)\] (.*)$/.exec(params.workerInfo.title);
    if (title?.[2] === WORKFLOW_THREAD_NAME) sessions.set(Number(title[1]), params.sessionId);
    else session.post('NodeWorker.detach', { sessionId: params.sessionId }, () => {});
  });
  session.on('NodeWorker.detachedFromWorker', ({ params }: { params: { sessionId: string } }) => {
    for (const [threadId, sessionId] of sessions) if (sessionId === params.sessionId) sessions.delete(threadId);
  });
  session.post('NodeWorker.enable', { waitForDebuggerOnStart: false }, () => {});
  let commands = 0;
  return {
    send(threadId, method, done) {
      const sessionId = sessions.get(threadId);
      if (sessionId === undefined) return done(false);
      session.post('NodeWorker.sendMessageToWorker', { sessionId, message: JSON.stringify({ id: ++commands, method }) }, (err) => done(err === null || err === undefined));
    },
    forget: (threadId) => sessions.delete(threadId),
  };
}

/**
 * Watches `worker`, a thread named WORKFLOW_THREAD_NAME running watchRequests (workflow-thread.cjs) over `state`
 * with the other end of `port`, from this thread (ThreadWatchdog). False where Node has no inspector: nothing is
 * watched.
 */
export function startThreadWatchdog(worker: import('node:worker_threads').Worker, state: Int32Array, port: import('node:worker_threads').MessagePort): boolean {
  const inspector = workerInspector();
  if (inspector === undefined) return false;
  new ThreadWatchdog(worker, state, port, inspector);
  return true;
}

/**
 * The main thread's side of one workflow thread's watchdog (the thread's side, and why: workflow-thread.cjs,
 * watchRequests). Every WATCHDOG_INTERVAL_MS it reads the request the thread is in; one seen running at two looks
 * the timeout apart is claimed (a compare-exchange: it fails if the request has just ended), terminated through
 * the inspector, and named to the thread, which answers it. A request is never ended before the timeout has
 * passed: it is timed from the first look that saw it, so a main thread held up late finds it late, never early.
 * If the termination cannot be sent (the inspector has no session for the thread) the claim is given back and the
 * request runs on, as without a watchdog; a warning says so.
 */
class ThreadWatchdog {
  private seen: { request: number; at: number } | undefined;
  private warned = false;
  private readonly threadId: number;

  constructor(
    worker: import('node:worker_threads').Worker,
    private readonly state: Int32Array,
    private readonly port: import('node:worker_threads').MessagePort,
    private readonly inspector: WorkerInspector,
  ) {
    const threadId = (this.threadId = worker.threadId);
    const timer = setInterval(() => this.look(), WATCHDOG_INTERVAL_MS);
    timer.unref();
    port.unref();
    worker.once('exit', () => {
      clearInterval(timer);
      inspector.forget(threadId);
      port.close();
    });
  }

  private look(): void {
    const { REQUEST, TIMEOUT } = thread.WATCHDOG_STATE;
    const request = Atomics.load(this.state, REQUEST);
    const timeout = Atomics.load(this.state, TIMEOUT);
    if (request <= 0 || timeout <= 0) {
      this.seen = undefined;
      return;
    }
    const now = performance.now();
    if (this.seen?.request !== request) {
      this.seen = { request, at: now };
      return;
    }
    if (now - this.seen.at < timeout) return;
    if (Atomics.compareExchange(this.state, REQUEST, request, -request) !== request) return;
    this.seen = undefined;
    this.inspector.send(this.threadId, 'Runtime.terminateExecution', (sent) => {
      if (sent) {
        this.port.postMessage({ claimed: request });
        return;
      }
      // Given back: the thread runs on (and, if it had ended, stops waiting for the termination).
      Atomics.store(this.state, REQUEST, 0);
      Atomics.notify(this.state, REQUEST);
      if (!this.warned) {
        this.warned = true;
        process.emitWarning(`the workflow thread's watchdog could not reach thread ${this.threadId} through the inspector: a request past ${timeout} ms runs on`, { code: 'LIFECYCLE_WATCHDOG' });
      }
    });
  }
}

/** What a workflow thread's code is asked, in a reused V8 context (see workflow-thread.cjs). */
export interface ContextLike {
  __temporal_args?: unknown;
  __TEMPORAL_BAG_HOLDER__?: unknown;
  __TEMPORAL_ACTIVATOR__?: unknown;
}

/** The workflow thread's side, in workflow-thread.cjs (plain CommonJS: a thread's entry is loaded without the TypeScript loader). */
const thread = require('./workflow-thread.cjs') as {
  WATCHDOG_STATE: { REQUEST: number; TIMEOUT: number; LENGTH: number };
  WORKFLOW_THREAD_CHANNEL: string;
  cachePromiseHookLookups(): boolean;
  replayingHistory(context: ContextLike): boolean;
  skipWatchdogWhile(skip: (context: ContextLike) => boolean, onFirstSkip?: () => void): () => void;
  watchRequests(port: import('node:worker_threads').MessagePort, state: Int32Array, parentPort: import('node:worker_threads').MessagePort, onTimedOut?: (request: string) => void): () => boolean;
  withCachedPromiseHookLookups(source: string): string | undefined;
};

/** The workflow thread announces here what it changed, when it first skipped Node's watchdog, and each request the thread watchdog ended (tests listen). */
export const WORKFLOW_THREAD_CHANNEL = thread.WORKFLOW_THREAD_CHANNEL;
export type WorkflowThreadNews =
  | { event: 'installed'; watchdog: Watchdog; promiseHookCached: boolean }
  | { event: 'first-skip' }
  | { event: 'timed-out'; request: string };
/** The thread watchdog's shared state: its slots (workflow-thread.cjs). */
export const WATCHDOG_STATE = thread.WATCHDOG_STATE;
/** Whether the SDK's next call into a reused V8 context is for a workflow replaying history events. */
export const replayingHistory = thread.replayingHistory;
/** In a workflow thread: `runInContext` drops its timeout where `skip` says so; returns the undo. */
export const skipWatchdogWhile = thread.skipWatchdogWhile;
/** In a workflow thread: the thread watchdog's side (workflow-thread.cjs); returns whether a watched request runs now. */
export const watchRequests = thread.watchRequests;
/**
 * In a process (or thread) that has not loaded @temporalio/worker yet: its vm-shared.js will load with the
 * promise hook's readers kept. Whether the SDK's source was as expected (false: it loads as shipped).
 */
export const cachePromiseHookLookups = thread.cachePromiseHookLookups;
/** vm-shared.js's source with the promise hook's readers kept, or undefined where it is not as expected. */
export const withCachedPromiseHookLookups = thread.withCachedPromiseHookLookups;
