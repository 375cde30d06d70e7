import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, beforeEach, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import YAML from 'yaml';
import type { JourneyActivities } from '../../activities/journey-activities.js';
import type { ReadModelActivities } from '../../activities/read-model-activities.js';
import { createOpeningActivities, type OpeningActivities } from '../../activities/opening-activities.js';
import type { ReadModelBatch } from '../../src/core/journey-facts.js';
import type { DeliveryOutcome, DeliveryRequest } from '../../src/core/journey-state.js';
import type { JourneyView } from '../../src/core/journey-view.js';
import { parseDefinition, type LoadedDefinition } from '../../src/definition-store/load-definition.js';
import { BIN } from '../../src/servers/local-servers.js';
import { DELIVERY_KINDS, deliveryTaskQueue, getJourneyQuery, newRunInput, supportActionUpdate, trackEventSignal, workflowIdFor, type CustomerJourneyInput } from '../../src/temporal/contract.js';
import { ensureSearchAttributes } from '../../src/temporal/search-attributes.js';
import { gentleKeepalive } from '../../src/temporal/time-skipping.js';
import { JourneyWorkers, WORKFLOWS_PATH } from '../../src/worker/create-worker.js';
import type { customerJourney } from '../../workflows/customer-journey.js';
import { saveHistory } from '../support/histories.js';
import { TRIAL_BASICS_PATH } from '../unit/fixtures.js';
import { silentLogger } from '../../src/worker/silent-logger.js';

/**
 * The workflow shell on its own: the real journey workflow on the time-skipping server, with its activities
 * stubbed in memory (no MongoDB, no SendGrid), so what the shell does with the core's commands (which
 * activity, in which pass, with what input; what it does with an activity's refusal; how it validates and
 * applies support actions; continue-as-new) is checked in seconds. The real-stack tests beside it run the
 * same workflow against FerretDB and a SendGrid-compatible server.
 */

const DAY = 86_400_000;
type ShellActivities = Pick<JourneyActivities, 'loadJourneyPlan' | 'evaluateSegments' | 'checkAudience' | 'deliverMessage' | 'syncComputedTraits' | 'syncProfile' | 'correctProfile'> &
  ReadModelActivities;

/** In-memory activities that record what the workflow asked of them. */
class Stubs {
  readonly calls: Array<{ name: string; input: unknown }> = [];
  /** How the provider answers a delivery; sent by default. */
  deliver: (request: DeliveryRequest) => DeliveryOutcome = () => ({ status: 'sent', provider: 'outbox' });
  /** How long an audience check takes (ms): a slow one answers after local activities asked for after it. */
  audienceCheckMs = 0;
  constructor(private readonly loaded: LoadedDefinition) {}

  named(name: string): unknown[] {
    return this.calls.filter((c) => c.name === name).map((c) => c.input);
  }

  private parts(): ShellActivities {
    const record = (name: string, input: unknown) => void this.calls.push({ name, input });
    return {
      loadJourneyPlan: async () => this.loaded.plan,
      evaluateSegments: async (input) => (record('evaluateSegments', input), ['reachable_by_email']),
      checkAudience: async (input) => {
        record('checkAudience', input);
        if (this.audienceCheckMs > 0) await new Promise((r) => setTimeout(r, this.audienceCheckMs));
        record('checkAudience answered', input);
        return { inAudience: true };
      },
      deliverMessage: async (request) => (record('deliverMessage', request), this.deliver(request)),
      syncComputedTraits: async (input) => record('syncComputedTraits', input),
      // A lean pass's profile work (code version 8): recorded as the traits write and the evaluation it stands for.
      syncProfile: async ({ traits, at, ...input }) => {
        if (traits && at !== undefined) record('syncComputedTraits', { userId: input.userId, traits, at });
        record('evaluateSegments', input);
        return ['reachable_by_email'];
      },
      correctProfile: async (input) => record('correctProfile', input),
      recordJourney: async (batch: ReadModelBatch) => record('recordJourney', batch),
    };
  }

  /** openJourney answers as if it had computed another pass than the workflow's (what it sent does not match). */
  skewOpening = false;
  /** How long openJourney takes (ms): longer than 80% of the workflow task timeout, its workflow task heartbeats. */
  openingMs = 0;
  /** The parts of openJourney that fail (the database down for them), and what it said it left out. */
  readonly failingInOpening = new Set<'syncProfile' | 'recordJourney'>();
  readonly openingWarnings: string[] = [];

  /** The stubs, and openJourney (code version 11) made of them as the worker makes it. */
  activities(): ShellActivities & OpeningActivities {
    const parts = this.parts();
    const failing = (name: 'syncProfile' | 'recordJourney') => () => {
      if (this.failingInOpening.has(name)) throw new Error(`${name}: the database is down`);
    };
    const { openJourney } = createOpeningActivities(
      {
        ...parts,
        syncProfile: async (input) => (failing('syncProfile')(), parts.syncProfile(input)),
        recordJourney: async (batch) => (failing('recordJourney')(), parts.recordJourney(batch)),
      },
      { warn: (_, message) => void this.openingWarnings.push(message) },
    );
    return {
      ...parts,
      openJourney: async (input) => {
        if (this.openingMs > 0) await new Promise((r) => setTimeout(r, this.openingMs));
        const opened = await openJourney(input);
        if (!this.skewOpening) return opened;
        return { ...opened, profile: { traits: { traits: { skewed: 1 }, at: input.now }, segments: ['skewed'] }, ...(opened.recorded ? { recorded: { ...opened.recorded, facts: [] } } : {}) };
      },
    };
  }
}

/** The local activities a history's first workflow task ran (its markers), in order. */
function localActivitiesOfFirstTask(events: Array<{ workflowTaskCompletedEventAttributes?: unknown; workflowTaskScheduledEventAttributes?: unknown; markerRecordedEventAttributes?: { details?: Record<string, { payloads?: Array<{ data?: Uint8Array | null }> | null }> | null } | null }>): string[] {
  const from = events.findIndex((e) => e.workflowTaskCompletedEventAttributes);
  const to = events.findIndex((e, i) => i > from && e.workflowTaskScheduledEventAttributes);
  return events
    .slice(from, to < 0 ? undefined : to)
    .flatMap((e) => {
      const data = e.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
      return data ? [(JSON.parse(Buffer.from(data).toString()) as { activity_type: string }).activity_type] : [];
    });
}

describe('journey workflow shell, activities stubbed (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;
  let loaded: LoadedDefinition;
  let withComputedTrait: LoadedDefinition;
  let queues = 0;

  before(async () => {
    const raw = YAML.parse(readFileSync(TRIAL_BASICS_PATH, 'utf8')) as Record<string, unknown>;
    loaded = parseDefinition({ ...raw, support: { trialTimer: 'trial_end' } }, 'trial basics with support');
    // The opening pass writes a computed trait as of its time (the time a replay must build it with, too).
    withComputedTrait = parseDefinition({ ...raw, support: { trialTimer: 'trial_end' }, computedTraits: [{ id: 'engaged', description: 'Active in the last 30 days.', activeWithin: '30 days' }] }, 'trial basics with a computed trait');
    bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: silentLogger });
  });
  // A fresh server per test (as the real-stack harness does): one scenario's leftovers can hold the clock still.
  beforeEach(async () => {
    await env?.teardown();
    env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: BIN.temporalTestServer } }, plugins: [gentleKeepalive] });
    await ensureSearchAttributes(env.connection, env.namespace ?? 'default', loaded.plan);
  });
  after(async () => {
    await env?.teardown();
  });

  /** Run `fn` with a worker on stubbed activities; the journeys it started are ended afterwards. */
  async function withShell(
    fn: (shell: { stubs: Stubs; track: (userId: string, event: string, opts?: { messageId?: string; extra?: Partial<CustomerJourneyInput>; workflowTaskTimeout?: string }) => Promise<string> }) => Promise<void>,
    definition: LoadedDefinition = loaded,
  ) {
    const stubs = new Stubs(definition);
    const taskQueue = `shell-${++queues}`;
    const started = new Set<string>();
    const common = { connection: env.nativeConnection, namespace: env.namespace ?? 'default', activities: stubs.activities() };
    // The journeys' queue, and from code version 9 a delivery queue per kind (as createJourneyWorker polls them).
    const workers = new JourneyWorkers([
      await Worker.create({ ...common, taskQueue, workflowBundle: bundle }),
      ...(await Promise.all(DELIVERY_KINDS.map((kind) => Worker.create({ ...common, taskQueue: deliveryTaskQueue(taskQueue, kind) })))),
    ]);
    let seq = 0;
    await workers.runUntil(async () => {
      try {
        await fn({
          stubs,
          track: async (userId, event, opts = {}) => {
            const handle = await env.client.workflow.signalWithStart<typeof customerJourney, [{ messageId: string; event: string }]>('customerJourney', {
              workflowId: workflowIdFor(userId),
              taskQueue,
              ...(opts.workflowTaskTimeout ? { workflowTaskTimeout: opts.workflowTaskTimeout } : {}),
              args: [newRunInput(userId, loaded.plan.id, opts.extra)],
              signal: trackEventSignal,
              signalArgs: [{ messageId: opts.messageId ?? `${userId}-${++seq}`, event }],
            });
            started.add(workflowIdFor(userId));
            return handle.signaledRunId;
          },
        });
      } finally {
        for (const id of started) await env.client.workflow.getHandle(id).terminate('test over').catch(() => undefined);
      }
    });
  }

  const journeyOf = (userId: string) => env.client.workflow.getHandle(workflowIdFor(userId)).query(getJourneyQuery);

  /**
   * Activities take real time, which time skipping does not: ask again until `done` holds (10 s at most).
   * A query that reaches a journey still loading its plan (a busy machine stretches its first workflow task)
   * is refused; that, or a call that does not answer within 5 s, is asked again too.
   */
  async function eventually<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const answer = await env.client.withDeadline(Date.now() + 5_000, read).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      if ('value' in answer && done(answer.value)) return answer.value;
      if (Date.now() > deadline) {
        const cause = 'error' in answer ? `${String(answer.error)} (${String((answer.error as { cause?: { details?: string } }).cause?.details ?? '')})` : JSON.stringify(answer.value);
        assert.fail(`${what}: still ${cause}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const settled = (userId: string) => eventually(`${userId} settled`, () => journeyOf(userId), (j) => j.messages.every((m) => m.status !== 'pending'));

  test('the start and the event it came with are one pass: one read-model write, one segment evaluation; the welcome is checked against its audience, then delivered once', async () => {
    await withShell(async ({ stubs, track }) => {
      await track('ada', 'Signed Up');
      const journey = await settled('ada');
      assert.deepEqual(journey.messages.map((m) => [m.campaignId, m.status]), [['welcome', 'sent']]);
      assert.equal(stubs.named('recordJourney').length >= 1, true);
      const [first] = stubs.named('recordJourney') as ReadModelBatch[];
      assert.deepEqual(first!.facts.map((f) => f.kind), ['stage'], 'the first write holds the start');
      assert.equal(stubs.named('evaluateSegments').length, 1, 'one segment evaluation for the first pass');
      assert.deepEqual(stubs.calls.filter((c) => c.name === 'checkAudience' || c.name === 'deliverMessage').map((c) => c.name), ['checkAudience', 'deliverMessage']);
      const [request] = stubs.named('deliverMessage') as DeliveryRequest[];
      assert.equal(request!.key, 'customer-ada/welcome/1');
      const described = await env.client.workflow.getHandle(workflowIdFor('ada')).describe();
      assert.deepEqual(described.searchAttributes.LifecycleStage, ['prospect']);
    });
  });

  test('code version 10: local activities run one at a time, in the order asked for (side by side, their answers reach a replay in another order than they reached the run)', async () => {
    await withShell(async ({ stubs, track }) => {
      // The welcome's audience check is asked for before the first pass's profile work, and takes a while.
      stubs.audienceCheckMs = 300;
      const order: Record<number, string[]> = {};
      for (const codeVersion of [9, 10]) {
        const userId = `slow-check-${codeVersion}`;
        const from = stubs.calls.length;
        await track(userId, 'Signed Up', { extra: { codeVersion } });
        await settled(userId);
        order[codeVersion] = stubs.calls.slice(from).map((c) => c.name).filter((n) => n !== 'recordJourney' && n !== 'deliverMessage');
        const history = await env.client.workflow.getHandle(workflowIdFor(userId)).fetchHistory();
        await Worker.runReplayHistory({ workflowBundle: bundle, replayName: userId }, history);
        if (codeVersion === 10) await saveHistory(env.client.workflow.getHandle(workflowIdFor(userId)), 'serial-local-activities');
      }
      assert.deepEqual(order[9], ['checkAudience', 'evaluateSegments', 'checkAudience answered'], 'code version 9: the profile work runs while the check does');
      assert.deepEqual(order[10], ['checkAudience', 'checkAudience answered', 'evaluateSegments'], 'code version 10: the profile work waits for the check');
    });
  });

  test('code version 11: a new journey loads its plan and sends its opening pass (profile work, record) in one local activity; it ends where code version 10 ends, in half the activations', async () => {
    await withShell(async ({ stubs, track }) => {
      const seen: Record<number, { calls: string[]; records: ReadModelBatch[]; journey: unknown; firstTask: string[] }> = {};
      for (const codeVersion of [10, 11]) {
        const userId = `opening-${codeVersion}`;
        const from = stubs.calls.length;
        await track(userId, 'Signed Up', { extra: { codeVersion } });
        const journey = await settled(userId);
        const handle = env.client.workflow.getHandle(workflowIdFor(userId));
        const events = (await handle.fetchHistory()).events ?? [];
        await Worker.runReplayHistory({ workflowBundle: bundle, replayName: userId }, { events });
        if (codeVersion === 11) await saveHistory(handle, 'opening-pass');
        const calls = stubs.calls.slice(from);
        // Times and the customer's id told apart only what differs between two journeys started a moment apart.
        const mine = <T>(value: T) =>
          JSON.parse(JSON.stringify(value, (_, v: unknown) => (typeof v === 'number' && v > 1e12) || (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v)) ? 'time' : v).replaceAll(userId, 'someone')) as T;
        seen[codeVersion] = {
          // Up to the welcome's delivery (the write of the pass its outcome makes may come before or after the query answers).
          calls: calls.map((c) => c.name).filter((n) => n !== 'checkAudience answered').slice(0, 4),
          records: calls.filter((c) => c.name === 'recordJourney').map((c) => mine(c.input as ReadModelBatch)).slice(0, 1),
          journey: mine(journey),
          firstTask: localActivitiesOfFirstTask(events),
        };
      }
      const [v10, v11] = [seen[10]!, seen[11]!];
      // The same journey, the same writes, the same profile work: only sent at another moment.
      assert.deepEqual(v11.journey, v10.journey);
      assert.deepEqual(v11.records, v10.records, 'the read model gets the same write for the opening pass');
      assert.deepEqual(v10.calls, ['checkAudience', 'evaluateSegments', 'recordJourney', 'deliverMessage']);
      assert.deepEqual(v11.calls, ['evaluateSegments', 'recordJourney', 'checkAudience', 'deliverMessage'], 'the opening pass is sent before its deliveries are checked');
      // The first workflow task's local activities: each answer is an activation of the workflow.
      assert.deepEqual(v10.firstTask, ['loadJourneyPlan', 'checkAudience', 'syncProfile', 'recordJourney']);
      assert.deepEqual(v11.firstTask, ['openJourney', 'checkAudience']);
    });
  });

  test('code version 11: what was sent ahead and does not match the workflow\'s own pass goes out again from the workflow', async () => {
    await withShell(async ({ stubs, track }) => {
      // A worker whose openJourney computed another pass (an older plan, say) sent a record the workflow would not write.
      stubs.skewOpening = true;
      await track('skewed', 'Signed Up');
      await settled('skewed');
      const records = stubs.named('recordJourney') as ReadModelBatch[];
      assert.deepEqual(records[1], records[0], 'the workflow writes its own record of the opening pass');
      assert.equal(stubs.named('evaluateSegments').length, 2, 'and sends its own profile work');
      const journey = await journeyOf('skewed');
      assert.deepEqual(journey.segments, ['reachable_by_email']);
    });
  });

  test('code version 11: an openJourney that outlasts a workflow task (it heartbeats) and the events that come meanwhile replay as they ran', async () => {
    await withShell(async ({ stubs, track }) => {
      // A 2 s task heartbeats at 1.6 s: the run's first task time and inbox are then not what a replay starts with.
      stubs.openingMs = 2_500;
      const userId = 'slow-opening';
      await track(userId, 'Signed Up', { workflowTaskTimeout: '2s' });
      await new Promise((r) => setTimeout(r, 800));
      await track(userId, 'Trial Started');
      const journey = await eventually('slow-opening in trial', () => journeyOf(userId), (j) => j.stage === 'trial' && j.messages.every((m) => m.status !== 'pending'));
      assert.deepEqual(journey.messages.map((m) => [m.campaignId, m.status]), [['welcome', 'sent']]);
      assert.deepEqual(stubs.named('syncComputedTraits').map((t) => (t as { traits: unknown }).traits), [{ engaged: true }], 'its computed trait written once (by openJourney)');
      const history = await env.client.workflow.getHandle(workflowIdFor(userId)).fetchHistory();
      const tasks = history.events!.filter((e) => e.workflowTaskCompletedEventAttributes).length;
      assert.ok(tasks >= 3, `the opening task heartbeated (${tasks} tasks)`);
      await Worker.runReplayHistory({ workflowBundle: bundle, replayName: userId }, history);
      await saveHistory(env.client.workflow.getHandle(workflowIdFor(userId)), 'opening-pass-heartbeat');
      // A replay whose first task starts at another time than the run's did (as a replay after a worker restart
      // mid-openJourney can) still builds the opening pass the marker recorded: its time is the marker's.
      const marker = history.events!.findIndex((e) => e.markerRecordedEventAttributes);
      const later = history.events!.map((e, i) =>
        i < marker && e.workflowTaskStartedEventAttributes ? { ...e, eventTime: { seconds: Number(e.eventTime!.seconds) + 1, nanos: e.eventTime!.nanos } } : e,
      );
      await Worker.runReplayHistory({ workflowBundle: bundle, replayName: `${userId} started later` }, { events: later });
    }, withComputedTrait);
  });

  test('code version 11: a part of the opening pass that fails in openJourney does not hold the start: the workflow sends it itself', async () => {
    await withShell(async ({ stubs, track }) => {
      stubs.failingInOpening.add('recordJourney');
      await track('no-record', 'Signed Up');
      const journey = await settled('no-record');
      assert.deepEqual(journey.messages.map((m) => [m.campaignId, m.status]), [['welcome', 'sent']]);
      assert.deepEqual(stubs.openingWarnings, ['opening pass: record not sent ahead; the journey sends it']);
      const [first] = stubs.named('recordJourney') as ReadModelBatch[];
      assert.deepEqual(first!.facts.map((f) => f.kind), ['stage'], "the opening pass's record, written by the workflow");
      assert.equal(stubs.named('evaluateSegments').length, 1, 'the profile work went ahead and is not sent again');

      stubs.failingInOpening.add('syncProfile');
      await track('no-profile', 'Signed Up');
      await settled('no-profile');
      assert.equal(stubs.openingWarnings[1], 'opening pass: profile work not sent ahead; the journey sends it');
      assert.equal(stubs.openingWarnings.length, 2, 'no record is sent ahead without its segments');
      assert.deepEqual(((await journeyOf('no-profile')) as { segments: string[] }).segments, ['reachable_by_email'], 'the workflow sent the profile work itself');
      assert.equal(stubs.named('evaluateSegments').length, 2);
    });
  });

  test("a provider's refusal (non-retryable) is the message's outcome, and the journey goes on", async () => {
    await withShell(async ({ stubs, track }) => {
      stubs.deliver = () => {
        throw ApplicationFailure.nonRetryable('550 no such mailbox', 'DeliveryRejected');
      };
      await track('bo', 'Signed Up');
      await settled('bo');
      await track('bo', 'Trial Started');
      const journey = await eventually('bo in trial', () => journeyOf('bo'), (j) => j.stage === 'trial');
      assert.equal(journey.stage, 'trial');
      assert.deepEqual(journey.messages.map((m) => [m.campaignId, m.status, m.reason]), [['welcome', 'failed', '550 no such mailbox']]);
      assert.equal(stubs.named('deliverMessage').length, 1, 'not retried');
    });
  });

  test('the trial timer: the reminder 3 days before it ends, then the move to churned when it fires', async () => {
    await withShell(async ({ stubs, track }) => {
      await track('cy', 'Trial Started');
      await env.sleep(31 * DAY);
      const journey = await journeyOf('cy');
      assert.equal(journey.stage, 'churned');
      assert.deepEqual(journey.stages.map((s) => s.stage), ['prospect', 'trial', 'churned']);
      assert.deepEqual((stubs.named('deliverMessage') as DeliveryRequest[]).map((r) => r.campaignId), ['trial_ending']);
    });
  });

  test('support: what does not apply is refused before history; an accepted correction runs its activity, then is audited', async () => {
    await withShell(async ({ stubs, track }) => {
      await track('di', 'Signed Up');
      const handle = env.client.workflow.getHandle(workflowIdFor('di'));
      await settled('di');
      const updates = async () => (await handle.fetchHistory()).events!.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
      const refusal = async (request: unknown) => {
        const err = await handle.executeUpdate(supportActionUpdate, { args: [request as never] }).then(
          () => undefined,
          (e: Error & { cause?: Error }) => e.cause?.message ?? e.message,
        );
        return err;
      };
      assert.equal(await refusal({ action: 'cancelEverything', actor: 'support@example.com' }), 'unknown action cancelEverything');
      assert.equal(await refusal({ action: 'extendTrial', days: 7 }), 'say who acts (actor)');
      assert.equal(await refusal({ action: 'extendTrial', days: 0, actor: 'support@example.com' }), 'extend a trial by 1 to 90 whole days');
      assert.match((await refusal({ action: 'extendTrial', days: 7, actor: 'support@example.com' }))!, /"trial ends" is not running for this customer \(stage prospect\)/);
      assert.equal(await refusal({ action: 'correctProfile', actor: 'support@example.com' }), 'say the timezone or the locale to correct');
      assert.equal(await updates(), 0, 'refused updates leave no trace in history');

      const view = await handle.executeUpdate(supportActionUpdate, { args: [{ action: 'correctProfile', timezone: 'Europe/Berlin', actor: 'support@example.com', reason: 'moved' }] });
      assert.deepEqual(stubs.named('correctProfile'), [{ userId: 'di', timezone: 'Europe/Berlin' }]);
      assert.deepEqual(view.audit.map((a) => [a.actor, a.action, a.reason]), [['support@example.com', 'profile corrected: timezone Europe/Berlin', 'moved']]);
      assert.equal(await updates(), 1);
    });
  });

  test('continue-as-new after maxInputsPerRun carries the journey: an event repeated in the next run is still a duplicate', async () => {
    await withShell(async ({ track }) => {
      const extra = { maxInputsPerRun: 2 };
      const firstRun = await track('ed', 'Signed Up', { messageId: 'ed-1', extra });
      await track('ed', 'Trial Started', { messageId: 'ed-2', extra });
      await track('ed', 'Workout Logged', { messageId: 'ed-3', extra });
      const handle = env.client.workflow.getHandle(workflowIdFor('ed'));
      await eventually('ed continued as new', async () => (await handle.describe()).runId, (runId) => runId !== firstRun);
      // A sign-up applied twice would send a second welcome; the event after it shows both were applied.
      await track('ed', 'Signed Up', { messageId: 'ed-1', extra });
      await track('ed', 'Subscription Started', { messageId: 'ed-4', extra });
      const journey = await eventually('ed subscribed', () => journeyOf('ed'), (j) => j.stage === 'subscriber');
      assert.deepEqual(journey.stages.map((s) => s.stage), ['prospect', 'trial', 'subscriber']);
      assert.deepEqual(journey.messages.filter((m) => m.campaignId === 'welcome').length, 1, 'the repeated sign-up did not count again');
    });
  });

  test('a support action retried with its update id after the journey continued as new is answered, not taken again (code version 12); a run of 11 took it again', async () => {
    await withShell(async ({ track }) => {
      const pause = { action: 'pauseMarketing' as const, actor: 'support@example.com', reason: 'asked on the phone' };
      const outcomes: Record<string, unknown> = {};
      for (const [userId, codeVersion] of [['fa', undefined], ['fb', 11]] as const) {
        // Room in the first run for the sign-up, its welcome's outcome and the pause; events after them end it.
        const extra = { maxInputsPerRun: 4, ...(codeVersion ? { codeVersion } : {}) };
        const firstRun = await track(userId, 'Signed Up', { messageId: `${userId}-1`, extra });
        await settled(userId);
        const handle = env.client.workflow.getHandle(workflowIdFor(userId));
        const updateId = `support-pauseMarketing-${userId}`;
        const paused = await handle.executeUpdate(supportActionUpdate, { args: [pause], updateId });
        assert.equal(paused.marketing, 'paused');
        // Within the run Temporal answers the retry itself.
        assert.deepEqual(await handle.executeUpdate(supportActionUpdate, { args: [pause], updateId }), paused);
        await track(userId, 'Trial Started', { messageId: `${userId}-2`, extra });
        // Events until the run has continued as new (it does once it is idle; on a busy machine that takes a while).
        const deadline = Date.now() + 60_000;
        for (let i = 3; (await handle.describe()).runId === firstRun; i++) {
          assert.ok(Date.now() < deadline, `${userId} did not continue as new within 60 s`);
          await track(userId, 'Workout Logged', { messageId: `${userId}-${i}`, extra });
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
        outcomes[userId] = await handle.executeUpdate(supportActionUpdate, { args: [pause], updateId }).then(
          (view) => view,
          (e: Error & { cause?: Error }) => e.cause?.message ?? e.message,
        );
        if (userId === 'fa') await saveHistory(handle, 'support-retry-after-continue-as-new');
      }
      const retried = outcomes.fa as JourneyView;
      assert.equal(retried.stage, 'trial', 'answered with the journey as it is now');
      assert.equal(retried.marketing, 'paused');
      assert.deepEqual(retried.audit.map((a) => [a.actor, a.action]), [['support@example.com', 'marketing paused']], 'the pause was taken once');
      assert.equal(outcomes.fb, 'marketing is paused already', 'a run of code version 11 handed no update ids on: the retry was taken again, and refused');
    });
  });
});
