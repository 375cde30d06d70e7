import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { BIN } from '../../src/servers/local-servers.js';
import { gentleKeepalive } from '../../src/temporal/time-skipping.js';
import { WORKFLOWS_PATH } from '../../src/worker/create-worker.js';
import { pendingBroadcast } from '../support/pending-broadcast.js';
import { DEFAULT_WORKFLOW_STACK_FRAMES, workflowStackFramesHook } from '../../src/worker/workflow-stacks.js';
import { silentLogger } from '../../src/worker/silent-logger.js';

/**
 * WORKER_WORKFLOW_STACK_FRAMES: the bundle's first line sets how many frames the workflows' context captures,
 * which the Temporal UI's Stack Trace tab (the `__stack_trace` query) then shows. Checked on a real worker and
 * the time-skipping server with a workflow waiting on an activity that has not answered.
 */

describe('workflow stack frames', () => {
  let env: TestWorkflowEnvironment;
  let queues = 0;

  before(async () => {
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: BIN.temporalTestServer } }, plugins: [gentleKeepalive] });
  });
  after(async () => {
    await env?.teardown();
  });

  /** The `__stack_trace` of a broadcast whose fan-out has not answered: each pending promise's frames. */
  async function stacksOf(bundle: WorkflowBundleWithSourceMap): Promise<string[][]> {
    const { stacks } = await pendingBroadcast(env, bundle, `stacks-${++queues}`);
    return stacks
      .split('\n\n')
      .map((stack) => stack.split('\n').filter((line) => line.trim().startsWith('at ')))
      .filter((frames) => frames.length > 0);
  }

  test('the bundle’s first line sets the frames; at the default a stack shows where the workflow waits, as with V8’s 10', async () => {
    const bundle = (frames?: number) =>
      bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: silentLogger, ...(frames === undefined ? {} : { webpackConfigHook: workflowStackFramesHook(frames) }) });
    const [one, lean, plain] = await Promise.all([bundle(1), bundle(DEFAULT_WORKFLOW_STACK_FRAMES), bundle()]);
    assert.match(one.code.slice(0, 100), /^Error\.stackTraceLimit = 1;/);
    assert.match(lean.code.slice(0, 100), new RegExp(`^Error\\.stackTraceLimit = ${DEFAULT_WORKFLOW_STACK_FRAMES};`));
    assert.doesNotMatch(plain.code.slice(0, 1000), /stackTraceLimit/);

    const show = (stacks: string[][]) => stacks.map((f) => f.join('\n')).join('\n\n');
    const withV8Default = await stacksOf(plain);
    assert.ok(withV8Default.some((frames) => frames.some((f) => f.includes('broadcast-campaign.ts'))), show(withV8Default));
    // One frame is the SDK's promise hook itself: the workflow's own frames are gone (the limit applies).
    const withOne = await stacksOf(one);
    assert.ok(withOne.length > 0 && withOne.every((frames) => frames.every((f) => !f.includes('/workflows/'))), show(withOne));
    // The default keeps what the Stack Trace tab showed.
    assert.deepEqual(await stacksOf(lean), withV8Default);
  });

  test('a frame count that is not a whole number >= 0 is refused', () => {
    assert.throws(() => workflowStackFramesHook(-1), /whole number/);
    assert.throws(() => workflowStackFramesHook(1.5), /whole number/);
  });
});
