import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { FanOutWindow } from '../../activities/fan-out-window.js';
import { createBroadcastMetrics } from '../../src/metrics/broadcast-metrics.js';
import { sample } from '../support/prometheus.js';

describe('a broadcast fan-out window, on an injected clock', () => {
  const clock = () => {
    let now = 1_000_000;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };

  /** One round: fill the window, every answer after `latencyMs`. */
  async function round(window: FanOutWindow, c: ReturnType<typeof clock>, latencyMs: number): Promise<number> {
    const size = window.limit;
    const leaves = [];
    for (let i = 0; i < size; i++) leaves.push(await window.enter());
    assert.equal(window.inFlight, size);
    c.advance(latencyMs);
    for (const leave of leaves) leave(true);
    return size;
  }

  test('answers within the target grow it by one a round, up to its most; one late round halves it once', async () => {
    const c = clock();
    const window = new FanOutWindow({ max: 10, targetMs: 100, initial: 2 }, c.now);
    const sizes = [];
    for (let i = 0; i < 10; i++) sizes.push(await round(window, c, 20));
    assert.deepEqual(sizes, [2, 3, 4, 5, 6, 7, 8, 9, 10, 10]);
    // A whole round of late answers (sent before the cut) halves it once, not once per answer.
    await round(window, c, 500);
    assert.equal(window.limit, 5);
    // The next late round halves it again, down to one, never below.
    await round(window, c, 500);
    assert.equal(window.limit, 2);
    for (let i = 0; i < 4; i++) await round(window, c, 500);
    assert.equal(window.limit, 1);
    assert.equal(window.inFlight, 0);
  });

  test('an unanswered journey counts as late, however soon the fan-out gave up on it', async () => {
    const c = clock();
    const window = new FanOutWindow({ max: 8, targetMs: 100, initial: 8 }, c.now);
    const leave = await window.enter();
    leave(false);
    assert.equal(window.limit, 4);
    leave(false);
    assert.equal(window.limit, 4, 'leaving twice counts once');
    assert.equal(window.inFlight, 0);
  });

  test('a full window holds the next journey until one answers', async () => {
    const c = clock();
    const window = new FanOutWindow({ max: 2, targetMs: 100, initial: 2 }, c.now);
    const first = await window.enter();
    await window.enter();
    let third = false;
    const entering = window.enter().then(() => (third = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(third, false, 'two in flight: the third waits');
    first(true);
    await entering;
    assert.equal(third, true);
    assert.equal(window.inFlight, 2);
  });
});

test("the worker's /metrics reads the window when scraped: its size, the journeys waited on, the halvings", async () => {
  const registry = new Registry();
  const metrics = createBroadcastMetrics(registry);
  const value = async (name: string) => sample(await registry.getSingleMetricAsString(name), name);
  assert.equal(await value('lifecycle_broadcast_window_limit'), 0, 'no window yet (fan-out off): 0');
  let now = 0;
  const window = new FanOutWindow({ max: 8, targetMs: 100, initial: 4 }, () => now);
  metrics.watch(() => window.state);
  const first = await window.enter();
  await window.enter();
  assert.deepEqual([await value('lifecycle_broadcast_window_limit'), await value('lifecycle_broadcast_window_in_flight'), await value('lifecycle_broadcast_window_cuts')], [4, 2, 0]);
  now += 500;
  first(true);
  assert.deepEqual([await value('lifecycle_broadcast_window_limit'), await value('lifecycle_broadcast_window_in_flight'), await value('lifecycle_broadcast_window_cuts')], [2, 1, 1]);
});
