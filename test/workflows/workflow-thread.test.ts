import assert from 'node:assert/strict';
import vm from 'node:vm';
import { after, before, describe, test } from 'node:test';
import { BroadcastChannel } from 'node:worker_threads';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { FanOutResult } from '../../activities/broadcast-activities.js';
import { BIN } from '../../src/servers/local-servers.js';
import type { BroadcastInput } from '../../src/temporal/contract.js';
import { gentleKeepalive } from '../../src/temporal/time-skipping.js';
import { JourneyWorkers, WORKFLOWS_PATH } from '../../src/worker/create-worker.js';
import { REPLAY_WATCHDOG_CHANNEL, replayingHistory, setReplayWatchdog, skipWatchdogWhile, type ReplayWatchdog, type ReplayWatchdogNews } from '../../src/worker/replay-watchdog.js';
import type { broadcastCampaign } from '../../workflows/broadcast-campaign.js';
import { silentLogger } from '../../src/worker/silent-logger.js';

/**
 * WORKER_REPLAY_WATCHDOG=off: workflow code replaying history runs without the SDK's per-call watchdog (a thread
 * Node starts for every call into the workflow context); new work keeps it.
 */
/** Busy for 300 ms of wall time inside the context: past a 50 ms watchdog, if there is one. */
const busy = new vm.Script('{ const until = Date.now() + 300; while (Date.now() < until) {} "done" }');

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
      setReplayWatchdog('off');
      await env?.teardown();
    });

    /** A broadcast run with no workflow cache (each activation replays the ones before), and what its workflow thread said. */
    async function broadcastWithoutCache(watchdog: ReplayWatchdog): Promise<{ news: string[]; result: unknown }> {
      const news: string[] = [];
      const channel = new BroadcastChannel(REPLAY_WATCHDOG_CHANNEL);
      channel.onmessage = (message) => news.push(((message as { data: ReplayWatchdogNews }).data).event);
      try {
        const taskQueue = `replay-watchdog-${++queues}`;
        const fanOutBroadcast = async (): Promise<FanOutResult> => ({ candidates: 0, signalled: 0, withoutJourney: 0 });
        setReplayWatchdog(watchdog);
        const workers = new JourneyWorkers([
          await Worker.create({ connection: env.nativeConnection, namespace: env.namespace ?? 'default', taskQueue, workflowBundle: bundle, activities: { fanOutBroadcast }, maxCachedWorkflows: 0 }),
        ]);
        const result = await workers.runUntil(() =>
          env.client.workflow.execute<typeof broadcastCampaign>('broadcastCampaign', {
            workflowId: `${taskQueue}-run`,
            taskQueue,
            args: [{ campaignId: 'daily_brief', definition: { id: 'coachinglive' }, broadcastId: 'b1' } satisfies BroadcastInput],
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
        return { news, result };
      } finally {
        channel.close();
      }
    }

    test('off: the workflow thread is ours, it skips the watchdog once the broadcast replays, and the run ends as with the SDK’s', async () => {
      const off = await broadcastWithoutCache('off');
      assert.deepEqual(off.news, ['installed', 'first-skip']);
      const perEntry = await broadcastWithoutCache('per-entry');
      assert.deepEqual(perEntry.news, [], 'per-entry: the SDK’s own thread');
      assert.deepEqual(off.result, perEntry.result);
    });
  });
});
