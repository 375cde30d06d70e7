'use strict';
/**
 * The journeys' workflow thread (see workflow-thread.ts): with WORKER_WATCHDOG=thread every request that calls
 * into workflow code runs under one watchdog for the thread (the main thread's, see workflow-thread.ts) instead of
 * Node's watchdog thread per call; with `new-work` replayed history runs without any; with WORKER_PROMISE_HOOK=cached
 * the SDK's promise hook finds a promise's workflow without compiling code for it; then the Temporal SDK's own
 * thread file runs as it would. Plain CommonJS: a worker thread's entry is loaded by Node itself, without the
 * TypeScript loader. Required from the main thread (workflow-thread.ts) it only gives its functions.
 */
const fs = require('node:fs');
const Module = require('node:module');
const vm = require('node:vm');
const { BroadcastChannel, isMainThread, parentPort, workerData } = require('node:worker_threads');

/** The workflow thread announces here what it changed, when it first skipped a watchdog, and each request the thread watchdog ended (tests listen). */
const WORKFLOW_THREAD_CHANNEL = 'lifecycle-workflow-thread';

/**
 * The SDK's promise hook (@temporalio/worker lib/workflow/vm-shared.js) runs for every promise the thread makes,
 * workflow code's and the SDK's own alike, and for each one asks the promise's realm for its workflow by
 * compiling a function from source (`ctor('return globalThis.__TEMPORAL_ACTIVATOR__')()`), and for a workflow's
 * promise compiles one more to reach its realm's Error; V8 looks each up in its compilation cache and makes a new
 * function every time. Here each realm's two readers are compiled once and kept (a WeakMap on the realm's Function
 * constructor) and called as before: they read the realm's global when called, as the compiled-each-time ones did,
 * so what the hook finds is unchanged. The source is changed as it loads, only where it is exactly as written
 * below; if a release changes it, the file loads as shipped (`applied` false; test/workflows/workflow-thread.test.ts fails).
 */
const PROMISE_HOOK_EDITS = [
  {
    from: "    const ctor = promise.constructor.constructor;\n    return ctor('return globalThis.__TEMPORAL_ACTIVATOR__')();\n",
    to: "    return realmReader(promise.constructor.constructor, 'return globalThis.__TEMPORAL_ACTIVATOR__')();\n",
  },
  {
    from: "                    const ErrorCtor = fn('return globalThis.Error')();\n",
    to: "                    const ErrorCtor = realmReader(fn, 'return globalThis.Error')();\n",
  },
];
const REALM_READER = `
var realmReaders;
/** A function compiled in the realm of \`ctor\` (its Function constructor) from \`body\`, once per realm and body. */
function realmReader(ctor, body) {
  realmReaders ??= new WeakMap();
  let readers = realmReaders.get(ctor);
  if (readers === undefined) realmReaders.set(ctor, (readers = new Map()));
  let reader = readers.get(body);
  if (reader === undefined) readers.set(body, (reader = ctor(body)));
  return reader;
}
`;

/** The SDK's vm-shared.js source with the promise hook's readers kept, or undefined where it is not as expected. */
function withCachedPromiseHookLookups(source) {
  let edited = source;
  for (const { from, to } of PROMISE_HOOK_EDITS) {
    if (edited.split(from).length !== 2) return undefined;
    edited = edited.replace(from, () => to);
  }
  return `${edited}\n${REALM_READER}`;
}

/**
 * Loads the SDK's vm-shared.js (not yet loaded in this thread or process) with its promise hook's readers kept.
 * Returns whether the edits applied.
 */
function cachePromiseHookLookups() {
  const file = require.resolve('@temporalio/worker/lib/workflow/vm-shared.js');
  if (require.cache[file]) throw new Error('the SDK\'s vm-shared.js is loaded already: cache its promise hook\'s lookups before loading @temporalio/worker');
  const edited = withCachedPromiseHookLookups(fs.readFileSync(file, 'utf8'));
  if (edited === undefined) return false;
  const compile = Module.prototype._compile;
  Module.prototype._compile = function _compile(content, filename, ...rest) {
    if (filename !== file) return compile.call(this, content, filename, ...rest);
    Module.prototype._compile = compile;
    return compile.call(this, edited, filename, ...rest);
  };
  return true;
}

/**
 * Whether the call the SDK is about to make into a reused V8 context is for a workflow replaying history events.
 * The SDK puts `[holder, fn, args]` on the context before each call; the holder's bag holds that workflow's
 * globals (its activator) unless they are the ones loaded now. Anything else (a new workflow, a query, the SDK's
 * own scripts) is not replay.
 */
function replayingHistory(context) {
  const args = context.__temporal_args;
  if (!Array.isArray(args)) return false;
  const holder = args[0];
  const activator = context.__TEMPORAL_BAG_HOLDER__ === holder ? context.__TEMPORAL_ACTIVATOR__ : holder?.bag?.__TEMPORAL_ACTIVATOR__?.value;
  return activator?.info?.unsafe?.isReplayingHistoryEvents === true;
}

/**
 * `runInContext` drops its timeout (and Node its watchdog thread) where `skip(context)` says so; the first time,
 * `onFirstSkip` is called. Returns a function that puts the original back.
 */
function skipWatchdogWhile(skip, onFirstSkip = () => {}) {
  const proto = vm.Script.prototype;
  const original = proto.runInContext;
  let skipped = false;
  proto.runInContext = function runInContext(context, options) {
    if (options?.timeout !== undefined && skip(context)) {
      if (!skipped) {
        skipped = true;
        onFirstSkip();
      }
      const { timeout: _timeout, ...rest } = options;
      return original.call(this, context, rest);
    }
    return original.call(this, context, options);
  };
  return () => {
    proto.runInContext = original;
  };
}

/**
 * The thread watchdog's shared state (an Int32Array over a SharedArrayBuffer the main thread made):
 * REQUEST: 0 no request watched; n > 0 request n is running; -n the watchdog has claimed request n, whose
 * termination is on its way. TIMEOUT: the SDK's isolateExecutionTimeoutMs (from its init request; 0 before).
 */
const WATCHDOG_STATE = { REQUEST: 0, TIMEOUT: 1, LENGTH: 2 };
/** The SDK's thread requests that call into workflow code (init and destroy run only the SDK's own scripts; sink calls none). */
const WATCHED_REQUESTS = new Set(['create-workflow', 'activate-workflow', 'dispose-workflow']);

/**
 * The workflow thread's side of the thread watchdog. The SDK's thread handles each request from the main thread
 * in one message listener whose synchronous part makes every call into workflow code the request needs (Node:
 * an activation's activate, condition and conclude calls all run before its first await). That part is watched
 * as one: the request's number goes in the shared state as it starts and out as it ends (a compare-exchange, so
 * that it and the watchdog's claim cannot both win), and the calls inside it run without Node's per-call
 * watchdog (`whileWatched` says when). A request the watchdog claims is terminated where it runs (V8's
 * TerminateExecution, through the inspector: see workflow-thread.ts), which unwinds it as Node's own timeout does
 * but leaves nothing to answer, so the watchdog then says which (`claimed` on `port`) and the thread answers the
 * request itself with the error Node's timeout gives (`Script execution timed out after <ms>ms`), as the SDK's
 * thread answers a call that timed out; a late answer of the SDK's own for that request is dropped. A request
 * that ends just as it is claimed waits for its termination (Atomics.wait is interrupted by it), so the
 * termination never lands on anything else. `parentPort` is the SDK's (the listener and postMessage are wrapped
 * as the SDK registers and uses them). `onTimedOut(type)` hears of each request ended. Returns `whileWatched`.
 */
function watchRequests(port, state, parentPort, onTimedOut = () => {}) {
  let seq = 0;
  /** The request being watched: set as it starts, cleared as it ends; still set after, it was terminated. */
  let watched;
  /** Requests the watchdog answered: an answer of the SDK's own for them is dropped. */
  const answered = new Set();
  const post = parentPort.postMessage;
  parentPort.postMessage = function postMessage(message, transfer) {
    if (answered.size > 0 && message !== null && typeof message === 'object' && answered.delete(message.requestId)) return;
    return post.call(this, message, transfer);
  };
  const on = parentPort.on;
  parentPort.on = function onMessage(event, listener) {
    if (event !== 'message') return on.call(this, event, listener);
    parentPort.on = on;
    return on.call(this, event, (request) => watch(request, listener));
  };

  /** Answers the request the watchdog terminated (it is claimed and never ended), if there is one. */
  function answerTerminated() {
    if (watched === undefined || Atomics.load(state, WATCHDOG_STATE.REQUEST) !== -watched.seq) return;
    const { requestId, type } = watched;
    watched = undefined;
    const timeout = Atomics.load(state, WATCHDOG_STATE.TIMEOUT);
    const error = new Error(`Script execution timed out after ${timeout}ms`);
    answered.add(requestId);
    post.call(parentPort, { requestId, result: { type: 'error', message: error.message, name: error.name, stack: error.stack } });
    Atomics.store(state, WATCHDOG_STATE.REQUEST, 0);
    onTimedOut(type);
  }

  function watch(request, listener) {
    const type = request?.input?.type;
    // The SDK's debug mode asks for 2^32-1 ms: past what the state holds, and no deadlock to find; such calls keep Node's own.
    const timeout = request?.input?.isolateExecutionTimeoutMs;
    if (type === 'init' && Number.isInteger(timeout) && timeout > 0 && timeout <= 0x7fffffff) Atomics.store(state, WATCHDOG_STATE.TIMEOUT, timeout);
    // One terminated before the watchdog said which (this message was already queued): answer it first.
    answerTerminated();
    if (!WATCHED_REQUESTS.has(type) || Atomics.load(state, WATCHDOG_STATE.TIMEOUT) <= 0) return listener(request);
    seq = seq >= 0x7fffffff ? 1 : seq + 1;
    watched = { seq, requestId: request.requestId, type };
    Atomics.store(state, WATCHDOG_STATE.REQUEST, seq);
    try {
      return listener(request);
    } finally {
      // Not run when the request is terminated (V8 runs no finally block then): it ended, returning or throwing.
      if (Atomics.compareExchange(state, WATCHDOG_STATE.REQUEST, seq, 0) !== seq) {
        // Claimed as it ended: wait for the termination (or for the watchdog to give it up, when it could not send it).
        while (Atomics.load(state, WATCHDOG_STATE.REQUEST) === -seq) Atomics.wait(state, WATCHDOG_STATE.REQUEST, -seq);
      }
      watched = undefined;
    }
  }

  port.on('message', (message) => {
    if (watched?.seq === message?.claimed) answerTerminated();
  });
  port.unref();
  return () => Atomics.load(state, WATCHDOG_STATE.REQUEST) > 0;
}

module.exports = { WATCHDOG_STATE, WORKFLOW_THREAD_CHANNEL, cachePromiseHookLookups, replayingHistory, skipWatchdogWhile, watchRequests, withCachedPromiseHookLookups };

if (!isMainThread && typeof workerData?.sdkEntry === 'string') {
  const channel = new BroadcastChannel(WORKFLOW_THREAD_CHANNEL);
  channel.unref();
  const promiseHookCached = workerData.promiseHook === 'cached' && cachePromiseHookLookups();
  const onFirstSkip = () => channel.postMessage({ event: 'first-skip' });
  if (workerData.watchdog === 'thread' && workerData.watchdogPort !== undefined) {
    const whileWatched = watchRequests(workerData.watchdogPort, new Int32Array(workerData.watchdogState), parentPort, (request) => channel.postMessage({ event: 'timed-out', request }));
    skipWatchdogWhile(whileWatched, onFirstSkip);
  } else if (workerData.watchdog === 'new-work') {
    skipWatchdogWhile(replayingHistory, onFirstSkip);
  }
  channel.postMessage({ event: 'installed', watchdog: workerData.watchdog, promiseHookCached });
  require(workerData.sdkEntry);
}
