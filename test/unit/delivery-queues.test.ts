import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { deliveryTaskQueue, runHas } from '../../src/temporal/contract.js';
import { deliveryQueueTuning } from '../../src/worker/create-worker.js';

test('deliveries run on a queue per kind beside the journeys’ own, from code version 9 on', () => {
  assert.equal(deliveryTaskQueue('lifecycle', 'transactional'), 'lifecycle-transactional');
  assert.equal(deliveryTaskQueue('lifecycle', 'marketing'), 'lifecycle-marketing');
  assert.equal(runHas({ codeVersion: 8 }, 'deliveryQueues'), false);
  assert.equal(runHas({ codeVersion: 9 }, 'deliveryQueues'), true);
  assert.equal(runHas({}, 'deliveryQueues'), false, 'a run from before versions schedules on the old single queue');
});

test('a worker polls every queue by default, or the ones WORKER_TASK_QUEUES names', () => {
  assert.deepEqual(loadConfig({}).WORKER_TASK_QUEUES, ['journeys', 'transactional', 'marketing']);
  assert.deepEqual(loadConfig({ WORKER_TASK_QUEUES: ' marketing, marketing' }).WORKER_TASK_QUEUES, ['marketing']);
  assert.throws(() => loadConfig({ WORKER_TASK_QUEUES: 'journeys,bulk' }), ConfigError);
  assert.throws(() => loadConfig({ WORKER_TASK_QUEUES: ',' }), ConfigError);
});

test('the SendGrid plan rate is split between the queues: the transactional share, and the rest for marketing', () => {
  const config = loadConfig({ SENDGRID_RATE_PER_SECOND: '100', SENDGRID_TRANSACTIONAL_SHARE: '0.25', WORKER_MARKETING_ACTIVITIES: '16' });
  assert.deepEqual(deliveryQueueTuning(config), { transactional: { slots: undefined, perSecond: 25 }, marketing: { slots: 16, perSecond: 75 } });
  assert.deepEqual(deliveryQueueTuning(loadConfig({})), { transactional: { slots: undefined, perSecond: undefined }, marketing: { slots: undefined, perSecond: undefined } });
  assert.throws(() => loadConfig({ SENDGRID_TRANSACTIONAL_SHARE: '1' }), ConfigError);
  assert.throws(() => loadConfig({ SENDGRID_RATE_PER_SECOND: '0' }), ConfigError);
});
