'use strict';
/**
 * The journeys' workflow thread (see workflow-thread.ts): with WORKER_REPLAY_WATCHDOG=off workflow code replaying
 * history runs without Node's per-call watchdog thread, with WORKER_PROMISE_HOOK=cached the SDK's promise hook
 * finds a promise's workflow without compiling code for it; then the Temporal SDK's own thread file runs as it
 * would. Plain CommonJS: a worker thread's entry is loaded by Node itself, without the TypeScript loader. Required
 * from the main thread (workflow-thread.ts) it only gives its functions.
 */
const fs = require('node:fs');
const Module = require('node:module');
const vm = require('node:vm');
const { BroadcastChannel, isMainThread, workerData } = require('node:worker_threads');

/** The workflow thread announces here what it changed, and when it first skipped the watchdog (tests listen). */
const REPLAY_WATCHDOG_CHANNEL = 'lifecycle-replay-watchdog';

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
 * `runInContext` drops its timeout (and Node its watchdog thread) where `replaying(context)` says so; the first
 * time, `onFirstSkip` is called. Returns a function that puts the original back.
 */
function skipWatchdogWhile(replaying, onFirstSkip = () => {}) {
  const proto = vm.Script.prototype;
  const original = proto.runInContext;
  let skipped = false;
  proto.runInContext = function runInContext(context, options) {
    if (options?.timeout !== undefined && replaying(context)) {
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

module.exports = { REPLAY_WATCHDOG_CHANNEL, cachePromiseHookLookups, replayingHistory, skipWatchdogWhile, withCachedPromiseHookLookups };

if (!isMainThread && typeof workerData?.sdkEntry === 'string') {
  const channel = new BroadcastChannel(REPLAY_WATCHDOG_CHANNEL);
  channel.unref();
  const promiseHookCached = workerData.promiseHook === 'cached' && cachePromiseHookLookups();
  if (workerData.replayWatchdog === 'off') skipWatchdogWhile(replayingHistory, () => channel.postMessage({ event: 'first-skip' }));
  channel.postMessage({ event: 'installed', replayWatchdog: workerData.replayWatchdog, promiseHookCached });
  require(workerData.sdkEntry);
}
