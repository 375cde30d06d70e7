import type { PushChannelDeps } from '../../src/channels/push.js';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import { pino } from 'pino';
import { FAILURE_CONVERTER_PATH } from '../../src/codec/data-converter.js';
import { bucketOf } from '../../src/core/ids.js';
import type { JourneyPlan } from '../../src/core/journey-definition.js';
import type { LoadedDefinition } from '../../src/definition-store/load-definition.js';
import { createSendgridMailer } from '../../src/delivery/mailer.js';
import type { WebhookChannel } from '../../src/delivery/webhook-channel.js';
import type { SmsSettings } from '../../src/channels/sms.js';
import { BIN } from '../../src/servers/local-servers.js';
import { queryJourney } from '../../src/temporal/client.js';
import { gentleKeepalive } from '../../src/temporal/time-skipping.js';
import { ensureSearchAttributes } from '../../src/temporal/search-attributes.js';
import { createJourneyWorker, WORKFLOWS_PATH } from '../../src/worker/create-worker.js';
import type { customerJourney } from '../../workflows/customer-journey.js';
import { newRunInput, identifyCustomerSignal, trackEventSignal, type CustomerJourneyInput, type JourneyView } from '../../src/temporal/contract.js';
import { testDataConverter } from './codec.js';
import { startTestDatabase, type TestDatabase } from './database.js';
import { coachingLive, definitionStore } from './definitions.js';
import { startSendgridServer, type SendgridServer } from './sendgrid-server.js';
import { silentLogger } from '../../src/worker/silent-logger.js';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
const SENDGRID_KEY = 'SG.workflow-tests';

async function startTestServer(plan: JourneyPlan): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: BIN.temporalTestServer } },
    plugins: [gentleKeepalive],
    // Payloads encrypted as in production, so every workflow test runs through the codec.
    client: { dataConverter: testDataConverter() },
  });
  await ensureSearchAttributes(env.connection, env.namespace ?? 'default', plan);
  return env;
}

/**
 * The workflow test layer: the time-skipping test server, real activities against FerretDB, and a
 * SendGrid-compatible server the real client delivers to. One per test file.
 */
export class JourneyHarness {
  private taskQueues = 0;
  private constructor(
    public env: TestWorkflowEnvironment,
    readonly db: TestDatabase,
    readonly sendgrid: SendgridServer,
    readonly bundle: WorkflowBundleWithSourceMap,
    readonly definition: LoadedDefinition,
  ) {}

  static async start(name: string, definition?: LoadedDefinition): Promise<JourneyHarness> {
    const loaded = definition ?? (await coachingLive());
    const [env, db, sendgrid, bundle] = await Promise.all([
      startTestServer(loaded.plan),
      startTestDatabase(name),
      startSendgridServer({ apiKey: SENDGRID_KEY }),
      bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, failureConverterPath: FAILURE_CONVERTER_PATH, logger: silentLogger }),
    ]);
    return new JourneyHarness(env, db, sendgrid, bundle, loaded);
  }

  /**
   * A fresh time-skipping server for the next test: what one scenario leaves behind (a task in flight when
   * its worker stopped) can hold the shared server's clock still for the scenarios after it.
   */
  async freshServer(): Promise<void> {
    await this.env.teardown();
    this.env = await startTestServer(this.definition.plan);
  }

  async teardown(): Promise<void> {
    await this.env?.teardown();
    await this.sendgrid?.close();
    await this.db?.teardown();
  }

  /** Run `fn` while a worker serves `definition` (the harness's own by default) on `taskQueue` (a fresh one by default). */
  /** Journeys started through `customer()`, ended after their test so their timers do not stall time skipping. */
  readonly started = new Set<string>();

  /**
   * Run `fn` while a worker serves `definition` (the harness's own by default) on `taskQueue` (a fresh one
   * by default). Afterwards the journeys started meanwhile are terminated unless `keep`: a journey whose
   * timer fires with no worker polling holds the test server's clock still for every later test.
   */
  async withWorker<T>(
    fn: (taskQueue: string) => Promise<T>,
    opts: { definition?: LoadedDefinition; taskQueue?: string; keep?: boolean; webhooks?: WebhookChannel; sms?: SmsSettings; webPush?: PushChannelDeps['webPush'] } = {},
  ): Promise<T> {
    const taskQueue = opts.taskQueue ?? `journey-${++this.taskQueues}`;
    const worker = await createJourneyWorker({
      connection: this.env.nativeConnection,
      namespace: this.env.namespace ?? 'default',
      taskQueue,
      workflowBundle: this.bundle,
      client: this.env.client,
      dataConverter: testDataConverter(),
      deps: {
        models: this.db.models,
        definitions: await definitionStore(this.db.models, opts.definition ?? this.definition),
        mailer: createSendgridMailer({ apiKey: SENDGRID_KEY, baseUrl: this.sendgrid.url }),
        emailFrom: 'CoachingLive <hello@coachinglive.example>',
        logger: pino({ level: 'silent' }),
        ...(opts.webhooks ? { webhooks: opts.webhooks } : {}),
        ...(opts.sms ? { sms: opts.sms } : {}),
        ...(opts.webPush ? { webPush: opts.webPush } : {}),
      },
    });
    // End the journeys while the worker still runs, so it is not stopped with their tasks in flight.
    return worker.runUntil(async () => {
      try {
        return await fn(taskQueue);
      } finally {
        if (!opts.keep) {
          for (const workflowId of this.started) {
            await this.env.client.workflow
              .getHandle(workflowId)
              .terminate('test over')
              .catch(() => undefined);
          }
          this.started.clear();
        }
      }
    });
  }

  async profile(userId: string, fields: Record<string, unknown> = {}): Promise<void> {
    await this.db.models.Customer.create({ _id: userId, email: `${userId}@example.com`, firstName: 'Ada', traits: {}, ...fields });
  }

  /** Move the server clock to the next `hour`:00 UTC, so send-time decisions do not depend on when tests run. */
  async alignTo(hourUtc: number): Promise<number> {
    const now = await this.env.currentTimeMs();
    const d = new Date(now);
    let target = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), hourUtc);
    if (target <= now) target += DAY;
    await this.env.sleep(target - now);
    return target;
  }

  async now(): Promise<number> {
    return this.env.currentTimeMs();
  }

  /** Poll (a minute of server time at a time, up to an hour) until `probe` answers. */
  async eventually<T>(what: string, probe: () => Promise<T | undefined | false | null>): Promise<T> {
    for (let i = 0; i < 60; i++) {
      const value = await probe();
      if (value) return value;
      await this.env.sleep(MINUTE);
    }
    throw new Error(`never happened: ${what}`);
  }

  customer(taskQueue: string, userId: string, extra: Partial<CustomerJourneyInput> = {}): Customer {
    return new Customer(this, taskQueue, userId, extra);
  }

  sentTo(userId: string) {
    return this.sendgrid.messages.filter((m) => m.customArgs.user_id === userId);
  }
}

/** One customer's journey, driven the way the API drives it (signal-with-start). */
export class Customer {
  private seq = 0;
  handle?: WorkflowHandle<typeof customerJourney>;
  constructor(
    private readonly h: JourneyHarness,
    private readonly taskQueue: string,
    readonly userId: string,
    private readonly extra: Partial<CustomerJourneyInput>,
  ) {}

  async track(event: string, properties?: Record<string, unknown>): Promise<void> {
    const signal = { messageId: `${this.userId}-${++this.seq}`, event, ...(properties ? { properties } : {}) };
    this.handle = await this.h.env.client.workflow.signalWithStart<typeof customerJourney, [typeof signal]>('customerJourney', {
      workflowId: `customer-${this.userId}`,
      taskQueue: this.taskQueue,
      args: [newRunInput(this.userId, this.h.definition.definition.id, this.extra)],
      signal: trackEventSignal,
      signalArgs: [signal],
    });
    this.h.started.add(`customer-${this.userId}`);
  }

  async identify(fields: Record<string, unknown>): Promise<void> {
    const { traits, ...top } = fields as { traits?: Record<string, unknown> };
    await this.h.db.models.Customer.updateOne(
      { _id: this.userId },
      { $set: { ...top, ...Object.fromEntries(Object.entries(traits ?? {}).map(([k, v]) => [`traits.${k}`, v])) } },
      { upsert: true },
    );
    await this.handle?.signal(identifyCustomerSignal, { traits: Object.keys(fields) });
  }

  /** The journey's view; asked again (for 10 s at most) while the journey is still loading its plan, as a busy machine has it. */
  async journey(): Promise<JourneyView> {
    if (!this.handle) throw new Error('no journey yet');
    return queryJourney(this.h.env.client.workflow.getHandle(`customer-${this.userId}`), Date.now() + 10_000);
  }

  /** Events every `everyDays` for `days` days, each one of `event`, sleeping between them. */
  async repeat(event: string, days: number, everyDays: number): Promise<void> {
    for (let d = 0; d < days; d += everyDays) {
      await this.track(event);
      await this.h.env.sleep(everyDays * DAY);
    }
  }
}

/** A user id whose experiment bucket for `campaignId` falls in [lo, hi): pick customers into a variant or the holdout. */
export function userInBucket(prefix: string, campaignId: string, lo: number, hi: number): string {
  for (let i = 0; i < 100_000; i++) {
    const id = `${prefix}-${i}`;
    const b = bucketOf(id, campaignId);
    if (b >= lo && b < hi) return id;
  }
  throw new Error('no id found');
}

/** The journey's messages as [campaign, status] pairs, in order, without cancelled steps unless asked. */
export function outcomes(view: JourneyView, opts: { cancelled?: boolean } = {}): Array<[string, string]> {
  return view.messages.filter((m) => opts.cancelled || m.status !== 'cancelled').map((m) => [m.campaignId, m.status]);
}
