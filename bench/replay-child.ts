/**
 * One round of `bench replay` in a process of its own (bench/replay.ts starts it): the saved histories replayed
 * with one workflow-thread setting, the process's CPU per replay (all its threads) written as JSON on stdout's
 * last line. The replayer runs its workflows in a workflow thread as a worker does (the SDK's replayer would run
 * them in the main thread, `debugMode`), with the SDK's 5 s deadlock timeout. The setting is made before
 * @temporalio/worker loads (the promise hook's edit applies as the SDK loads), so everything that could load the
 * SDK is imported after it.
 */
import { readFileSync } from 'node:fs';
import { cachePromiseHookLookups, setWorkflowThread, type WorkflowThreadSettings } from '../src/worker/workflow-thread.js';

export interface ReplayChildInput {
  settings: WorkflowThreadSettings;
  /** A file holding the workflow bundle ({ code, sourceMap }) the parent built. */
  bundleFile: string;
  histories: string[];
  warmUp: number;
  replays: number;
}

export interface ReplayChildResult {
  cpuMsPerReplay: number;
  promiseHookCached: boolean;
}

const input = JSON.parse(process.argv[2] ?? '') as ReplayChildInput;
const promiseHookCached = input.settings.promiseHook === 'cached' && cachePromiseHookLookups();
if (input.settings.promiseHook === 'cached' && !promiseHookCached) throw new Error("the SDK's vm-shared.js is not as workflow-thread.cjs expects: the promise hook cannot be cached");
setWorkflowThread(input.settings);

const { join } = await import('node:path');
const { DefaultLogger, Runtime, Worker } = await import('@temporalio/worker');
const { testDataConverter } = await import('../test/support/codec.js');
const { History, SAVED_HISTORIES } = await import('../test/support/histories.js');

// The replayer's workers log each state change at INFO.
Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
const workflowBundle = JSON.parse(readFileSync(input.bundleFile, 'utf8')) as { code: string; sourceMap: string };
const histories = input.histories.map((name) => ({ name, history: History.decode(readFileSync(join(SAVED_HISTORIES, `${name}.history.pb`))) }));

// The replayer's options have no debugMode (it sets true); a workflow thread is what a worker runs.
const inAWorkflowThread = { workflowBundle, dataConverter: testDataConverter(), ...{ debugMode: false } };

async function run(count: number, tag: string): Promise<number> {
  const batch = Array.from({ length: count }, (_, i) => {
    const { name, history } = histories[i % histories.length]!;
    return { workflowId: `${tag}-${name}-${i}`, history };
  });
  const before = process.cpuUsage();
  for await (const result of Worker.runReplayHistories(inAWorkflowThread, batch)) {
    if (result.error) throw new Error(`${result.workflowId} did not replay: ${result.error.message}`);
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / count;
}

await run(input.warmUp, 'warm-up');
const cpuMsPerReplay = await run(input.replays, 'measured');
const result: ReplayChildResult = { cpuMsPerReplay, promiseHookCached };
process.stdout.write(`${JSON.stringify(result)}\n`);
