import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { FanOutPage } from '../../activities/broadcast-activities.js';
import { EncryptionCodec } from '../../src/codec/encryption-codec.js';
import { connectDatabase, type Database } from '../../src/db/models.js';
import { freePort, type RunningServer } from '../../src/servers/local-servers.js';
import { deliverBroadcastSignal } from '../../src/temporal/contract.js';
import { testDataConverter, testPayloadKeys } from '../support/codec.js';
import { zoneInsideTheWindow } from '../support/zones.js';
import { runEntry, waitFor, type AppProcess } from '../support/processes.js';
import { apiCaller, startLocalServers, type LocalServers } from '../support/stack.js';
import type { SendgridServer } from '../support/sendgrid-server.js';

const WRITE_KEY = 'e2e-writer-key-0123456789';
const READ_KEY = 'e2e-reader-key-0123456789';
const SENDGRID_KEY = 'SG.e2e-key';
const DAILY_BRIEF = 'broadcast-coachinglive-daily_brief';
const NEW_YEAR = 'broadcast-coachinglive-new_year_starter';

interface JourneyBody {
  stage: string;
  stages: Array<{ stage: string; from: string | null }>;
  messages: Array<{ key: string; campaignId: string; status: string; reason?: string }>;
  stats: { duplicates: number };
}

/**
 * Broadcasts and KPIs through the whole stack: the real Temporal dev server (SQLite), FerretDB, our worker
 * and API as their own processes, and the SendGrid-compatible server the real client delivers to.
 */
describe('broadcast schedules, broadcast delivery, KPIs and the read model, end to end', () => {
  let servers: LocalServers;
  let temporal: RunningServer & { uiUrl: string };
  let ferret: RunningServer & { uri: (db: string) => string };
  let sendgrid: SendgridServer;
  let worker: AppProcess;
  let api: AppProcess;
  let base: string;
  let env: Record<string, string>;
  let client: Client;
  let db: Database;
  const timezone = zoneInsideTheWindow();

  const call = apiCaller(() => base);
  const identify = async (userId: string, traits: Record<string, unknown>) => {
    const res = await call('POST', '/v1/identify', { key: WRITE_KEY, body: { userId, traits } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  };
  const track = async (userId: string, event: string, messageId: string, properties?: Record<string, unknown>) => {
    const res = await call('POST', '/v1/track', { key: WRITE_KEY, body: { userId, event, messageId, ...(properties ? { properties } : {}) } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
  };
  const journeyOf = async (userId: string): Promise<JourneyBody> => {
    const res = await call('GET', `/v1/customers/${userId}`, { key: READ_KEY });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.journey as JourneyBody;
  };
  const kpis = async () => {
    const res = await call('GET', '/v1/kpis', { key: READ_KEY });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as {
      customers: number;
      customersPerStage: Record<string, number>;
      rates: { activation: number | null };
      counts: { paying: number };
      campaigns: Array<{ campaignId: string; variants: Array<{ variant: string; sent: number; skipped: number }> }>;
    };
  };
  const mails = (campaignId: string, userId?: string) =>
    sendgrid.messages.filter((m) => m.customArgs.campaign_id === campaignId && (userId === undefined || m.customArgs.user_id === userId));
  /** Polls until `check` passes; on time-out the last failure is the error (so it reads as an assertion). */
  const eventually = async (fn: () => Promise<void>, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };
  const startWorker = () => runEntry('src/worker/main.ts', env);
  const withOutput = (err: unknown) =>
    new Error(`${(err as Error).message}\nAPI output:\n${api?.output()}\nworker output:\n${worker?.output()}`, { cause: err });

  before(async () => {
    servers = await startLocalServers('lifecycle-e2e-broadcasts-', SENDGRID_KEY);
    ({ temporal, ferret, sendgrid } = servers);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = {
      TEMPORAL_ADDRESS: temporal.address,
      MONGODB_URI: ferret.uri('lifecycle_e2e_broadcasts'),
      TASK_QUEUE: 'lifecycle-e2e-broadcasts',
      API_PORT: String(port),
      API_KEYS: `${WRITE_KEY}=events:write,${READ_KEY}=customers:read`,
      SENDGRID_API_KEY: SENDGRID_KEY,
      SENDGRID_BASE_URL: sendgrid.url,
      UPSTREAM_TIMEOUT_MS: '3000',
    };
    worker = startWorker();
    api = runEntry('src/api/main.ts', env);
    await waitFor('the API to be ready', async () => (await call('GET', '/readyz')).status === 200, 60_000).catch((err) => {
      throw withOutput(err);
    });
    // The workers encrypt payloads (schedule actions, results) with the test key: this client reads them with it.
    client = new Client({ connection: await Connection.connect({ address: temporal.address }), dataConverter: testDataConverter() });
    db = await connectDatabase(ferret.uri('lifecycle_e2e_broadcasts'));
  });

  after(async () => {
    await db?.close();
    await client?.connection.close();
    await Promise.all([api?.stop(), worker?.stop()]);
    await servers?.stop();
  });

  const broadcastSchedules = async () => {
    const ids: string[] = [];
    for await (const s of client.schedule.list()) if (s.scheduleId.startsWith('broadcast-coachinglive-')) ids.push(s.scheduleId);
    return ids.sort();
  };

  test('the worker creates one schedule per broadcast campaign, with its cron spec; a restart does not duplicate them', async () => {
    const described = await waitFor(
      'the worker to create the broadcast schedules',
      async () => Promise.all([client.schedule.getHandle(DAILY_BRIEF).describe(), client.schedule.getHandle(NEW_YEAR).describe()]),
      60_000,
    ).catch((err) => {
      throw withOutput(err);
    });
    const [daily, newYear] = described;
    const at = (hour: number, minute = 0) => ({ hour: [{ start: hour, end: hour, step: 1 }], minute: [{ start: minute, end: minute, step: 1 }] });

    // "0 7 * * *": every day at 07:00 UTC.
    assert.equal(daily.spec.timezone, 'UTC');
    assert.equal(daily.spec.calendars?.length, 1);
    assert.deepEqual({ hour: daily.spec.calendars![0]!.hour, minute: daily.spec.calendars![0]!.minute }, at(7));
    const nextDaily = daily.info.nextActionTimes.map((d) => d.toISOString());
    assert.ok(nextDaily.length >= 2, JSON.stringify(nextDaily));
    for (const t of nextDaily) assert.match(t, /T07:00:00\.000Z$/);
    assert.equal(Date.parse(nextDaily[1]!) - Date.parse(nextDaily[0]!), 86_400_000, 'daily');
    assert.equal(daily.action.type, 'startWorkflow');
    assert.equal(daily.action.workflowType, 'broadcastCampaign');
    assert.deepEqual(daily.action.args, [{ campaignId: 'daily_brief', definition: { id: 'coachinglive' } }]);
    assert.equal(daily.policies.overlap, 'SKIP');

    // "0 9 1 1 *": January 1st at 09:00 UTC.
    assert.equal(newYear.spec.timezone, 'UTC');
    assert.deepEqual({ hour: newYear.spec.calendars![0]!.hour, minute: newYear.spec.calendars![0]!.minute }, at(9));
    for (const t of newYear.info.nextActionTimes.map((d) => d.toISOString())) assert.match(t, /^\d{4}-01-01T09:00:00\.000Z$/);
    assert.deepEqual(newYear.action.type === 'startWorkflow' && newYear.action.args, [{ campaignId: 'new_year_starter', definition: { id: 'coachinglive' } }]);

    assert.deepEqual(await waitFor('both schedules listed', async () => ((await broadcastSchedules()).length === 2 ? broadcastSchedules() : undefined)), [
      NEW_YEAR,
      DAILY_BRIEF,
    ].sort());

    // Restart the worker: it syncs again (updating the schedules in place), and there are still exactly two.
    const before = { daily: daily.info.lastUpdatedAt?.getTime() ?? 0, newYear: newYear.info.lastUpdatedAt?.getTime() ?? 0 };
    await worker.stop();
    worker = startWorker();
    await waitFor(
      'the restarted worker to sync the schedules',
      async () => {
        const [d, n] = await Promise.all([client.schedule.getHandle(DAILY_BRIEF).describe(), client.schedule.getHandle(NEW_YEAR).describe()]);
        return (d.info.lastUpdatedAt?.getTime() ?? 0) > before.daily && (n.info.lastUpdatedAt?.getTime() ?? 0) > before.newYear;
      },
      60_000,
    ).catch((err) => {
      throw withOutput(err);
    });
    assert.deepEqual(await broadcastSchedules(), [NEW_YEAR, DAILY_BRIEF].sort());
    const again = await client.schedule.getHandle(DAILY_BRIEF).describe();
    assert.deepEqual({ hour: again.spec.calendars![0]!.hour, minute: again.spec.calendars![0]!.minute }, at(7));
    assert.deepEqual(again.action.type === 'startWorkflow' && again.action.args, [{ campaignId: 'daily_brief', definition: { id: 'coachinglive' } }]);
  });

  // Readers (prospects who asked for the brief), a reader in trial, a prospect who did not ask, and a reader
  // who unsubscribed from marketing.
  const readers = ['rea-e2e', 'rob-e2e'];
  const trialist = 'tia-e2e';
  const nonReader = 'nat-e2e';
  const quitter = 'quin-e2e';
  const everyone = [...readers, trialist, nonReader, quitter];

  /**
   * Trigger the daily brief now and wait for that broadcast run to finish. Runs are told apart by run id:
   * two runs started in the same second share a workflow id (the schedule appends the time to the second).
   */
  const runDailyBrief = async () => {
    const handle = client.schedule.getHandle(DAILY_BRIEF);
    const runsOf = async () => (await handle.describe()).info.recentActions.map((a) => a.action.workflow);
    const earlier = new Set((await runsOf()).map((w) => w.firstExecutionRunId));
    await handle.trigger();
    const run = await waitFor('the triggered broadcast run', async () => (await runsOf()).find((w) => !earlier.has(w.firstExecutionRunId)));
    const workflow = client.workflow.getHandle(run.workflowId, run.firstExecutionRunId);
    const result = await workflow.result();
    // The broadcast id the journeys were signalled with, as the run's history shows it (the fan-out's input).
    const scheduled = (await workflow.fetchHistory()).events?.find((e) => e.activityTaskScheduledEventAttributes)?.activityTaskScheduledEventAttributes;
    assert.ok(scheduled?.input?.payloads?.[0], 'the run scheduled its fan-out');
    const [input] = await new EncryptionCodec(testPayloadKeys()).decode([scheduled.input.payloads[0]]);
    const page = defaultPayloadConverter.fromPayload<FanOutPage>(input!);
    return { broadcastId: page.broadcastId, result };
  };

  test('a broadcast reaches exactly the prospects who read the brief, once per run and once per broadcast id', async () => {
    // The daily brief also fires on its own at 07:00 UTC: when that is less than a minute away, let it pass
    // first (it finds nobody yet), so that the only runs during these tests are the ones triggered here.
    const nextFire = (await client.schedule.getHandle(DAILY_BRIEF).describe()).info.nextActionTimes[0]!.getTime();
    if (nextFire - Date.now() < 60_000) await new Promise((r) => setTimeout(r, Math.max(0, nextFire - Date.now()) + 5_000));

    for (const userId of everyone) {
      await identify(userId, {
        email: `${userId}@example.com`,
        firstName: userId.split('-')[0],
        timezone,
        ...(userId === nonReader ? {} : { dailyBrief: true }),
      });
      await track(userId, 'Signed Up', `${userId}-1`);
    }
    await track(trialist, 'Trial Started', `${trialist}-2`);
    await track(quitter, 'Unsubscribed', `${quitter}-2`);

    // The read model has everyone in their stage (the fan-out reads it), and every welcome has gone.
    await eventually(async () => assert.deepEqual((await kpis()).customersPerStage, { prospect: 4, trial: 1 }));
    await sendgrid.waitForMessages(everyone.length, 30_000);
    assert.deepEqual(mails('welcome').map((m) => m.customArgs.user_id).sort(), [...everyone].sort());
    await eventually(async () => assert.equal((await journeyOf(quitter)).stats.duplicates, 0));

    const first = await runDailyBrief();
    const firstBroadcastId = first.broadcastId;
    assert.match(firstBroadcastId, new RegExp(`^${DAILY_BRIEF}-run-`));
    assert.deepEqual(first.result, { signalled: 3, withoutJourney: 0 }, 'the two readers and the unsubscribed reader: prospects in the segment');

    await eventually(async () => {
      for (const userId of readers) assert.equal(mails('daily_brief', userId).length, 1, `daily brief to ${userId}`);
    });
    await eventually(async () => {
      const skipped = (await journeyOf(quitter)).messages.filter((m) => m.campaignId === 'daily_brief');
      assert.deepEqual(skipped.map((m) => [m.status, m.reason]), [['skipped', 'unsubscribed from marketing']]);
    });
    // The fan-out reached each journey by the acceptBroadcast update (answered once the journey took it in), not
    // by the signal it falls back to.
    const history = (await client.workflow.getHandle(`customer-${readers[0]}`).fetchHistory()).events ?? [];
    const accepted = history.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'acceptBroadcast');
    assert.equal(accepted.length, 1, 'one acceptBroadcast update in the reader\'s history');
    assert.equal(history.filter((e) => e.workflowExecutionUpdateCompletedEventAttributes).length, 1, 'and it was answered');
    assert.equal(history.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'deliverBroadcast').length, 0);
    const brief = mails('daily_brief', readers[0])[0]!;
    assert.equal(brief.subject, 'Today on CoachingLive');
    assert.equal(brief.to, `${readers[0]}@example.com`);

    // A second run is a new broadcast: the readers get it again.
    const second = await runDailyBrief();
    assert.notEqual(second.broadcastId, firstBroadcastId);
    assert.deepEqual(second.result, { signalled: 3, withoutJourney: 0 });
    await eventually(async () => {
      for (const userId of readers) assert.equal(mails('daily_brief', userId).length, 2, `second daily brief to ${userId}`);
    });
    await eventually(async () => {
      const skipped = (await journeyOf(quitter)).messages.filter((m) => m.campaignId === 'daily_brief');
      assert.deepEqual(skipped.map((m) => m.status), ['skipped', 'skipped']);
    });

    // The same broadcast id once more, by hand: the journey applies it once, nothing else is sent.
    await client.workflow.getHandle(`customer-${readers[0]}`).signal(deliverBroadcastSignal, { campaignId: 'daily_brief', broadcastId: firstBroadcastId });
    await eventually(async () => assert.equal((await journeyOf(readers[0]!)).stats.duplicates, 1, 'the repeated broadcast was seen as a duplicate'));
    await new Promise((r) => setTimeout(r, 1_500));
    const toReader = mails('daily_brief', readers[0]);
    assert.equal(toReader.length, 2, 'one message per broadcast run');
    assert.equal(new Set(toReader.map((m) => m.customArgs.delivery_key)).size, 2);
    const journey = await journeyOf(readers[0]!);
    assert.deepEqual(journey.messages.filter((m) => m.campaignId === 'daily_brief').map((m) => m.status), ['sent', 'sent']);

    // Nobody else got a brief: not the trialist, not the prospect who did not ask for it, not the unsubscribed.
    assert.deepEqual(mails('daily_brief').map((m) => m.customArgs.user_id).sort(), [...readers, ...readers].sort());
    for (const userId of [trialist, nonReader]) {
      assert.deepEqual((await journeyOf(userId)).messages.filter((m) => m.campaignId === 'daily_brief'), [], `${userId} was not reached`);
    }
  });

  test('KPIs: stages, activation after a subscription, and sent counts that match what the provider received', async () => {
    await track(trialist, 'Subscription Started', `${trialist}-3`, { plan: 'light' });
    await waitFor('the subscription welcome', async () => mails('subscription_welcome', trialist).length === 1, 30_000);

    const sentOf = (k: Awaited<ReturnType<typeof kpis>>, campaignId: string) =>
      k.campaigns.find((c) => c.campaignId === campaignId)?.variants.reduce((sum, v) => sum + v.sent, 0) ?? 0;
    await eventually(async () => {
      const k = await kpis();
      assert.equal(k.customers, 5);
      assert.deepEqual(k.customersPerStage, { prospect: 4, subscriber: 1 });
      assert.equal(k.counts.paying, 1);
      assert.equal(k.rates.activation, 20, '1 paying customer of 5');
      for (const campaignId of ['welcome', 'daily_brief', 'subscription_welcome']) {
        assert.equal(sentOf(k, campaignId), mails(campaignId).length, `${campaignId} sent`);
      }
    });
    const k = await kpis();
    assert.equal(sentOf(k, 'welcome'), 5);
    assert.equal(sentOf(k, 'daily_brief'), 4);
    const dailyBrief = k.campaigns.find((c) => c.campaignId === 'daily_brief')!;
    assert.deepEqual(
      dailyBrief.variants.map((v) => [v.variant, v.sent, v.skipped]),
      [['default', 4, 2]],
      'the unsubscribed reader was skipped twice',
    );
    assert.equal(sendgrid.messages.length, 5 + 4 + 1, 'nothing else was sent');
  });

  test('the read model: one stage fact per stage change, and the journeys document agrees with the API', async () => {
    for (const userId of everyone) {
      await eventually(async () => {
        const journey = await journeyOf(userId);
        const facts = await db.models.JourneyFactRecord.find({ userId, kind: 'stage' }).lean();
        const bySeq = facts
          .filter((f) => f.kind === 'stage')
          .sort((a, b) => Number(a._id.split('/').pop()) - Number(b._id.split('/').pop()));
        assert.equal(bySeq.length, facts.length);
        assert.deepEqual(
          bySeq.map((f) => ({ stage: f.stage, from: f.from ?? null })),
          journey.stages.map((s) => ({ stage: s.stage, from: s.from })),
          `stage facts of ${userId}`,
        );
        const record = await db.models.JourneyRecord.findById(userId).lean();
        assert.equal(record?.stage, journey.stage, `journeys document of ${userId}`);
      });
    }
    assert.deepEqual((await journeyOf(trialist)).stages.map((s) => s.stage), ['prospect', 'trial', 'subscriber']);
    assert.equal((await db.models.JourneyFactRecord.countDocuments({ kind: 'stage' })), 5 + 2, 'one per customer at the start, two for the subscriber');
  });
});
