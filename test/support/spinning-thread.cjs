'use strict';
/**
 * A worker thread standing in for the SDK's workflow thread in tests of the thread watchdog: watchRequests
 * (src/worker/workflow-thread.cjs) in front of a listener answering as the SDK's does (after an await), whose
 * synchronous part spins as each request says: `spin: 'forever'`, a number of milliseconds, or `'until-claimed'`
 * (until the watchdog has claimed the request: it then ends just as it is claimed).
 */
const { setImmediate } = require('node:timers');
const { parentPort, workerData } = require('node:worker_threads');
const { WATCHDOG_STATE, watchRequests } = require(workerData.threadFile);

const state = new Int32Array(workerData.watchdogState);
watchRequests(workerData.watchdogPort, state, parentPort, (request) => parentPort.postMessage({ timedOut: request }));
parentPort.on('message', async (request) => {
  const { spin } = request.input;
  if (spin === 'forever') for (;;);
  else if (spin === 'until-claimed') while (Atomics.load(state, WATCHDOG_STATE.REQUEST) >= 0);
  else if (typeof spin === 'number') for (const until = Date.now() + spin; Date.now() < until; );
  await new Promise(setImmediate);
  parentPort.postMessage({ requestId: request.requestId, result: { type: 'ok', output: request.input.type } });
});
