import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { pino } from 'pino';
import { createSendgridMailer } from '../../src/delivery/mailer.js';
import { BIN } from '../../src/servers/local-servers.js';
import { ensureSearchAttributes } from '../../src/temporal/search-attributes.js';
import { createJourneyWorker, WORKFLOWS_PATH } from '../../src/worker/create-worker.js';
import { customerJourney } from '../../workflows/customer-journey.js';
import { getJourneyQuery, trackEventSignal, type CustomerJourneyInput } from '../../workflows/messages.js';
import { startTestDatabase, type TestDatabase } from '../support/database.js';
import { definitionStore } from '../support/definitions.js';
import { saveHistory } from '../support/histories.js';
import { startSendgridServer, type SendgridServer } from '../support/sendgrid-server.js';

const DAY = 86_400_000;
const API_KEY = 'SG.test-key';

describe('customer journey workflow (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let sendgrid: SendgridServer;
  let bundle: WorkflowBundleWithSourceMap;
  let taskQueueN = 0;

  before(async () => {
    [env, db, sendgrid, bundle] = await Promise.all([
      TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: BIN.temporalTestServer } } }),
      startTestDatabase('workflow_test'),
      startSendgridServer({ apiKey: API_KEY }),
      bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never }),
    ]);
    await ensureSearchAttributes(env.connection, env.namespace ?? 'default');
  });
  after(async () => {
    await env?.teardown();
    await sendgrid?.close();
    await db?.teardown();
  });

  async function withWorker<T>(fn: (taskQueue: string) => Promise<T>): Promise<T> {
    const taskQueue = `journey-${++taskQueueN}`;
    const worker = await createJourneyWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue,
      workflowBundle: bundle,
      deps: {
        models: db.models,
        definitions: await definitionStore(db.models),
        mailer: createSendgridMailer({ apiKey: API_KEY, baseUrl: sendgrid.url }),
        emailFrom: 'CoachingLive <hello@coachinglive.example>',
        logger: pino({ level: 'silent' }),
      },
    });
    return worker.runUntil(fn(taskQueue));
  }

  async function profile(userId: string, fields: Record<string, unknown> = {}) {
    await db.models.Customer.create({ _id: userId, email: `${userId}@example.com`, firstName: 'Ada', traits: {}, ...fields });
  }

  function start(taskQueue: string, userId: string, event: string, messageId: string, extra: Partial<CustomerJourneyInput> = {}) {
    return env.client.workflow.signalWithStart(customerJourney, {
      workflowId: `customer-${userId}`,
      taskQueue,
      args: [{ schemaVersion: 1, userId, definition: { id: 'coachinglive' }, ...extra }],
      signal: trackEventSignal,
      signalArgs: [{ messageId, event }],
    });
  }

  test('a trial that elapses without a subscription: welcome, reminder 3 days before the end, then churned', async () => {
    const userId = 'u-trial-elapses';
    await profile(userId);
    await withWorker(async (taskQueue) => {
      const handle = await start(taskQueue, userId, 'Signed Up', 'm1');
      await handle.signal(trackEventSignal, { messageId: 'm2', event: 'Trial Started' });
      const [welcome] = await sendgrid.waitForMessages(1);
      assert.equal(welcome!.customArgs.delivery_key, `customer-${userId}/welcome/1`);
      assert.equal(welcome!.subject, 'Welcome to CoachingLive, Ada!');

      let journey = await handle.query(getJourneyQuery);
      assert.equal(journey.stage, 'trial');
      const trialEnds = journey.pending.find((p) => p.what === 'trial ends');
      assert.ok(trialEnds, 'trial end timer is pending');

      await env.sleep(26 * DAY);
      journey = await handle.query(getJourneyQuery);
      assert.equal(journey.stage, 'trial');
      assert.equal(sendgrid.messages.filter((m) => m.customArgs.user_id === userId).length, 1, 'no reminder before day 27');

      await env.sleep(1 * DAY + 60_000);
      const reminder = (await sendgrid.waitForMessages(2))[1]!;
      assert.equal(reminder.customArgs.campaign_id, 'trial_ending');
      assert.equal(reminder.subject, '3 days left in your CoachingLive trial');

      await env.sleep(3 * DAY);
      journey = await handle.query(getJourneyQuery);
      assert.equal(journey.stage, 'churned');
      assert.deepEqual(
        journey.stages.map((s) => [s.stage, s.why.replace(/ \(.*\)$/, '')]),
        [
          ['prospect', 'journey started'],
          ['trial', 'event "Trial Started"'],
          ['churned', 'timer: trial ends'],
        ],
      );
      const trialDays = (Date.parse(journey.stages[2]!.at) - Date.parse(journey.stages[1]!.at)) / DAY;
      assert.equal(trialDays, 30);
      assert.deepEqual(
        journey.messages.map((m) => [m.campaignId, m.status]),
        [
          ['welcome', 'sent'],
          ['trial_ending', 'sent'],
        ],
      );
      assert.equal(sendgrid.messages.filter((m) => m.customArgs.user_id === userId).length, 2, 'each message exactly once');
      await saveHistory(handle, 'trial-elapses');
    });
  });

  test('subscribing during the trial cancels the reminder and the churn', async () => {
    const userId = 'u-subscribes';
    await profile(userId);
    sendgrid.reset();
    await withWorker(async (taskQueue) => {
      const handle = await start(taskQueue, userId, 'Trial Started', 'a1');
      await env.sleep(10 * DAY);
      await handle.signal(trackEventSignal, { messageId: 'a2', event: 'Subscription Started', properties: { plan: 'light' } });
      await env.sleep(40 * DAY);
      const journey = await handle.query(getJourneyQuery);
      assert.equal(journey.stage, 'subscriber');
      assert.equal(journey.plan, 'light');
      assert.deepEqual(journey.pending, []);
      const reminder = journey.messages.find((m) => m.campaignId === 'trial_ending');
      assert.equal(reminder?.status, 'cancelled');
      assert.match(reminder?.reason ?? '', /Subscription Started/);
      assert.equal(sendgrid.messages.filter((m) => m.customArgs.user_id === userId).length, 0);
      await saveHistory(handle, 'subscribes-in-trial');
    });
  });

  test('the same messageId is applied once, also across continue-as-new', async () => {
    const userId = 'u-dedupe';
    await profile(userId);
    sendgrid.reset();
    await withWorker(async (taskQueue) => {
      const handle = await start(taskQueue, userId, 'Signed Up', 'd1', { maxInputsPerRun: 3 });
      for (let i = 0; i < 6; i++) await handle.signal(trackEventSignal, { messageId: `x${i}`, event: 'Workout Logged' });
      await handle.signal(trackEventSignal, { messageId: 'd1', event: 'Signed Up' });
      await handle.signal(trackEventSignal, { messageId: 'x2', event: 'Workout Logged' });
      await env.sleep(60_000);
      const journey = await handle.query(getJourneyQuery);
      assert.ok(journey.stats.runs >= 2, `continued as new (runs: ${journey.stats.runs})`);
      assert.equal(journey.stats.events, 7);
      assert.equal(journey.stats.duplicates, 2);
      assert.equal(sendgrid.messages.filter((m) => m.customArgs.user_id === userId).length, 1, 'one welcome');
      await saveHistory(handle, 'dedupe-across-continue-as-new');
    });
  });
});
