import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import { startThreadWatchdog, WATCHDOG_INTERVAL_MS, WATCHDOG_STATE, WORKFLOW_THREAD_NAME } from '../../src/worker/workflow-thread.js';

/**
 * The thread watchdog (WORKER_WATCHDOG=thread; src/worker/workflow-thread.ts and .cjs) on a real worker thread:
 * a stand-in for the SDK's thread (test/support/spinning-thread.cjs) whose requests spin as told, watched from
 * this thread through the inspector as a worker's workflow thread is.
 */
const TIMEOUT_MS = 300;
const threadFile = fileURLToPath(new URL('../../src/worker/workflow-thread.cjs', import.meta.url));

describe('the thread watchdog', () => {
  let thread: Worker;
  let state: Int32Array;
  /** Every message the thread posted, in order. */
  const messages: Array<{ requestId?: number; result?: { type: string; message?: string; output?: string }; timedOut?: string }> = [];
  let requests = 0;

  before(async () => {
    state = new Int32Array(new SharedArrayBuffer(WATCHDOG_STATE.LENGTH * 4));
    const { port1, port2 } = new MessageChannel();
    thread = new Worker(fileURLToPath(new URL('../support/spinning-thread.cjs', import.meta.url)), { name: WORKFLOW_THREAD_NAME, workerData: { threadFile, watchdogState: state.buffer, watchdogPort: port2 }, transferList: [port2] });
    thread.on('message', (m) => messages.push(m));
    assert.ok(startThreadWatchdog(thread, state, port1), 'this Node has an inspector');
    await send('init', { isolateExecutionTimeoutMs: TIMEOUT_MS });
    // The inspector attaches to the thread as it starts.
    await new Promise((resolve) => setTimeout(resolve, 200));
  });
  after(async () => {
    await thread?.terminate();
  });

  /** Sends a request as the SDK's main thread does; resolves with its answer and the time it took. */
  async function send(type: string, input: Record<string, unknown> = {}): Promise<{ answer: (typeof messages)[number]; ms: number; requestId: number }> {
    const requestId = requests++;
    const started = performance.now();
    thread.postMessage({ requestId, input: { type, ...input } });
    while (performance.now() - started < 10_000) {
      const answer = messages.find((m) => m.requestId === requestId);
      if (answer) return { answer, ms: performance.now() - started, requestId };
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error(`request ${requestId} (${type}) was not answered in 10 s`);
  }

  test('a request past the timeout is ended and answered with the error Node’s timeout gives; the thread goes on', async () => {
    const { answer, ms } = await send('activate-workflow', { spin: 'forever' });
    assert.equal(answer.result?.type, 'error');
    assert.equal(answer.result?.message, `Script execution timed out after ${TIMEOUT_MS}ms`);
    assert.ok(ms >= TIMEOUT_MS, `ended after ${ms.toFixed(0)} ms, not before the timeout`);
    assert.ok(ms < TIMEOUT_MS + 2 * WATCHDOG_INTERVAL_MS + 1_000, `ended after ${ms.toFixed(0)} ms`);
    assert.ok(messages.some((m) => m.timedOut === 'activate-workflow'));
    assert.deepEqual((await send('activate-workflow', { spin: 0 })).answer.result, { type: 'ok', output: 'activate-workflow' }, 'the next request runs');
  });

  test('requests within the timeout are never ended, one after another or close to it', async () => {
    for (const spin of [0, 50, 50, 50, 50, TIMEOUT_MS / 2]) {
      assert.deepEqual((await send('activate-workflow', { spin })).answer.result, { type: 'ok', output: 'activate-workflow' }, `spinning ${spin} ms`);
    }
  });

  test('what calls no workflow code is not watched: a sink-calls request runs past the timeout', async () => {
    assert.deepEqual((await send('extract-sink-calls', { spin: TIMEOUT_MS + 3 * WATCHDOG_INTERVAL_MS })).answer.result, { type: 'ok', output: 'extract-sink-calls' });
  });

  test('a request that ends just as the watchdog claims it waits for its termination and is answered once, with the error', async () => {
    const before = messages.length;
    const { answer, requestId } = await send('activate-workflow', { spin: 'until-claimed' });
    assert.equal(answer.result?.message, `Script execution timed out after ${TIMEOUT_MS}ms`);
    // The SDK's own answer would come after an await: it is dropped.
    await send('activate-workflow', { spin: 0 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(messages.slice(before).filter((m) => m.requestId === requestId).length, 1);
    assert.equal(Atomics.load(state, WATCHDOG_STATE.REQUEST), 0);
  });

  test('a timeout past what the shared state holds (the SDK’s debug mode asks for 2^32-1 ms) is not taken', async () => {
    await send('init', { isolateExecutionTimeoutMs: 2 ** 32 - 1 });
    assert.equal(Atomics.load(state, WATCHDOG_STATE.TIMEOUT), TIMEOUT_MS);
  });

  test('a request queued behind one that was ended is answered after it, each once', async () => {
    const first = requests++;
    const second = requests++;
    thread.postMessage({ requestId: first, input: { type: 'activate-workflow', spin: 'forever' } });
    thread.postMessage({ requestId: second, input: { type: 'dispose-workflow', spin: 0 } });
    for (let i = 0; i < 400 && !messages.some((m) => m.requestId === second); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const answers = messages.filter((m) => m.requestId === first || m.requestId === second);
    assert.deepEqual(answers.map((m) => [m.requestId, m.result?.type]), [[first, 'error'], [second, 'ok']]);
  });
});

test('WORKER_WATCHDOG is `thread` unless set; the setting it replaced is refused with what to set instead, nothing started', () => {
  assert.equal(loadConfig({}).WORKER_WATCHDOG, 'thread');
  assert.equal(loadConfig({ WORKER_WATCHDOG: 'per-call' }).WORKER_WATCHDOG, 'per-call');
  assert.throws(() => loadConfig({ WORKER_WATCHDOG: 'per-entry' }), ConfigError);
  assert.throws(() => loadConfig({ WORKER_REPLAY_WATCHDOG: 'off' }), (err: ConfigError) => err.problems.some((p) => p.includes('set WORKER_WATCHDOG=new-work')));
  assert.throws(() => loadConfig({ WORKER_REPLAY_WATCHDOG: 'per-entry' }), (err: ConfigError) => err.problems.some((p) => p.includes('set WORKER_WATCHDOG=per-call')));
});
