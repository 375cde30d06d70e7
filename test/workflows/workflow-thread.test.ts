import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { after, before, describe, test } from 'node:test';
import { BroadcastChannel } from 'node:worker_threads';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { BIN } from '../../src/servers/local-servers.js';
import { gentleKeepalive } from '../../src/temporal/time-skipping.js';
import { WORKFLOWS_PATH } from '../../src/worker/create-worker.js';
import { pendingBroadcast } from '../support/pending-broadcast.js';
import type { spinner } from '../support/spinning-workflow.js';
import { DEFAULT_WORKFLOW_THREAD, replayingHistory, SDK_WORKFLOW_THREAD, setWorkflowThread, skipWatchdogWhile, withCachedPromiseHookLookups, WORKFLOW_THREAD_CHANNEL, type WorkflowThreadNews, type WorkflowThreadSettings } from '../../src/worker/workflow-thread.js';
import { silentLogger } from '../../src/worker/silent-logger.js';

/**
 * The journeys' workflow thread. WORKER_WATCHDOG=thread: one deadlock watchdog for the thread instead of the
 * SDK's per call (a thread Node starts for every call into the workflow context); a deadlocked workflow task
 * fails as with the SDK's (test/unit/thread-watchdog.test.ts tests the watchdog itself). `new-work`: workflow
 * code replaying history runs without the per-call watchdog; new work keeps it. WORKER_PROMISE_HOOK=cached: the SDK's promise hook finds a promise's workflow with readers compiled once per
 * context; it finds the same workflow, and the Stack Trace tab shows the same stacks.
 */
/** Busy for 300 ms of wall time inside the context: past a 50 ms watchdog, if there is one. */
const busy = new vm.Script('{ const until = Date.now() + 300; while (Date.now() < until) {} "done" }');

/** The SDK's deadlock timeout (its WorkerOptions take it, undocumented: `isolateExecutionTimeout`, 5 s by default). */
const withIsolateTimeout = (timeout: string) => ({ isolateExecutionTimeout: timeout }) as object;

function contextOf(replaying: boolean | undefined, loaded: boolean) {
  const activator = replaying === undefined ? undefined : { info: { unsafe: { isReplayingHistoryEvents: replaying } } };
  const holder = { bag: loaded ? {} : { __TEMPORAL_ACTIVATOR__: { value: activator } } };
  const context = vm.createContext({});
  Object.assign(context, { __temporal_args: [holder, 'activate', []], ...(loaded ? { __TEMPORAL_BAG_HOLDER__: holder, __TEMPORAL_ACTIVATOR__: activator } : {}) });
  return context;
}

describe('replay without the per-call watchdog', () => {
  test('the watchdog goes only where the workflow entered replays history, whether its globals are loaded or in its bag', () => {
    const restore = skipWatchdogWhile(replayingHistory);
    try {
      for (const loaded of [true, false]) {
        assert.equal(busy.runInContext(contextOf(true, loaded), { timeout: 50 }), 'done', `replaying, loaded ${loaded}`);
        assert.throws(() => busy.runInContext(contextOf(false, loaded), { timeout: 50 }), { code: 'ERR_SCRIPT_EXECUTION_TIMEOUT' }, `new work, loaded ${loaded}`);
        assert.throws(() => busy.runInContext(contextOf(undefined, loaded), { timeout: 50 }), { code: 'ERR_SCRIPT_EXECUTION_TIMEOUT' }, `a workflow not yet made, loaded ${loaded}`);
      }
      // The SDK's own scripts (no call in progress) keep it.
      assert.throws(() => busy.runInContext(vm.createContext({}), { timeout: 50 }), { code: 'ERR_SCRIPT_EXECUTION_TIMEOUT' });
    } finally {
      restore();
    }
    // Restored: the watchdog is back for replay too.
    assert.throws(() => busy.runInContext(contextOf(true, true), { timeout: 50 }), { code: 'ERR_SCRIPT_EXECUTION_TIMEOUT' });
  });

  describe('on a real worker and the time-skipping server', () => {
    let env: TestWorkflowEnvironment;
    let bundle: WorkflowBundleWithSourceMap;
    let queues = 0;
    before(async () => {
      [env, bundle] = await Promise.all([
        TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: BIN.temporalTestServer } }, plugins: [gentleKeepalive] }),
        bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: silentLogger }),
      ]);
    });
    after(async () => {
      setWorkflowThread(DEFAULT_WORKFLOW_THREAD);
      await env?.teardown();
    });

    /** A broadcast run with no workflow cache (each activation replays the ones before), and what its workflow thread said. */
    async function broadcastWithoutCache(settings: WorkflowThreadSettings): Promise<{ news: WorkflowThreadNews[]; result: unknown; stacks: string }> {
      const news: WorkflowThreadNews[] = [];
      const channel = new BroadcastChannel(WORKFLOW_THREAD_CHANNEL);
      channel.onmessage = (message) => news.push((message as { data: WorkflowThreadNews }).data);
      try {
        setWorkflowThread(settings);
        const { result, stacks } = await pendingBroadcast(env, bundle, `workflow-thread-${++queues}`, 0);
        await new Promise((resolve) => setTimeout(resolve, 100));
        return { news, result, stacks };
      } finally {
        channel.close();
      }
    }

    test('the workflow thread is ours only for what is not the SDK’s; it says what it changed, and a run ends and shows its stacks as with the SDK’s', async () => {
      const sdk = await broadcastWithoutCache(SDK_WORKFLOW_THREAD);
      assert.deepEqual(sdk.news, [], 'the SDK’s own thread');
      assert.match(sdk.stacks, /broadcast-campaign\.ts/);
      const ours = await broadcastWithoutCache(DEFAULT_WORKFLOW_THREAD);
      assert.deepEqual(ours.news, [{ event: 'installed', watchdog: 'thread', promiseHookCached: true }, { event: 'first-skip' }]);
      const hookOnly = await broadcastWithoutCache({ watchdog: 'per-call', promiseHook: 'cached' });
      assert.deepEqual(hookOnly.news, [{ event: 'installed', watchdog: 'per-call', promiseHookCached: true }], 'Node’s watchdog kept');
      const watchdogOnly = await broadcastWithoutCache({ watchdog: 'thread', promiseHook: 'sdk' });
      assert.deepEqual(watchdogOnly.news, [{ event: 'installed', watchdog: 'thread', promiseHookCached: false }, { event: 'first-skip' }]);
      const newWork = await broadcastWithoutCache({ watchdog: 'new-work', promiseHook: 'cached' });
      assert.deepEqual(newWork.news, [{ event: 'installed', watchdog: 'new-work', promiseHookCached: true }, { event: 'first-skip' }]);
      for (const run of [ours, hookOnly, watchdogOnly, newWork]) {
        assert.deepEqual(run.result, sdk.result);
        assert.equal(run.stacks, sdk.stacks, 'the Stack Trace tab shows what it shows with the SDK’s thread');
      }
    });

    test('a deadlocked workflow task fails as with the SDK’s watchdog, and the worker goes on with the next workflow', async () => {
      const spinnerBundle = await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('../support/spinning-workflow.ts', import.meta.url)), logger: silentLogger });
      const failures: Record<string, string> = {};
      for (const [name, settings] of [['sdk', SDK_WORKFLOW_THREAD], ['ours', DEFAULT_WORKFLOW_THREAD]] as const) {
        const news: WorkflowThreadNews[] = [];
        const channel = new BroadcastChannel(WORKFLOW_THREAD_CHANNEL);
        channel.onmessage = (message) => news.push((message as { data: WorkflowThreadNews }).data);
        try {
          setWorkflowThread(settings);
          const taskQueue = `workflow-thread-spin-${name}`;
          const worker = await Worker.create({ connection: env.nativeConnection, namespace: env.namespace ?? 'default', taskQueue, workflowBundle: spinnerBundle, ...withIsolateTimeout('300ms') });
          await worker.runUntil(async () => {
            const stuck = await env.client.workflow.start<typeof spinner>('spinner', { workflowId: `${taskQueue}-stuck`, taskQueue, args: [true] });
            let failure: string | undefined;
            for (let i = 0; i < 300 && failure === undefined; i++) {
              const { events } = await stuck.fetchHistory();
              failure = events?.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes?.failure?.message ?? undefined;
              if (failure === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
            }
            assert.ok(failure, `${name}: the deadlocked workflow task failed`);
            failures[name] = failure;
            await stuck.terminate('the test is done with it');
            const next = await env.client.workflow.execute<typeof spinner>('spinner', { workflowId: `${taskQueue}-next`, taskQueue, args: [false] });
            assert.equal(next, 'done', `${name}: the worker runs the next workflow`);
          });
        } finally {
          channel.close();
        }
        if (name === 'ours') assert.ok(news.some((n) => n.event === 'timed-out' && n.request === 'activate-workflow'), 'the thread watchdog ended it');
      }
      assert.match(failures.sdk!, /Script execution timed out after 300ms/);
      assert.equal(failures.ours, failures.sdk, 'the same failure in the history (the Temporal UI shows it)');
    });
  });
});

describe('the promise hook’s readers, compiled once per context', () => {
  const require = createRequire(import.meta.url);
  const file = require.resolve('@temporalio/worker/lib/workflow/vm-shared.js');
  const shipped = readFileSync(file, 'utf8');

  /** The SDK's vm-shared.js as edited, loaded apart from the one the process uses, with its getActivator reachable. */
  function editedGetActivator(): (promise: Promise<unknown>) => unknown {
    const edited = withCachedPromiseHookLookups(shipped);
    assert.ok(edited, 'the installed SDK’s vm-shared.js is as workflow-thread.cjs expects (a new release: check the edits still hold)');
    const mod = new Module(file);
    mod.filename = file;
    mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(file);
    (mod as unknown as { _compile(content: string, filename: string): void })._compile(`${edited}\nexports.getActivatorOfPromise = getActivator;`, file);
    return (mod.exports as { getActivatorOfPromise: (promise: Promise<unknown>) => unknown }).getActivatorOfPromise;
  }

  test('a promise’s workflow is read from its context when asked, as the SDK’s compiled-each-time reader did', () => {
    const getActivator = editedGetActivator();
    const a = vm.createContext({});
    const b = vm.createContext({});
    const first = { info: { runId: 'a-1' } };
    a.__TEMPORAL_ACTIVATOR__ = first;
    b.__TEMPORAL_ACTIVATOR__ = { info: { runId: 'b-1' } };
    const inA = vm.runInContext('Promise.resolve()', a) as Promise<unknown>;
    const inB = vm.runInContext('Promise.resolve()', b) as Promise<unknown>;
    assert.equal(getActivator(inA), first);
    assert.equal(getActivator(inB), b.__TEMPORAL_ACTIVATOR__);
    // A reused context swaps its workflow's globals in: the reader sees the one there now.
    const second = { info: { runId: 'a-2' } };
    a.__TEMPORAL_ACTIVATOR__ = second;
    assert.equal(getActivator(inA), second);
    assert.equal(getActivator(vm.runInContext('new Promise(() => {})', a) as Promise<unknown>), second);
    assert.equal(getActivator(Promise.resolve()), undefined, 'the thread’s own promises belong to no workflow');
  });

  test('a source not exactly as expected is left as shipped', () => {
    assert.equal(withCachedPromiseHookLookups(shipped.replace("return globalThis.__TEMPORAL_ACTIVATOR__", 'return globalThis.__TEMPORAL_ACTIVATOR__ ?? null')), undefined);
    assert.equal(withCachedPromiseHookLookups(`${shipped}\n${shipped}`), undefined, 'an edit that would match twice');
  });
});
