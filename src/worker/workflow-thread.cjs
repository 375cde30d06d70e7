'use strict';
/**
 * The journeys' workflow thread when WORKER_REPLAY_WATCHDOG=off (see replay-watchdog.ts): workflow code replaying
 * history runs without Node's per-call watchdog thread, then the Temporal SDK's own thread file runs as it would.
 * Plain CommonJS: a worker thread's entry is loaded by Node itself, without the TypeScript loader. Required from
 * the main thread (replay-watchdog.ts) it only gives its functions.
 */
const vm = require('node:vm');
const { BroadcastChannel, isMainThread, workerData } = require('node:worker_threads');

/** The workflow thread announces here that it skips the watchdog in replay, and when it first did (tests listen). */
const REPLAY_WATCHDOG_CHANNEL = 'lifecycle-replay-watchdog';

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

module.exports = { REPLAY_WATCHDOG_CHANNEL, replayingHistory, skipWatchdogWhile };

if (!isMainThread && typeof workerData?.sdkEntry === 'string') {
  const channel = new BroadcastChannel(REPLAY_WATCHDOG_CHANNEL);
  channel.unref();
  skipWatchdogWhile(replayingHistory, () => channel.postMessage({ event: 'first-skip' }));
  channel.postMessage({ event: 'installed' });
  require(workerData.sdkEntry);
}
