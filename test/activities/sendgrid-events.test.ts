/**
 * Applying SendGrid Event Webhook batches (SendgridEvents) against the real MongoDB-compatible server and a
 * real Temporal server (the time-skipping test server), with a stand-in journey that keeps the signals it
 * gets: what is stored, what is marked on the delivery record, what each journey is told, and outages.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { pino } from 'pino';
import { UpstreamUnavailable } from '../../src/http/errors.js';
import { SendgridEvents } from '../../src/api/sendgrid-events.js';
import type { EmailEvent } from '../../src/core/journey-state.js';
import { BIN, freePort } from '../../src/servers/local-servers.js';
import { gentleKeepalive } from '../../src/temporal/time-skipping.js';
import { testDataConverter } from '../support/codec.js';
import { startTestDatabase, type TestDatabase } from '../support/database.js';
import { waitFor } from '../support/processes.js';
import { receivedEmailEventsQuery } from '../support/email-event-recorder.js';
import { sendgridEvent, type SendgridEventKind } from '../support/sendgrid-event-webhook.js';

const TASK_QUEUE = 'sendgrid-events-test';
const MINUTE = 60_000;
/** 16:00 UTC on a summer day: 18:00 in Berlin (CEST). */
const T = Date.UTC(2026, 6, 1, 16, 0);
const quiet = pino({ level: 'silent' });

describe('applying SendGrid event batches', () => {
  let db: TestDatabase & { stopServer(): Promise<void> };
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let events: SendgridEvents;

  before(async () => {
    [db, env] = await Promise.all([
      startTestDatabase('activities_sendgrid_events'),
      TestWorkflowEnvironment.createTimeSkipping({
        server: { executable: { type: 'existing-path', path: BIN.temporalTestServer } },
        plugins: [gentleKeepalive],
        client: { dataConverter: testDataConverter() },
      }),
    ]);
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: TASK_QUEUE,
      workflowsPath: fileURLToPath(new URL('../support/email-event-recorder.ts', import.meta.url)),
      dataConverter: testDataConverter(),
    });
    running = worker.run();
    events = new SendgridEvents({ client: env.client, models: db.models, logger: quiet, upstreamTimeoutMs: 10_000, defaultTimezone: 'America/New_York' });
  });
  after(async () => {
    worker?.shutdown();
    await running?.catch(() => undefined);
    await env?.teardown();
    await db?.teardown();
  });

  const key = (userId: string, campaignId = 'welcome', occurrence = 1) => `customer-${userId}/${campaignId}/${occurrence}`;
  /** The delivery record the worker writes when it sends (what makes a key one of ours). */
  const delivered = async (userId: string, campaignId = 'welcome', occurrence = 1) => {
    await db.models.Delivery.create({
      _id: key(userId, campaignId, occurrence),
      userId,
      campaignId,
      occurrence,
      kind: 'marketing',
      template: campaignId,
      definitionVersion: 'v1',
      status: 'sent',
      provider: 'sendgrid',
      attempts: 1,
    });
  };
  /**
   * The signals a journey got, in order, once it has run at least `count` and every signal its history
   * holds. A signal that comes while a workflow task runs is buffered by the server and enters the history
   * only when that task completes, and a query may be answered before the workflow has run what the history
   * holds, so the two are read together until they agree.
   */
  const receivedBy = async (workflowId: string, count: number) => {
    const handle = env.client.workflow.getHandle(workflowId);
    let last: EmailEvent[] = [];
    return waitFor(`the journey to run ${count} signals`, async () => {
      last = await handle.query(receivedEmailEventsQuery);
      const signalled = ((await handle.fetchHistory()).events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes).length;
      return last.length >= count && last.length === signalled ? last : undefined;
    }).catch((err: Error) => {
      throw new Error(`${err.message}; it had run ${JSON.stringify(last.map((e) => e.id))}`);
    });
  };
  const journey = async (userId: string) => {
    const handle = await env.client.workflow.start('emailEventRecorder', { workflowId: `customer-${userId}`, taskQueue: TASK_QUEUE });
    return { received: (count: number) => receivedBy(handle.workflowId, count), handle };
  };
  /** One event as SendGrid posts it, about the message with this delivery key. */
  const sg = (deliveryKey: string | undefined, event: SendgridEventKind, at: number, eventId: string, over: Record<string, unknown> = {}) => ({
    ...sendgridEvent({
      message: { id: 'msg', to: 'ada@example.com', categories: ['lifecycle'], customArgs: deliveryKey === undefined ? {} : { delivery_key: deliveryKey, user_id: 'x', campaign_id: 'y' } },
      event,
      at,
      eventId,
    }),
    ...over,
  });

  test('a batch: each event matched, stored and marked on its delivery; the journey told ids and types in time order; what is not ours ignored', async () => {
    await db.models.Customer.create({ _id: 'ada', email: 'ada@example.com', timezone: 'Europe/Berlin', traits: {} });
    await delivered('ada');
    const ada = await journey('ada');
    const batch = [
      sg(key('ada'), 'click', T + 10 * MINUTE, 'ada-click'),
      sg(key('ada'), 'delivered', T + MINUTE, 'ada-delivered'),
      sg(key('ada'), 'open', T + 5 * MINUTE, 'ada-open'),
      sg(key('ada'), 'processed', T, 'ada-processed'),
      sg(undefined, 'delivered', T, 'someone-elses'),
      sg(key('ada', 'nudge'), 'delivered', T, 'never-sent'),
      sg('order-17', 'delivered', T, 'not-a-key'),
      { ...sg(key('ada'), 'delivered', T, 'resubscribed'), event: 'group_resubscribe' },
    ];
    assert.deepEqual(await events.apply(batch), { received: 8, applied: 4, duplicates: 0, ignored: 4, orphaned: 0 });

    const told: EmailEvent[] = [
      { id: 'ada-delivered', type: 'delivered', deliveryKey: key('ada'), at: T + MINUTE },
      { id: 'ada-open', type: 'open', deliveryKey: key('ada'), at: T + 5 * MINUTE, localHour: 18, machine: false },
      { id: 'ada-click', type: 'click', deliveryKey: key('ada'), at: T + 10 * MINUTE, localHour: 18 },
    ];
    assert.deepEqual(await ada.received(told.length), told, 'processed is not signalled; the hour is Berlin’s');

    const stored = await db.models.EmailEvent.find({}).sort({ _id: 1 }).lean();
    assert.deepEqual(
      stored.map(({ _id, userId, deliveryKey, type, at, status, localHour }) => [_id, userId, deliveryKey, type, new Date(at).getTime(), status, localHour ?? null]),
      [
        ['ada-click', 'ada', key('ada'), 'click', T + 10 * MINUTE, 'signalled', 18],
        ['ada-delivered', 'ada', key('ada'), 'delivered', T + MINUTE, 'signalled', null],
        ['ada-open', 'ada', key('ada'), 'open', T + 5 * MINUTE, 'signalled', 18],
        ['ada-processed', 'ada', key('ada'), 'processed', T, 'recorded', null],
      ],
    );
    const text = JSON.stringify(stored);
    for (const personal of ['ada@example.com', '203.0.113.7', 'Mozilla', 'coachinglive.example']) assert.ok(!text.includes(personal), personal);

    const delivery = await db.models.Delivery.findById(key('ada')).lean();
    assert.deepEqual([delivery!.lastEvent, new Date(delivery!.lastEventAt!).getTime(), [...delivery!.events!].sort()], ['click', T + 10 * MINUTE, ['click', 'delivered', 'open', 'processed']]);
  });

  test('SendGrid sending the batch again applies nothing twice; a repeat inside one batch neither', async () => {
    const ada = { received: (count: number) => receivedBy('customer-ada', count) };
    const again = [sg(key('ada'), 'click', T + 10 * MINUTE, 'ada-click'), sg(key('ada'), 'delivered', T + MINUTE, 'ada-delivered'), sg(key('ada'), 'processed', T, 'ada-processed')];
    assert.deepEqual(await events.apply(again), { received: 3, applied: 0, duplicates: 3, ignored: 0, orphaned: 0 });
    const twice = sg(key('ada'), 'open', T + 20 * MINUTE, 'ada-open-2');
    assert.deepEqual(await events.apply([twice, twice]), { received: 2, applied: 1, duplicates: 1, ignored: 0, orphaned: 0 });
    assert.deepEqual((await ada.received(4)).map((e) => e.id), ['ada-delivered', 'ada-open', 'ada-click', 'ada-open-2']);
    assert.equal(await db.models.EmailEvent.countDocuments({ userId: 'ada' }), 5);
  });

  test('events that come late do not move the delivery’s latest event back; a privacy proxy’s open is kept, not told; no zone: the definition’s default', async () => {
    await delivered('bea');
    const bea = await journey('bea'); // no profile: no time zone, so the definition's default (America/New_York here)
    const counts = { received: 1, applied: 1, duplicates: 0, ignored: 0, orphaned: 0 };
    assert.deepEqual(await events.apply([sg(key('bea'), 'open', T + 30 * MINUTE, 'bea-machine-open', { sg_machine_open: true })]), counts);
    assert.deepEqual(await events.apply([sg(key('bea'), 'delivered', T + MINUTE, 'bea-delivered')]), counts);
    assert.deepEqual(await events.apply([sg(key('bea'), 'open', T + 40 * MINUTE, 'bea-open')]), counts);
    assert.deepEqual(await bea.received(2), [
      { id: 'bea-delivered', type: 'delivered', deliveryKey: key('bea'), at: T + MINUTE },
      { id: 'bea-open', type: 'open', deliveryKey: key('bea'), at: T + 40 * MINUTE, localHour: 12, machine: false },
    ]);
    const machine = await db.models.EmailEvent.findById('bea-machine-open').lean();
    assert.deepEqual([machine!.status, machine!.machine, machine!.localHour], ['recorded', true, 12]);
    const delivery = await db.models.Delivery.findById(key('bea')).lean();
    assert.deepEqual([delivery!.lastEvent, new Date(delivery!.lastEventAt!).getTime(), [...delivery!.events!].sort()], ['open', T + 40 * MINUTE, ['delivered', 'open']]);
    assert.deepEqual(await events.apply([sg(key('bea'), 'processed', T, 'bea-processed')]), counts);
    assert.equal((await db.models.Delivery.findById(key('bea')).lean())!.lastEvent, 'open', 'an earlier event arriving late does not become the latest');
  });

  test('a message whose journey no longer runs: the event is stored as orphaned and the batch still succeeds', async () => {
    await delivered('cy');
    await delivered('dee');
    const dee = await journey('dee');
    await dee.handle.terminate('test: the journey ended');
    const batch = [sg(key('cy'), 'delivered', T, 'cy-delivered'), sg(key('dee'), 'bounce', T, 'dee-bounce')];
    assert.deepEqual(await events.apply(batch), { received: 2, applied: 0, duplicates: 0, ignored: 0, orphaned: 2 });
    assert.deepEqual((await db.models.EmailEvent.find({ _id: { $in: ['cy-delivered', 'dee-bounce'] } }).sort({ _id: 1 }).lean()).map((e) => [e._id, e.type, e.status]), [
      ['cy-delivered', 'delivered', 'orphaned'],
      ['dee-bounce', 'bounce', 'orphaned'],
    ]);
    assert.deepEqual(await events.apply(batch), { received: 2, applied: 0, duplicates: 2, ignored: 0, orphaned: 0 });
  });

  test('Temporal unreachable: UpstreamUnavailable, the event stays received; SendGrid’s retry tells the journey, once', async () => {
    await delivered('eve');
    const eve = await journey('eve');
    const connection = Connection.lazy({ address: `127.0.0.1:${await freePort()}` });
    const unreachable = new SendgridEvents({ client: new Client({ connection, dataConverter: testDataConverter() }), models: db.models, logger: quiet, upstreamTimeoutMs: 1_500 });
    const batch = [sg(key('eve'), 'delivered', T, 'eve-delivered'), sg(key('eve'), 'click', T + MINUTE, 'eve-click')];
    try {
      await assert.rejects(unreachable.apply(batch), (err: unknown) => err instanceof UpstreamUnavailable && err.upstream === 'temporal');
    } finally {
      await connection.close().catch(() => undefined);
    }
    assert.deepEqual((await db.models.EmailEvent.find({ userId: 'eve' }).lean()).map((e) => [e._id, e.status]), [['eve-delivered', 'received']], 'stored, not yet told; the batch stopped there');
    assert.deepEqual(await eve.received(0), []);

    assert.deepEqual(await events.apply(batch), { received: 2, applied: 2, duplicates: 0, ignored: 0, orphaned: 0 });
    assert.deepEqual((await eve.received(2)).map((e) => e.id), ['eve-delivered', 'eve-click']);
    assert.deepEqual((await db.models.EmailEvent.find({ userId: 'eve' }).sort({ _id: 1 }).lean()).map((e) => [e._id, e.status]), [
      ['eve-click', 'signalled'],
      ['eve-delivered', 'signalled'],
    ]);
  });

  test('MongoDB unreachable: UpstreamUnavailable, nothing told', async () => {
    await delivered('fay');
    const fay = await journey('fay');
    await db.stopServer();
    await assert.rejects(events.apply([sg(key('fay'), 'delivered', T, 'fay-delivered')]), (err: unknown) => err instanceof UpstreamUnavailable && err.upstream === 'mongodb');
    assert.deepEqual(await fay.received(0), []);
    assert.deepEqual(await events.apply([sg(undefined, 'delivered', T, 'nothing-to-look-up')]), { received: 1, applied: 0, duplicates: 0, ignored: 1, orphaned: 0 }, 'a batch of events that are not ours needs no database');
  });
});
