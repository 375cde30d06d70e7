import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Context } from '@temporalio/activity';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { FanOutPage, FanOutResult } from '../../activities/broadcast-activities.js';
import { BIN } from '../../src/servers/local-servers.js';
import type { BroadcastInput } from '../../src/temporal/contract.js';
import { gentleKeepalive } from '../../src/temporal/time-skipping.js';
import { JourneyWorkers, WORKFLOWS_PATH } from '../../src/worker/create-worker.js';
import type { broadcastCampaign } from '../../workflows/broadcast-campaign.js';
import { saveHistory } from '../support/histories.js';
import { silentLogger } from '../../src/worker/silent-logger.js';

/**
 * The broadcast workflow on the time-skipping server, its fan-out stubbed: which queue each page runs on. A page
 * that leaves the audience's cursor open names its worker's own queue, and the next page goes there (a page
 * anywhere else opens a new query: on FerretDB a full read); a worker that is gone does not stall the broadcast.
 */
const AUDIENCE = Array.from({ length: 10 }, (_, i) => `c-${i}`);
const PAGE = 3;

describe('broadcastCampaign', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;
  let queues = 0;

  before(async () => {
    bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: silentLogger });
  });
  beforeEach(async () => {
    await env?.teardown();
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: BIN.temporalTestServer } }, plugins: [gentleKeepalive] });
  });
  after(async () => {
    await env?.teardown();
  });

  /**
   * A broadcast over AUDIENCE, three a page, with a worker on the shared queue and (when `ownQueue`) one on its own
   * queue, both on the same stubbed fan-out; `resumeOn` is what a page names. Returns where each page ran.
   */
  async function broadcast(opts: { resumeOn?: string; ownQueue?: boolean; save?: string }) {
    const taskQueue = `broadcast-${++queues}`;
    const pages: Array<{ after: string | undefined; queue: string }> = [];
    const fanOutBroadcast = async (page: FanOutPage): Promise<FanOutResult> => {
      pages.push({ after: page.after, queue: Context.current().info.taskQueue });
      const from = page.after === undefined ? 0 : AUDIENCE.indexOf(page.after) + 1;
      const ids = AUDIENCE.slice(from, from + PAGE);
      const next = from + PAGE < AUDIENCE.length ? ids[ids.length - 1] : undefined;
      return { ...(next ? { next, ...(opts.resumeOn ? { resumeOn: opts.resumeOn } : {}) } : {}), candidates: ids.length, signalled: ids.length, withoutJourney: 0 };
    };
    const common = { connection: env.nativeConnection, namespace: env.namespace ?? 'default', activities: { fanOutBroadcast } };
    const workers = new JourneyWorkers([
      await Worker.create({ ...common, taskQueue, workflowBundle: bundle }),
      ...(opts.ownQueue && opts.resumeOn ? [await Worker.create({ ...common, taskQueue: opts.resumeOn })] : []),
    ]);
    const { result, history } = await workers.runUntil(async () => {
      const handle = await env.client.workflow.start<typeof broadcastCampaign>('broadcastCampaign', {
        workflowId: `${taskQueue}-run`,
        taskQueue,
        args: [{ campaignId: 'daily_brief', definition: { id: 'coachinglive' }, broadcastId: 'b1' } satisfies BroadcastInput],
      });
      const result = await handle.result();
      if (opts.save) await saveHistory(handle, opts.save);
      return { result, history: await handle.fetchHistory() };
    });
    return { taskQueue, pages, result, history };
  }

  const pagesAfter = [undefined, 'c-2', 'c-5', 'c-8'];

  test('pages that name no queue (workers from before) all run on the shared queue, as they did', async () => {
    const { taskQueue, pages, result } = await broadcast({ save: 'broadcast-pages' });
    assert.deepEqual(result, { signalled: AUDIENCE.length, withoutJourney: 0 });
    assert.deepEqual(pages, pagesAfter.map((after) => ({ after, queue: taskQueue })));
  });

  test("a page that names its worker's own queue sends the next page there", async () => {
    const own = `own-${queues + 1}`;
    const { taskQueue, pages, result } = await broadcast({ resumeOn: own, ownQueue: true, save: 'broadcast-resume-on' });
    assert.deepEqual(result, { signalled: AUDIENCE.length, withoutJourney: 0 });
    assert.deepEqual(pages, pagesAfter.map((after, i) => ({ after, queue: i === 0 ? taskQueue : own })));
  });

  test('a worker that is gone: its page waits 10 s for it, then any worker takes it, and the broadcast goes on', async () => {
    const gone = `gone-${queues + 1}`;
    const { taskQueue, pages, result, history } = await broadcast({ resumeOn: gone, ownQueue: false });
    assert.deepEqual(result, { signalled: AUDIENCE.length, withoutJourney: 0 });
    // Every page after the first names the gone queue, times out there and runs on the shared one; none runs twice.
    assert.deepEqual(pages, pagesAfter.map((after) => ({ after, queue: taskQueue })));
    const timedOut = (history.events ?? []).filter((e) => e.activityTaskTimedOutEventAttributes);
    assert.equal(timedOut.length, pagesAfter.length - 1, 'one schedule-to-start timeout per page sent to the gone worker');
    const scheduled = (history.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.taskQueue?.name] : []));
    assert.deepEqual(scheduled, [taskQueue, ...pagesAfter.slice(1).flatMap(() => [gone, taskQueue])]);
  });
});
